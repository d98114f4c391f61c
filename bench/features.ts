// Benchmark: runFeaturePipeline with the technical feature group (issue 7's example), curated →
// features, end to end: 500 symbols x 20 sessions in one pass, and a rebuild of 100 symbols x
// 250 sessions (also timed over its first 125 sessions: the time must grow linearly with
// sessions). Each against DuckDB window functions (SMA, Bollinger std, volatility, lags) over the
// same curated files written to the same layout, in the same run. The ibpipe runs happen in a
// child process, so peak RSS is theirs. Plus rows/s per feature family (compute only).
// Run: npx tsx bench/features.ts [--size quick|full]
import { mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type { Session } from '../src/calendar/trading-calendar.js';
import { sqlString } from '../src/core/sql.js';
import { computeFeatureGroup, type ComputableFeatureGroup, type FeatureSeries } from '../src/pipelines/features/compute-feature-group.js';
import { specOutputColumns, type FeatureSpec } from '../src/pipelines/features/feature-config.js';
import type { Lake } from '../src/storage/lake.js';
import { benchMain, median, processMaxRssMb, progress, round, type BenchResult } from './support/bench-harness.js';
import { writeSyntheticCurated } from './support/curated-sql.js';
import { runFeaturesInChild, type ChildResult } from './support/feature-run-child.js';
import { benchSessions, benchSymbols, MINUTE } from './support/synthetic-market.js';
import { TECHNICAL } from './support/technical-group.js';
import { openBenchLake } from './support/temp-lake.js';

const REPS = 3;
/**
 * The rebuild computes 1.5x its rows per repetition (half, then whole, or the other way round):
 * two repetitions, one in each order, so the order's effect cancels in the mean.
 */
const REBUILD_REPS = 2;
/** The rebuild's history: 250 sessions from here end in late 2024. */
const REBUILD_FIRST_SESSION = '2023-12-01';

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

async function timed(fn: () => Promise<unknown> | unknown): Promise<number> {
  const t0 = performance.now();
  await fn();
  return (performance.now() - t0) / 1000;
}

/** The bound: one COPY of the window-expressible columns from the curated files, PARTITION_BY date. */
async function timeBound(lake: Lake, files: readonly string[], dir: string): Promise<number> {
  const source = `(SELECT symbol, ts, CAST(date AS VARCHAR) AS date, open, high, low, close, volume FROM read_parquet([${files.map(sqlString).join(', ')}], hive_partitioning = true))`;
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  return timed(() => lake.run(`COPY (${boundSelect(source)} ORDER BY symbol, ts) TO ${sqlString(dir)} (FORMAT parquet, COMPRESSION zstd, PARTITION_BY (date))`));
}

/** Rows of `sessions` for `symbols` 1-min bars. */
function rowsOf(symbols: number, sessions: readonly Session[]): number {
  return symbols * sessions.reduce((n, s) => n + (s.close - s.open) / MINUTE, 0);
}

benchMain(async ({ size }) => {
  const full = size === 'full';
  const results: BenchResult[] = [];

  // 1. The technical group end to end: 500 symbols x 20 sessions in one pass.
  {
    const symbols = benchSymbols(full ? 500 : 100);
    const sessions = benchSessions(full ? 20 : 4);
    const rows = rowsOf(symbols.length, sessions);
    progress(`features: ${symbols.length} symbols x ${sessions.length} sessions = ${rows} rows`);
    const bl = await openBenchLake();
    try {
      const files = await writeSyntheticCurated(bl.lake, symbols, sessions);
      const dates = sessions.map((s) => s.date);
      // ibpipe and bound interleaved, so a change in the machine's load hits both alike.
      const runs: ChildResult[] = [];
      const bounds: number[] = [];
      for (let r = 0; r < REPS; r++) {
        const child = await runFeaturesInChild({ root: bl.dir, symbols, runs: [dates] });
        if (child.rowsWritten[0] !== rows) throw new Error(`runFeaturePipeline wrote ${child.rowsWritten[0]} rows, expected ${rows}`);
        runs.push(child);
        bounds.push(await timeBound(bl.lake, files, join(bl.dir, 'bound')));
        progress(`features rep ${r + 1}: ${child.seconds[0]?.toFixed(2)} s (peak RSS ${child.peakRssMb.toFixed(0)} MB, event-loop lag p99 ${child.lagP99Ms.toFixed(0)} ms), bound ${bounds.at(-1)?.toFixed(2)} s`);
      }
      const run = { seconds: runs.map((x) => x.seconds[0] as number), batches: runs.map((x) => x.batches[0] as number), peakRssMb: Math.max(...runs.map((x) => x.peakRssMb)), lagP99Ms: median(runs.map((x) => x.lagP99Ms)), lagMaxMs: Math.max(...runs.map((x) => x.lagMaxMs)) };
      const t = median(run.seconds);
      const tb = median(bounds);
      const ratio = tb / t;
      const rssTarget = full ? 800 : Infinity;
      results.push({
        name: 'features/technical-group',
        rows,
        rows_per_s: round(rows / t),
        bound_rows_per_s: round(rows / tb),
        ratio: round(ratio),
        peak_rss_mb: round(run.peakRssMb) ?? 0,
        target: full ? '>= 0.67 of bound, peak RSS <= 800 MB' : '>= 0.67 of bound',
        met: ratio >= 0.67 && run.peakRssMb <= rssTarget,
        notes:
          `${symbols.length} symbols x ${sessions.length} sessions; ibpipe: runFeaturePipeline over all dates in one pass with its defaults ` +
          `(reads curated/bars_1min, writes 16 feature columns + keys and masks per date; ${run.batches[0]} reads; event-loop lag p99 ${run.lagP99Ms.toFixed(0)} ms, max ${run.lagMaxMs.toFixed(0)} ms); ` +
          `bound: one DuckDB COPY of the 8 window-expressible columns (SMA, Bollinger, volatility, lags) from the same curated files, PARTITION_BY date`,
        reps: REPS,
        seconds: round(t),
        bound_seconds: round(tb),
        metrics: { reads: run.batches[0] ?? null, event_loop_lag_p99_ms: round(run.lagP99Ms), event_loop_lag_max_ms: round(run.lagMaxMs) },
      });
    } finally {
      await bl.dispose();
    }
  }

  // 2. A rebuild over a long history, and its first half: linear in sessions?
  {
    const symbols = benchSymbols(full ? 100 : 20);
    const sessions = benchSessions(full ? 250 : 40, REBUILD_FIRST_SESSION);
    const half = sessions.slice(0, sessions.length / 2);
    const rows = rowsOf(symbols.length, sessions);
    const halfRows = rowsOf(symbols.length, half);
    progress(`features rebuild: ${symbols.length} symbols x ${sessions.length} sessions = ${rows} rows`);
    const bl = await openBenchLake();
    try {
      const files = await writeSyntheticCurated(bl.lake, symbols, sessions);
      const all = sessions.map((s) => s.date);
      const first = half.map((s) => s.date);
      const halves: number[] = [];
      const wholes: number[] = [];
      const bounds: number[] = [];
      let peakRssMb = 0;
      let reads = 0;
      for (let r = 0; r < REBUILD_REPS; r++) {
        // Warmed up on one session (untimed), then both lengths, in alternating order: neither
        // is the one that pays for the process's start-up or runs on a colder page cache.
        const halfFirst = r % 2 === 0;
        const child = await runFeaturesInChild({ root: bl.dir, symbols, warmup: all.slice(0, 1), runs: halfFirst ? [first, all] : [all, first] });
        const [h, w] = halfFirst ? [0, 1] : [1, 0];
        if (child.rowsWritten[w] !== rows) throw new Error(`rebuild wrote ${child.rowsWritten[w]} rows, expected ${rows}`);
        halves.push(child.seconds[h] as number);
        wholes.push(child.seconds[w] as number);
        peakRssMb = Math.max(peakRssMb, child.peakRssMb);
        reads = child.batches[w] as number;
        bounds.push(await timeBound(bl.lake, files, join(bl.dir, 'bound')));
        progress(`features rebuild rep ${r + 1}: ${half.length} sessions ${halves.at(-1)?.toFixed(2)} s, ${sessions.length} sessions ${wholes.at(-1)?.toFixed(2)} s, bound ${bounds.at(-1)?.toFixed(2)} s`);
      }
      const run = { peakRssMb, batches: [0, reads] };
      const tHalf = median(halves);
      const t = median(wholes);
      const tb = median(bounds);
      const ratio = tb / t;
      // Linear: time per row over all sessions within 20 % of over the first half.
      const growth = t / rows / (tHalf / halfRows);
      results.push({
        name: `features/rebuild-${symbols.length}x${sessions.length}`,
        rows,
        rows_per_s: round(rows / t),
        bound_rows_per_s: round(rows / tb),
        ratio: round(ratio),
        peak_rss_mb: round(run.peakRssMb) ?? 0,
        target: '>= 0.67 of bound; time per row at all sessions within 1.2x of at half',
        met: ratio >= 0.67 && growth <= 1.2,
        notes:
          `${symbols.length} symbols x ${sessions.length} sessions from ${REBUILD_FIRST_SESSION}, one pass, ${run.batches[1]} reads; the first ${half.length} sessions took ${tHalf.toFixed(2)} s ` +
          `(${round(halfRows / tHalf)} rows/s): time per row x${growth.toFixed(2)} for twice the sessions; bound as above`,
        reps: REBUILD_REPS,
        seconds: round(t),
        bound_seconds: round(tb),
        metrics: { half_sessions: half.length, half_seconds: round(tHalf), time_per_row_growth: round(growth), reads: run.batches[1] ?? null },
      });
    } finally {
      await bl.dispose();
    }
  }

  // 3. Per feature family: compute only, ibpipe vs the DuckDB window form where there is one,
  // over the same bars (read back from the curated files).
  {
    const symbols = benchSymbols(full ? 500 : 100);
    const sessions = benchSessions(full ? 20 : 4);
    const bl = await openBenchLake();
    try {
      const { lake } = bl;
      const files = await writeSyntheticCurated(lake, symbols, sessions);
      await lake.run(`CREATE TEMP TABLE bench_series AS SELECT symbol, ts, open, high, low, close, volume FROM read_parquet([${files.map(sqlString).join(', ')}]) ORDER BY symbol, ts`);
      const cols = await lake.readDoubles(`SELECT CAST(epoch_ms(ts) AS DOUBLE) AS ts, open, high, low, close, volume FROM bench_series`);
      const rows = cols.rows;
      const perSymbol = rows / symbols.length;
      const series: FeatureSeries[] = symbols.map((_, k) => {
        const part = (c: string): Float64Array => cols.get(c).subarray(k * perSymbol, (k + 1) * perSymbol);
        return { ts: part('ts'), open: part('open'), high: part('high'), low: part('low'), close: part('close'), volume: part('volume'), sessionDate: part('ts').map((t) => Math.floor(t / 86_400_000)) };
      });
      for (const spec of TECHNICAL.features) {
        const group: ComputableFeatureGroup = { name: TECHNICAL.name, features: [spec] };
        const times: number[] = [];
        for (let r = 0; r < REPS; r++) times.push(await timed(() => series.forEach((s) => computeFeatureGroup(s, group))));
        const sql = SQL_FAMILIES[spec.fn];
        const sqlTimes: number[] = [];
        if (sql) {
          const from = sql.from?.replace('{t}', 'bench_series') ?? 'bench_series';
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
          rows,
          rows_per_s: round(rows / tf),
          bound_rows_per_s: tfb === null ? null : round(rows / tfb),
          ratio: round(r),
          peak_rss_mb: round(processMaxRssMb()) ?? 0,
          target: '— (breakdown)',
          met: null,
          notes:
            `${spec.name} → ${specOutputColumns(spec).join(', ')}; compute only, ${symbols.length} symbols x ${sessions.length} sessions` +
            (tfb === null ? '; recursive, no DuckDB window form' : '; bound: DuckDB window functions into a temp table'),
          reps: REPS,
          seconds: round(tf),
          bound_seconds: round(tfb),
        });
      }
    } finally {
      await bl.dispose();
    }
  }
  return results;
});
