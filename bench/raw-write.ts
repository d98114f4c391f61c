// Benchmark: the raw write path (backfill pages through the group committer, live flushes and
// one batch through RawStore.writeTwsBars) against DuckDB writing the same rows from an
// in-memory table to the same Hive-partitioned Parquet layout in one COPY.
// Run: npx tsx bench/raw-write.ts [--size quick|full]
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { BarEvent } from '../src/core/bars.js';
import { sqlString } from '../src/core/sql.js';
import type { Lake } from '../src/storage/lake.js';
import { SystemClock } from '../src/core/clock.js';
import { DEFAULT_GROUP_COMMIT, RawBatchWriter } from '../src/storage/raw-batch-writer.js';
import { RAW_DATASET, RawStore } from '../src/storage/raw-store.js';
import { RAW_BARS } from '../src/storage/tables/raw-bars.js';
import { benchMain, median, progress, round, RssSampler, type BenchResult } from './support/bench-harness.js';
import { benchCalendars, benchSessions, benchSymbols, sessionBars } from './support/synthetic-market.js';
import { openBenchLake } from './support/temp-lake.js';

const REPS = 3;
const INGESTION_TS = Date.parse('2024-03-04T21:00:00Z');

interface Variant {
  name: string;
  description: string;
  batches: BarEvent[][];
  /** Through the group committer with the default policy (as the backfill writes), not one commit per batch. */
  grouped?: boolean;
}

/** Loads the rows into an in-memory DuckDB table (not timed): the bound starts from there. */
async function stageRows(lake: Lake, variant: Variant): Promise<string> {
  const events = variant.batches.flat();
  const batchOf = variant.batches.flatMap((b, k) => b.map(() => k));
  const n = events.length;
  const col = <K extends keyof BarEvent>(k: K): unknown[] => events.map((e) => e[k]);
  return lake.stage(
    [...RAW_BARS.columns, { name: 'date', type: 'VARCHAR' }, { name: 'batch_no', type: 'INTEGER' }],
    {
      source: col('source'),
      symbol: col('symbol'),
      con_id: col('conId'),
      what_to_show: col('whatToShow'),
      ts: col('ts'),
      open: col('open'),
      high: col('high'),
      low: col('low'),
      close: col('close'),
      volume: col('volume'),
      wap: col('wap'),
      trade_count: col('tradeCount'),
      batch_id: batchOf.map((k) => `bound-${k}`),
      ingestion_ts: new Array<number>(n).fill(INGESTION_TS),
      request_id: col('requestId'),
      date: new Array<string>(n).fill('2024-03-04'),
      batch_no: batchOf,
    },
    n,
  );
}

const FILE_COLUMNS = RAW_BARS.select;

/** The bound: one COPY … PARTITION_BY of every row, sorted as ibpipe sorts its files. */
async function boundOneCopy(lake: Lake, table: string, root: string): Promise<number> {
  mkdirSync(join(root, 'raw'), { recursive: true });
  const t0 = performance.now();
  await lake.run(
    `COPY (SELECT ${FILE_COLUMNS}, '1min' AS bar_size, date FROM ${table} ORDER BY symbol, ts)
     TO ${sqlString(join(root, 'raw', RAW_DATASET))} (FORMAT parquet, COMPRESSION zstd, PARTITION_BY (bar_size, date))`,
  );
  return (performance.now() - t0) / 1000;
}

/** The same COPY issued once per ingestion batch (what a file per batch costs DuckDB alone). */
async function boundPerBatch(lake: Lake, table: string, root: string, batches: number): Promise<number> {
  const dir = join(root, 'raw', RAW_DATASET, 'bar_size=1min', 'date=2024-03-04');
  mkdirSync(dir, { recursive: true });
  const t0 = performance.now();
  for (let k = 0; k < batches; k++) {
    await lake.run(
      `COPY (SELECT ${FILE_COLUMNS} FROM ${table} WHERE batch_no = ${k} ORDER BY symbol, ts)
       TO ${sqlString(join(dir, `batch-${k}.parquet`))} (FORMAT parquet, COMPRESSION zstd)`,
    );
  }
  return (performance.now() - t0) / 1000;
}

async function runIbpipe(variant: Variant, symbols: readonly string[], rss: RssSampler): Promise<{ seconds: number; commits: number }> {
  const bl = await openBenchLake();
  try {
    const store = new RawStore(bl.lake, benchCalendars(symbols));
    let k = 0;
    const t0 = performance.now();
    let commits = 0;
    if (variant.grouped) {
      const writer = new RawBatchWriter(store, new SystemClock(), DEFAULT_GROUP_COMMIT);
      const committed: Promise<unknown>[] = [];
      for (const batch of variant.batches) {
        committed.push((await writer.submit({ batchId: `${variant.name}-${k++}`, events: batch })).committed);
        rss.sample();
      }
      await writer.flush();
      await Promise.all(committed);
      commits = writer.commits;
    } else {
      for (const batch of variant.batches) {
        await store.writeTwsBars(batch, `${variant.name}-${k++}`, INGESTION_TS);
        rss.sample();
      }
      commits = variant.batches.length;
    }
    return { seconds: (performance.now() - t0) / 1000, commits };
  } finally {
    await bl.dispose();
  }
}

async function runBounds(variant: Variant): Promise<{ one: number; perBatch: number | null }> {
  const bl = await openBenchLake();
  try {
    const table = await stageRows(bl.lake, variant);
    const one = await boundOneCopy(bl.lake, table, join(bl.dir, 'one'));
    const perBatch = variant.batches.length > 1 ? await boundPerBatch(bl.lake, table, join(bl.dir, 'per-batch'), variant.batches.length) : null;
    return { one, perBatch };
  } finally {
    await bl.dispose();
  }
}

benchMain(async ({ size }) => {
  const nSymbols = size === 'full' ? 500 : 50;
  const symbols = benchSymbols(nSymbols);
  const [session] = benchSessions(1);
  if (!session) throw new Error('no session');
  const pages = symbols.map((s, i) => sessionBars(s, i, session));
  const allRows = pages.reduce((n, p) => n + p.length, 0);
  // A live flush holds every symbol's final bar of one minute (flush_interval 5 s, bars final once a minute).
  const minutes = new Map<number, BarEvent[]>();
  for (const p of pages) for (const b of p) (minutes.get(b.ts) ?? minutes.set(b.ts, []).get(b.ts))?.push(b);
  const liveBatches = [...minutes.values()].slice(0, size === 'full' ? undefined : 120);
  const variants: Variant[] = [
    {
      name: 'backfill-pages',
      description: `${pages.length} pages of one symbol-session (${pages[0]?.length ?? 0} rows) through the group committer (groups of up to ${DEFAULT_GROUP_COMMIT.maxRows.toLocaleString('en-US')} rows), as the backfill writes`,
      batches: pages,
      grouped: true,
    },
    // Quick keeps the first two hours of flushes: the per-batch cost is what this variant shows.
    { name: 'live-flushes', description: `${liveBatches.length} batches of one minute of every symbol (${nSymbols} rows), as live flushes write`, batches: liveBatches },
    { name: 'one-batch', description: `all ${allRows} rows in one batch (the code path without per-batch costs)`, batches: [pages.flat()] },
  ];

  const results: BenchResult[] = [];
  for (const v of variants) {
    const rows = v.batches.reduce((n, b) => n + b.length, 0);
    const times: number[] = [];
    let commits = 0;
    const bounds: number[] = [];
    const perBatch: number[] = [];
    const rss = new RssSampler().start();
    for (let r = 0; r < REPS; r++) {
      const run = await runIbpipe(v, symbols, rss);
      times.push(run.seconds);
      commits = run.commits;
      progress(`raw-write/${v.name} rep ${r + 1}: ${times.at(-1)?.toFixed(2)} s`);
    }
    const peak = rss.stop();
    for (let r = 0; r < REPS; r++) {
      const b = await runBounds(v);
      bounds.push(b.one);
      if (b.perBatch !== null) perBatch.push(b.perBatch);
      progress(`raw-write/${v.name} bound rep ${r + 1}: one COPY ${b.one.toFixed(3)} s${b.perBatch !== null ? `, COPY per batch ${b.perBatch.toFixed(2)} s` : ''}`);
    }
    const t = median(times);
    const tb = median(bounds);
    const ratio = tb / t;
    const perBatchRate = perBatch.length ? rows / median(perBatch) : null;
    results.push({
      name: `raw-write/${v.name}`,
      rows,
      rows_per_s: round(rows / t),
      bound_rows_per_s: round(rows / tb),
      ratio: round(ratio),
      peak_rss_mb: round(peak) ?? 0,
      // A live flush is one minute of every symbol, written as it comes: its figure is the cost
      // per flush (ms_per_batch), not a throughput the day's rows at once could reach.
      target: v.name === 'live-flushes' ? '— (per-flush cost)' : '>= 0.5 of bound',
      met: v.name === 'live-flushes' ? null : ratio >= 0.5,
      notes:
        `${v.description}; bound: one COPY ... PARTITION_BY (bar_size, date) of the rows from an in-memory table, sorted by (symbol, ts)` +
        (perBatchRate !== null ? `; DuckDB alone with one COPY per batch: ${Math.round(perBatchRate).toLocaleString('en-US')} rows/s` : ''),
      reps: REPS,
      seconds: round(t),
      bound_seconds: round(tb),
      metrics: {
        batches: v.batches.length,
        commits,
        ms_per_batch: round((t * 1000) / v.batches.length),
        ms_per_commit: round((t * 1000) / commits),
        bound_per_batch_rows_per_s: round(perBatchRate),
        ratio_to_per_batch_bound: perBatchRate === null ? null : round(rows / t / perBatchRate),
      },
    });
  }
  return results;
});
