// Benchmark: runFeaturePipeline with the technical feature group (issue 7's example) over every
// symbol and date (curated → features), against DuckDB window functions (SMA, Bollinger std,
// volatility, lags) over the same curated files written to the same layout; plus rows/s per
// feature family (compute only).
// Run: npx tsx bench/features.ts [--size quick|full]
import { mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { ManualClock } from '../src/core/clock.js';
import { sqlString } from '../src/core/sql.js';
import { CURATED_MASK_COLUMNS } from '../src/core/bars.js';
import { silentLogger } from '../src/ops/logging-setup.js';
import { runFeaturePipeline } from '../src/pipelines/feature-pipeline.js';
import { computeFeatureGroup, type ComputableFeatureGroup } from '../src/pipelines/features/compute-feature-group.js';
import { specOutputColumns, type FeatureSpec } from '../src/pipelines/features/feature-config.js';
import { TECHNICAL } from './support/technical-group.js';
import { resolveSourceDataset } from '../src/pipelines/source-dataset.js';
import { CuratedStore } from '../src/storage/curated-store.js';
import { FeatureStore } from '../src/storage/feature-store.js';
import type { Lake } from '../src/storage/lake.js';
import { benchMain, median, progress, round, RssSampler, type BenchResult } from './support/bench-harness.js';
import { benchCalendars, benchSessions, benchSymbols, MINUTE, symbolSeries, type SymbolSeries } from './support/synthetic-market.js';
import { openBenchLake } from './support/temp-lake.js';

const REPS = 3;


const W20 = 'w20 AS (PARTITION BY symbol ORDER BY ts ROWS BETWEEN 19 PRECEDING AND CURRENT ROW)';
const PART = 'p AS (PARTITION BY symbol ORDER BY ts)';

/** DuckDB window-function forms of the families that have one (recursive ones — EMA, RSI, MACD, ATR — have none). */
const SQL_FAMILIES: Partial<Record<FeatureSpec['fn'], { select: string; from?: string }>> = {
  sma: { select: `CASE WHEN count(close) OVER w20 = 20 THEN avg(close) OVER w20 END AS sma_20` },
  bollinger: {
    select: `CASE WHEN count(close) OVER w20 = 20 THEN avg(close) OVER w20 - 2 * stddev_pop(close) OVER w20 END AS bb_20_lower,
             CASE WHEN count(close) OVER w20 = 20 THEN avg(close) OVER w20 END AS bb_20_mid,
             CASE WHEN count(close) OVER w20 = 20 THEN avg(close) OVER w20 + 2 * stddev_pop(close) OVER w20 END AS bb_20_upper`,
  },
  rolling_volatility: {
    select: `CASE WHEN count(lr) OVER w20 = 20 THEN stddev_samp(lr) OVER w20 END AS vol_20`,
    from: `(SELECT *, ln(close / lag(close) OVER p) AS lr FROM {t} WINDOW ${PART})`,
  },
  lag: { select: `lag(close, 1) OVER p AS close_lag_1, lag(close, 5) OVER p AS close_lag_5, lag(close, 10) OVER p AS close_lag_10` },
};

/** Every window-expressible column of the group in one statement (the bound's work). */
function boundSelect(table: string): string {
  const selects = Object.values(SQL_FAMILIES).map((f) => f.select).join(',\n');
  const from = SQL_FAMILIES.rolling_volatility?.from?.replace('{t}', table) ?? table;
  return `SELECT symbol, ts, date, ${selects} FROM ${from} WINDOW ${W20}, ${PART}`;
}

interface Universe {
  symbols: string[];
  series: SymbolSeries[];
  dates: string[];
  rows: number;
  rowsPerDate: number;
}

/** The ibpipe path: runFeaturePipeline over every date in one pass (read curated, compute, write). */
async function runIbpipe(u: Universe, lake: Lake, store: FeatureStore, rss: RssSampler): Promise<{ total: number; write: number }> {
  let write = 0;
  const original = store.writeFeaturesFromRelation.bind(store);
  store.writeFeaturesFromRelation = async (w, relation) => {
    const t = performance.now();
    try {
      return await original(w, relation);
    } finally {
      write += (performance.now() - t) / 1000;
      rss.sample();
    }
  };
  try {
    const t0 = performance.now();
    const res = await runFeaturePipeline(u.dates, u.symbols, TECHNICAL, TECHNICAL.version, {
      lake,
      featureStore: store,
      logger: silentLogger(),
      source: resolveSourceDataset(TECHNICAL.source),
    });
    const total = (performance.now() - t0) / 1000;
    if (res.rowsWritten !== u.rows) throw new Error(`runFeaturePipeline wrote ${res.rowsWritten} rows, expected ${u.rows}`);
    return { total, write };
  } finally {
    store.writeFeaturesFromRelation = original;
  }
}

/** The curated partitions the pipeline reads, one file per date as the transform writes them (not timed). */
async function writeCurated(lake: Lake, table: string, dates: readonly string[]): Promise<string[]> {
  const curated = new CuratedStore(lake);
  const masks = CURATED_MASK_COLUMNS.map((c) => `false AS ${c}_imputed`).join(', ');
  const files: string[] = [];
  for (const date of dates) {
    const file = curated.partitionFile('bars_1min', date);
    await lake.writeParquetAtomic(
      file,
      `SELECT symbol, ts, open, high, low, close, volume, (high + low + close) / 3 AS wap, CAST(volume / 20 AS BIGINT) AS trade_count,
              false AS is_imputed, CAST(NULL AS VARCHAR) AS imputation, ${masks}
       FROM ${table} WHERE date = ${sqlString(date)} ORDER BY symbol, ts`,
    );
    files.push(file);
  }
  return files;
}

/** Loads the same rows into an in-memory DuckDB table (not timed). */
async function stageSeries(lake: Lake, u: Universe): Promise<string> {
  const symbol = new Array<string>(u.rows);
  const ts = new Float64Array(u.rows);
  const date = new Array<string>(u.rows);
  const cols = { open: new Float64Array(u.rows), high: new Float64Array(u.rows), low: new Float64Array(u.rows), close: new Float64Array(u.rows), volume: new Float64Array(u.rows) };
  let j = 0;
  u.series.forEach((s, k) => {
    for (let i = 0; i < s.ts.length; i++, j++) {
      symbol[j] = u.symbols[k] as string;
      ts[j] = s.ts[i] as number;
      date[j] = s.sessionDate[i] as string;
      for (const c of ['open', 'high', 'low', 'close', 'volume'] as const) cols[c][j] = s[c][i] as number;
    }
  });
  return lake.stage(
    [
      { name: 'symbol', type: 'VARCHAR' },
      { name: 'ts', type: 'TIMESTAMPTZ' },
      { name: 'date', type: 'VARCHAR' },
      ...(['open', 'high', 'low', 'close', 'volume'] as const).map((name) => ({ name, type: 'DOUBLE' as const })),
    ],
    { symbol, ts, date, ...cols },
    u.rows,
  );
}

async function timed(fn: () => Promise<unknown> | unknown): Promise<number> {
  const t0 = performance.now();
  await fn();
  return (performance.now() - t0) / 1000;
}

benchMain(async ({ size }) => {
  const nSymbols = size === 'full' ? 500 : 100;
  const nSessions = size === 'full' ? 20 : 4;
  const symbols = benchSymbols(nSymbols);
  const sessions = benchSessions(nSessions);
  const series = symbols.map((_, i) => symbolSeries(i, sessions));
  const rowsPerDate = nSymbols * ((sessions[0] as { open: number; close: number }).close - (sessions[0] as { open: number }).open) / MINUTE;
  const u: Universe = { symbols, series, dates: sessions.map((s) => s.date), rows: series.reduce((n, s) => n + s.ts.length, 0), rowsPerDate };
  if (u.rows !== rowsPerDate * nSessions) throw new Error('sessions must all have the same length');
  progress(`features: ${nSymbols} symbols x ${nSessions} sessions = ${u.rows} rows`);

  const bl = await openBenchLake();
  try {
    const { lake } = bl;
    const store = new FeatureStore(lake, benchCalendars(symbols), new ManualClock(Date.parse('2024-06-01T00:00:00Z')));
    const results: BenchResult[] = [];
    const table = await stageSeries(lake, u);
    const curatedFiles = await writeCurated(lake, table, u.dates);

    // The group end to end.
    const totals: number[] = [];
    const writes: number[] = [];
    const rss = new RssSampler().start();
    for (let r = 0; r < REPS; r++) {
      rmSync(lake.path('features'), { recursive: true, force: true });
      const t = await runIbpipe(u, lake, store, rss);
      totals.push(t.total);
      writes.push(t.write);
      progress(`features rep ${r + 1}: ${t.total.toFixed(2)} s (feature-store writes ${t.write.toFixed(2)} s)`);
    }
    const peak = rss.stop();

    // The bound reads the same curated files and writes the same date-partitioned layout.
    const source = `(SELECT symbol, ts, CAST(date AS VARCHAR) AS date, open, high, low, close, volume FROM read_parquet([${curatedFiles.map(sqlString).join(', ')}], hive_partitioning = true))`;
    const boundDir = join(bl.dir, 'bound');
    const bounds: number[] = [];
    for (let r = 0; r < REPS; r++) {
      rmSync(boundDir, { recursive: true, force: true });
      mkdirSync(boundDir, { recursive: true });
      bounds.push(
        await timed(() =>
          lake.run(`COPY (${boundSelect(source)} ORDER BY symbol, ts) TO ${sqlString(boundDir)} (FORMAT parquet, COMPRESSION zstd, PARTITION_BY (date))`),
        ),
      );
      progress(`features bound rep ${r + 1}: ${bounds.at(-1)?.toFixed(2)} s`);
    }
    const t = median(totals);
    const tb = median(bounds);
    const ratio = tb / t;
    results.push({
      name: 'features/technical-group',
      rows: u.rows,
      rows_per_s: round(u.rows / t),
      bound_rows_per_s: round(u.rows / tb),
      ratio: round(ratio),
      peak_rss_mb: round(peak) ?? 0,
      target: 'within 3x of bound',
      met: ratio >= 1 / 3,
      notes:
        `${nSymbols} symbols x ${nSessions} sessions; ibpipe: runFeaturePipeline over all dates in one pass with its defaults (reads curated/bars_1min, ` +
        `16 columns, one FeatureStore partition per date; ${round(median(writes))} s of ${round(t)} s in the feature-store writes); ` +
        `bound: one DuckDB COPY of the 8 window-expressible columns (SMA, Bollinger, volatility, lags) from the same curated files, PARTITION_BY date`,
      reps: REPS,
      seconds: round(t),
      bound_seconds: round(tb),
      metrics: { feature_store_write_seconds: round(median(writes)) },
    });

    // Per feature family: compute only, ibpipe vs the DuckDB window form where there is one.
    for (const spec of TECHNICAL.features) {
      const group: ComputableFeatureGroup = { name: TECHNICAL.name, features: [spec] };
      const times: number[] = [];
      for (let r = 0; r < REPS; r++) times.push(await timed(() => u.series.forEach((s) => computeFeatureGroup(s, group))));
      const sql = SQL_FAMILIES[spec.fn];
      const sqlTimes: number[] = [];
      if (sql) {
        const from = sql.from?.replace('{t}', table) ?? table;
        for (let r = 0; r < REPS; r++) {
          sqlTimes.push(await timed(() => lake.run(`CREATE OR REPLACE TEMP TABLE bench_family AS SELECT symbol, ts, ${sql.select} FROM ${from} WINDOW ${W20}, ${PART}`)));
        }
      }
      const tf = median(times);
      const tfb = sqlTimes.length ? median(sqlTimes) : null;
      const r = tfb === null ? null : tfb / tf;
      progress(`features/${spec.fn}: ${tf.toFixed(3)} s${tfb === null ? '' : `, DuckDB ${tfb.toFixed(3)} s`}`);
      results.push({
        name: `features/family:${spec.fn}`,
        rows: u.rows,
        rows_per_s: round(u.rows / tf),
        bound_rows_per_s: tfb === null ? null : round(u.rows / tfb),
        ratio: round(r),
        peak_rss_mb: round(peak) ?? 0,
        target: tfb === null ? '— (breakdown)' : 'within 3x of bound',
        met: r === null ? null : r >= 1 / 3,
        notes: `${spec.name} → ${specOutputColumns(spec).join(', ')}; compute only` + (tfb === null ? '; recursive, no DuckDB window form' : '; bound: DuckDB window functions into a temp table'),
        reps: REPS,
        seconds: round(tf),
        bound_seconds: round(tfb),
      });
    }
    return results;
  } finally {
    await bl.dispose();
  }
});
