// Child process for the stale temporary file test: starts one long atomic Parquet write into a
// raw partition and prints "start", so the parent can find its hidden temporary file and kill it.
import { Lake } from '../../src/storage/lake.js';

const [dir, rows] = process.argv.slice(2) as [string, string];
const lake = await Lake.open({ root: dir, threads: 1 });
const file = lake.path('raw', 'tws_bars', 'bar_size=1min', 'date=2024-11-26', 'batch-slow.parquet');
process.stdout.write('start\n');
await lake.writeParquetAtomic(file, `SELECT i, random() AS a, random() AS b, md5(i::VARCHAR) AS c FROM range(${Number(rows)}) t(i)`);
process.stdout.write('done\n');
await lake.close();
