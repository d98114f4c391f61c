// Profile: where `ingest-file` of one Parquet file spends its time, statement by statement.
// Run: npx tsx bench/profile-ingest-file.ts [daily|history] [reps]
import { join } from 'node:path';
import { sqlString } from '../src/core/sql.js';
import type { Lake } from '../src/storage/lake.js';
import { benchFileIngestor, makeInput } from './support/ingest-file-input.js';
import { benchSymbols } from './support/synthetic-market.js';
import { openBenchLake } from './support/temp-lake.js';

const shape = process.argv[2] ?? 'daily';
const reps = Number(process.argv[3] ?? 2);
const [nSym, bars] = shape === 'daily' ? [5128, 390] : [500, 4000];

const data = await openBenchLake();
const symbols = benchSymbols(nSym);
const file = await makeInput(data, symbols, bars, 'parquet');

const log: { what: string; ms: number; cpu: number }[] = [];
function timed<A extends unknown[], R>(what: string, fn: (sql: string, ...rest: A) => Promise<R>): (sql: string, ...rest: A) => Promise<R> {
  return async (sql, ...rest) => {
    const t0 = performance.now();
    const c0 = process.cpuUsage();
    try {
      return await fn(sql, ...rest);
    } finally {
      const c = process.cpuUsage(c0);
      log.push({ what: `${what}: ${sql.replace(/\s+/g, ' ').slice(0, 90)}`, ms: performance.now() - t0, cpu: (c.user + c.system) / 1000 });
    }
  };
}
function wrap(lake: Lake): void {
  lake.run = timed('run', lake.run.bind(lake));
  lake.query = timed('query', lake.query.bind(lake)) as Lake['query'];
}

for (let r = 0; r < reps; r++) {
  const bl = await openBenchLake();
  wrap(bl.lake);
  log.length = 0;
  const ing = benchFileIngestor(bl.lake, symbols);
  const t0 = performance.now();
  const cpu0 = process.cpuUsage();
  const c = await ing.checkFile(file);
  const t1 = performance.now();
  const res = await ing.writeFile(c);
  const t2 = performance.now();
  const cpu = process.cpuUsage(cpu0);
  const inSql = log.reduce((n, l) => n + l.ms, 0);
  console.log(`rep ${r + 1}: check ${(t1 - t0).toFixed(0)} ms, write ${(t2 - t1).toFixed(0)} ms, total ${(t2 - t0).toFixed(0)} ms, cpu ${((cpu.user + cpu.system) / 1000).toFixed(0)} ms (${res.rows} rows, ${res.dates.length} dates); in SQL ${inSql.toFixed(0)} ms`);
  for (const l of log) if (l.ms > 5) console.log(`  ${l.ms.toFixed(0).padStart(6)} ms cpu ${l.cpu.toFixed(0).padStart(6)} ms  ${l.what}`);
  await bl.dispose();
}
for (let r = 0; r < 2; r++) {
  const t0 = performance.now();
  const c0 = process.cpuUsage();
  await data.lake.run(`COPY (SELECT * FROM read_parquet(${sqlString(file)})) TO ${sqlString(join(data.dir, 'copy.parquet'))} (FORMAT parquet, COMPRESSION zstd)`);
  const c = process.cpuUsage(c0);
  console.log(`plain COPY ${(performance.now() - t0).toFixed(0)} ms, cpu ${((c.user + c.system) / 1000).toFixed(0)} ms`);
}
await data.dispose();
