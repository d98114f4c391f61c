// Benchmark: `ibpipe ingest-file` (FileIngestor: hash, strict checks, write through
// RawStore.writeRelation) of one 2M-row Parquet file, against one plain DuckDB COPY of the same
// file measured in the same run: a daily drop (one session of a large universe) and a history
// file (11 sessions of 500 symbols). A CSV of the history rows is a breakdown row (no target).
// Run: npx tsx bench/ingest-file.ts [--size quick|full]
import { join } from 'node:path';
import { sqlString } from '../src/core/sql.js';
import { benchMain, median, progress, round, RssSampler, type BenchResult } from './support/bench-harness.js';
import { benchFileIngestor, makeInput } from './support/ingest-file-input.js';
import { benchSymbols } from './support/synthetic-market.js';
import { openBenchLake } from './support/temp-lake.js';

const REPS = 3;
const TARGET_ROWS_PER_S = 1_000_000;

async function ingestOnce(input: string, symbols: readonly string[], rss: RssSampler): Promise<{ seconds: number; check: number; rows: number; dates: number }> {
  const bl = await openBenchLake();
  try {
    const ingestor = benchFileIngestor(bl.lake, symbols);
    const t0 = performance.now();
    const checked = await ingestor.checkFile(input);
    const check = (performance.now() - t0) / 1000;
    rss.sample();
    const res = await ingestor.writeFile(checked);
    const seconds = (performance.now() - t0) / 1000;
    rss.sample();
    return { seconds, check, rows: res.rows, dates: res.dates.length };
  } finally {
    await bl.dispose();
  }
}

async function plainCopy(input: string, reader: string): Promise<number> {
  const bl = await openBenchLake();
  try {
    const t0 = performance.now();
    await bl.lake.run(`COPY (SELECT * FROM ${reader}(${sqlString(input)})) TO ${sqlString(join(bl.dir, 'copy.parquet'))} (FORMAT parquet, COMPRESSION zstd)`);
    return (performance.now() - t0) / 1000;
  } finally {
    await bl.dispose();
  }
}

interface Shape {
  readonly name: string;
  readonly symbols: number;
  readonly bars: number;
  readonly format: 'parquet' | 'csv';
  readonly target: boolean;
}

benchMain(async ({ size }) => {
  const scale = size === 'full' ? 1 : 0.1;
  const shapes: Shape[] = [
    // 5,128 x 390 = 1,999,920 rows: one session of a large universe, as a vendor's daily file.
    { name: 'parquet-daily', symbols: Math.round(5128 * scale), bars: 390, format: 'parquet', target: true },
    // 500 x 4,000 = 2,000,000 rows over 11 sessions: a history file, one date partition each.
    { name: 'parquet-history', symbols: Math.round(500 * scale), bars: 4000, format: 'parquet', target: true },
    { name: 'csv-history', symbols: Math.round(500 * scale), bars: 4000, format: 'csv', target: false },
  ];
  const data = await openBenchLake();
  const results: BenchResult[] = [];
  try {
    for (const shape of shapes) {
      const symbols = benchSymbols(shape.symbols);
      const input = await makeInput(data, symbols, shape.bars, shape.format);
      const rows = symbols.length * shape.bars;
      const rss = new RssSampler().start();
      const runs: Awaited<ReturnType<typeof ingestOnce>>[] = [];
      for (let r = 0; r < REPS; r++) {
        runs.push(await ingestOnce(input, symbols, rss));
        progress(`ingest-file/${shape.name} rep ${r + 1}: ${runs.at(-1)?.seconds.toFixed(2)} s (check ${runs.at(-1)?.check.toFixed(2)} s)`);
      }
      const peak = rss.stop();
      const bounds: number[] = [];
      for (let r = 0; r < REPS; r++) {
        bounds.push(await plainCopy(input, shape.format === 'csv' ? 'read_csv' : 'read_parquet'));
        progress(`ingest-file/${shape.name} plain COPY rep ${r + 1}: ${bounds.at(-1)?.toFixed(2)} s`);
      }
      if (runs.some((x) => x.rows !== rows)) throw new Error(`ingest-file wrote ${runs.map((x) => x.rows).join(', ')} rows, expected ${rows}`);
      const t = median(runs.map((x) => x.seconds));
      const tb = median(bounds);
      const rate = rows / t;
      results.push({
        name: `ingest-file/${shape.name}`,
        rows,
        rows_per_s: round(rate),
        bound_rows_per_s: round(rows / tb),
        ratio: round(tb / t),
        peak_rss_mb: round(peak) ?? 0,
        target: shape.target ? `>= ${TARGET_ROWS_PER_S.toLocaleString('en-US')} rows/s` : '— (breakdown)',
        met: shape.target ? rate >= TARGET_ROWS_PER_S : null,
        notes:
          `${symbols.length} symbols x ${shape.bars} one-minute bars in one ${shape.format.toUpperCase()} file in (symbol, ts) order, ${runs[0]?.dates ?? 0} session date(s): ` +
          `hash + strict checks (${round(median(runs.map((x) => x.check)))} s) + one file per date in (symbol, ts) order; bound: one plain COPY of the same file to Parquet`,
        reps: REPS,
        seconds: round(t),
        bound_seconds: round(tb),
        metrics: { check_seconds: round(median(runs.map((x) => x.check))), dates: runs[0]?.dates ?? 0 },
      });
    }
  } finally {
    await data.dispose();
  }
  return results;
});
