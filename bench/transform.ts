// Benchmark: runTransformTwsBars (raw → curated: dedup, validity and DQ rules, quarantine, gap
// fill on the calendar grid, curated write) against one DuckDB SQL statement doing the grid
// join + forward fill + write from the same raw files.
// Run: npx tsx bench/transform.ts [--size quick|full]
import { mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { ManualClock } from '../src/core/clock.js';
import { sqlKeyList, sqlString } from '../src/core/sql.js';
import { dqRulesConfigSchema, gapsConfigSchema } from '../src/data-quality/dq-config.js';
import { silentLogger } from '../src/ops/logging-setup.js';
import { runTransformTwsBars, type DqResultRecord, type TransformDeps } from '../src/pipelines/transform-pipeline.js';
import { CuratedStore } from '../src/storage/curated-store.js';
import { QuarantineStore } from '../src/storage/quarantine-store.js';
import { RawStore } from '../src/storage/raw-store.js';
import { JsonlLedger } from '../src/storage/state-store.js';
import { benchMain, median, progress, round, RssSampler, type BenchResult } from './support/bench-harness.js';
import { benchCalendars, benchSessions, benchSymbols, MINUTE, sessionBars } from './support/synthetic-market.js';
import { openBenchLake } from './support/temp-lake.js';

const REPS = 3;
const MISSING_RATE = 0.01;
const BAD_RATE = 0.001;

/** The DQ rules of config/demo.yaml (what a user starts from). */
const DQ_RULES = {
  tws_bars: [
    { type: 'ohlc_consistency', severity: 'error', action: 'quarantine' },
    { type: 'range', field: 'close', min: 0.0001, max: 1_000_000, severity: 'error', action: 'quarantine' },
    { type: 'outlier', field: 'close', window: 60, threshold: 10, severity: 'warn', action: 'log' },
    { type: 'bar_count', tolerance: { fraction: 0.02 }, severity: 'warn', action: 'log' },
    { type: 'staleness', max_age: '15min', severity: 'warn', action: 'log' },
  ],
};

benchMain(async ({ size }) => {
  const nSymbols = size === 'full' ? 500 : 100;
  const symbols = benchSymbols(nSymbols);
  const calendars = benchCalendars(symbols);
  const [session] = benchSessions(1);
  if (!session) throw new Error('no session');
  const date = session.date;
  const gridRows = nSymbols * ((session.close - session.open) / MINUTE);

  const bl = await openBenchLake();
  try {
    const { lake } = bl;
    const raw = new RawStore(lake, calendars);
    const events = symbols.flatMap((s, i) => sessionBars(s, i, session, { missingRate: MISSING_RATE, badRate: BAD_RATE }));
    // One raw file for the date, as after the session's compaction; both sides read it.
    await raw.writeTwsBars(events, 'bench-raw', session.close + 10 * MINUTE);
    const rawFiles = raw.visibleFiles('1 min', [date]).get(date) ?? [];
    progress(`transform: ${events.length} raw rows (${gridRows - events.length} missing) in ${rawFiles.length} file(s)`);

    const deps: TransformDeps = {
      rawStore: raw,
      curatedStore: new CuratedStore(lake),
      quarantineStore: new QuarantineStore(lake),
      dqLedger: new JsonlLedger<DqResultRecord>(lake.path('state', 'dq_results.jsonl')),
      calendars,
      clock: new ManualClock(session.close + 60 * MINUTE),
      logger: silentLogger(),
      dqRules: dqRulesConfigSchema.parse(DQ_RULES),
      gaps: gapsConfigSchema.parse({ frequency: '1min', imputation: { close: 'ffill', volume: 'zero' }, max_gap_bars: 30 }),
      barSize: '1 min',
    };

    const times: number[] = [];
    let counts: Record<string, number> = {};
    const rss = new RssSampler().start();
    for (let r = 0; r < REPS; r++) {
      // Each run starts from an empty curated and quarantine partition, like the first run of the day.
      rmSync(lake.path('curated'), { recursive: true, force: true });
      rmSync(lake.path('quarantine'), { recursive: true, force: true });
      const t0 = performance.now();
      const summary = await runTransformTwsBars(date, undefined, deps);
      times.push((performance.now() - t0) / 1000);
      rss.sample();
      counts = { ...summary.counts };
      progress(`transform rep ${r + 1}: ${times.at(-1)?.toFixed(2)} s (curated ${summary.counts.curated_rows}, quarantined ${summary.counts.quarantined}, imputed ${summary.counts.imputed})`);
    }
    const peak = rss.stop();
    if (counts.curated_rows !== gridRows) throw new Error(`transform wrote ${counts.curated_rows} rows, expected the grid's ${gridRows}`);

    // The bound: one statement from the same raw file(s): latest version per bar, validity and
    // OHLC checks, the session grid per symbol, left join, forward fill, sorted Parquet write.
    const files = `[${rawFiles.map(sqlString).join(', ')}]`;
    const out = join(bl.dir, 'bound', 'data.parquet');
    const boundSql = `COPY (
      WITH latest AS (
        SELECT * FROM read_parquet(${files})
        QUALIFY row_number() OVER (PARTITION BY symbol, ts ORDER BY ingestion_ts DESC, batch_id DESC) = 1
      ), valid AS (
        SELECT symbol, ts, open, high, low, close, volume,
               CASE WHEN wap > 0 THEN wap END AS wap, CASE WHEN trade_count >= 0 THEN trade_count END AS trade_count
        FROM latest
        WHERE isfinite(open) AND isfinite(high) AND isfinite(low) AND isfinite(close) AND open > 0 AND high > 0 AND low > 0 AND close > 0
          AND volume >= 0 AND high >= greatest(open, close, low) AND low <= least(open, close) AND close BETWEEN 0.0001 AND 1000000
      ), grid AS (
        SELECT s.symbol, g.ts
        FROM (SELECT unnest([${sqlKeyList(symbols)}]) AS symbol) s,
             (SELECT unnest(generate_series(epoch_ms(${session.open}), epoch_ms(${session.close - MINUTE}), INTERVAL 1 MINUTE)) AS ts) g
      ), joined AS (
        SELECT grid.symbol, grid.ts, v.open, v.high, v.low, v.close, v.volume, v.wap, v.trade_count, v.close IS NULL AS is_imputed
        FROM grid LEFT JOIN valid v ON v.symbol = grid.symbol AND v.ts = grid.ts
      )
      SELECT symbol, ts,
             coalesce(open, last_value(close IGNORE NULLS) OVER w) AS open,
             coalesce(high, last_value(close IGNORE NULLS) OVER w) AS high,
             coalesce(low, last_value(close IGNORE NULLS) OVER w) AS low,
             coalesce(close, last_value(close IGNORE NULLS) OVER w) AS close,
             CASE WHEN is_imputed THEN 0 ELSE volume END AS volume,
             coalesce(wap, last_value(wap IGNORE NULLS) OVER w) AS wap,
             CASE WHEN is_imputed THEN 0 ELSE trade_count END AS trade_count,
             is_imputed, CASE WHEN is_imputed THEN 'ffill+zero' END AS imputation,
             is_imputed AS open_imputed, is_imputed AS high_imputed, is_imputed AS low_imputed, is_imputed AS close_imputed,
             is_imputed AS volume_imputed, is_imputed AS wap_imputed, is_imputed AS trade_count_imputed
      FROM joined
      WINDOW w AS (PARTITION BY symbol ORDER BY ts ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW)
      ORDER BY symbol, ts
    ) TO ${sqlString(out)} (FORMAT parquet, COMPRESSION zstd)`;
    mkdirSync(join(bl.dir, 'bound'), { recursive: true });
    const bounds: number[] = [];
    for (let r = 0; r < REPS; r++) {
      const t0 = performance.now();
      await lake.run(boundSql);
      bounds.push((performance.now() - t0) / 1000);
      progress(`transform bound rep ${r + 1}: ${bounds.at(-1)?.toFixed(3)} s`);
    }
    const [check] = await lake.query<{ n: number; imputed: number }>(
      `SELECT count(*) AS n, count(*) FILTER (WHERE is_imputed) AS imputed FROM read_parquet(${sqlString(out)})`,
    );
    if (check?.n !== gridRows) throw new Error(`bound wrote ${check?.n} rows, expected ${gridRows}`);

    const t = median(times);
    const tb = median(bounds);
    const ratio = tb / t;
    const result: BenchResult = {
      name: 'transform',
      rows: gridRows,
      rows_per_s: round(gridRows / t),
      bound_rows_per_s: round(gridRows / tb),
      ratio: round(ratio),
      peak_rss_mb: round(peak) ?? 0,
      target: 'within 3x of bound',
      met: ratio >= 1 / 3,
      notes:
        `${nSymbols} symbols x 1 session, ${MISSING_RATE * 100}% bars missing, ${BAD_RATE * 100}% bad; rows = curated grid rows; ` +
        `ibpipe also runs the outlier, bar-count and staleness rules, writes quarantine and the DQ ledger; ` +
        `bound: one COPY (dedup + validity/OHLC filter + grid join + ffill) from the same raw file, no quarantine, no gap limit`,
      reps: REPS,
      seconds: round(t),
      bound_seconds: round(tb),
      metrics: {
        raw_rows: counts.raw_rows ?? null,
        quarantined: counts.quarantined ?? null,
        imputed: counts.imputed ?? null,
        bound_imputed: check.imputed,
      },
    };
    return [result];
  } finally {
    await bl.dispose();
  }
});
