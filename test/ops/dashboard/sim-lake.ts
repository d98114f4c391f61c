import { renameSync } from 'node:fs';
import { ScaledClock } from '../../../src/core/clock.js';
import { parseSettings, type Settings } from '../../../src/config/settings.js';
import { sqlString } from '../../../src/core/sql.js';
import { createAppContext } from '../../../src/ops/app-context.js';
import { executeJob } from '../../../src/ops/orchestrator-adapter.js';
import { computeFeatureGroup } from '../../../src/pipelines/features/compute-feature-group.js';
import { featureGroupSchema, specOutputColumns } from '../../../src/pipelines/features/feature-config.js';
import { canonicalFeatureDefinition, featureDefinitionHash } from '../../../src/pipelines/features/feature-definition-hash.js';
import { FeatureStore } from '../../../src/storage/feature-store.js';
import { AAPL, MSFT, startRig, type Rig } from '../../data-sources/tws/tws-rig.js';

/** Virtual now: Monday 2024-12-02 10:00 New York, an open session after Thanksgiving week. */
export const NOW = Date.parse('2024-12-02T15:00:00Z');
export const WEEK = ['2024-11-25', '2024-11-26', '2024-11-27', '2024-11-28', '2024-11-29'] as const;
/** The injected gap: AAPL 2024-11-26, 10:00–10:09 New York (15:00–15:09 UTC) deleted from raw. */
export const GAP_DATE = '2024-11-26';
export const GAP_START = Date.parse('2024-11-26T15:00:00Z');
export const GAP_BARS = 10;
/** A bar made inconsistent (high below low) so the ohlc rule quarantines it: 11:00 New York. */
export const BAD_BAR = Date.parse('2024-11-26T16:00:00Z');

export const FEATURE_GROUP = featureGroupSchema.parse({
  name: 'tech',
  version: 'v1',
  source: 'bars_1min',
  features: [{ name: 'sma_20', fn: 'sma', column: 'close', window: 20 }],
});

export interface SimLake {
  readonly rig: Rig;
  readonly clock: ScaledClock;
  readonly settings: Readonly<Settings>;
  close(): Promise<void>;
}

export function simLakeSettings(root: string, simPort: number): Readonly<Settings> {
  return parseSettings({
    lake: { root },
    tws: { host: '127.0.0.1', port: simPort, client_id: 23, pacing_time_scale: 0.01, pacing_safety_margin_ms: 20 },
    instruments: [
      { key: 'AAPL', sec_type: 'STK', symbol: 'AAPL', exchange: 'SMART', primary_exchange: 'NASDAQ', currency: 'USD', calendar: 'XNYS' },
      { key: 'MSFT', sec_type: 'STK', symbol: 'MSFT', exchange: 'SMART', primary_exchange: 'NASDAQ', currency: 'USD', calendar: 'XNYS' },
    ],
    dq_rules: {
      tws_bars: [
        { type: 'ohlc_consistency', severity: 'error', action: 'quarantine' },
        { type: 'bar_count', tolerance: { fraction: 0.02 }, severity: 'warn', action: 'log' },
      ],
    },
    gaps: { frequency: '1min', imputation: { close: 'ffill', volume: 'zero' }, max_gap_bars: 30 },
    jobs: [{ name: 'transform', schedule: '10 16 * * 1-5', timezone: 'America/New_York' }],
    http: { host: '127.0.0.1', port: 0 },
    daemon: { catch_up_sessions: 1 },
    logging: { level: 'error', format: 'json' },
  });
}

/**
 * A lake built the way production builds it: Thanksgiving week 2024 backfilled from the
 * simulated gateway over a real socket, a gap and a bad bar injected into AAPL's raw bars of
 * the 26th, the transform run as a job for every date, a feature group computed by the real
 * feature functions, and one predictions partition.
 */
export async function buildSimLake(): Promise<SimLake> {
  const clock = new ScaledClock(NOW, 1);
  const rig = await startRig({ clock, timeScale: 0.01, tws: { pacing_safety_margin_ms: 20 } });
  try {
    await rig.client.connect();
    const summary = await rig.ingestor.ingestHistoricalRange([AAPL, MSFT], WEEK[0], WEEK[4]);
    if (!summary.complete) throw new Error(`backfill incomplete: ${JSON.stringify(summary.failed)}`);
    await rig.client.disconnect();

    // Raw is append-only for ibpipe; a test may still damage a file the way a bad feed would.
    const files = rig.rawStore.visibleFiles('1 min', [GAP_DATE]).get(GAP_DATE) ?? [];
    let damaged = 0;
    for (const f of files) {
      const [n] = await rig.lake.query<{ n: number }>(`SELECT count(*) AS n FROM read_parquet(${sqlString(f)}) WHERE symbol = 'AAPL'`);
      if (!n || n.n === 0) continue;
      const tmp = `${f}.rewrite`;
      // A group-committed file holds other symbols' pages too: only AAPL's bars are damaged.
      await rig.lake.run(
        `COPY (SELECT * REPLACE (CASE WHEN symbol = 'AAPL' AND ts = epoch_ms(${BAD_BAR}) THEN low * 0.5 ELSE high END AS high)
                 FROM read_parquet(${sqlString(f)}, hive_partitioning = false)
                WHERE NOT (symbol = 'AAPL' AND ts >= epoch_ms(${GAP_START}) AND ts < epoch_ms(${GAP_START + GAP_BARS * 60_000}))
                ORDER BY symbol, ts) TO ${sqlString(tmp)} (FORMAT parquet)`,
      );
      renameSync(tmp, f);
      damaged++;
    }
    if (damaged !== 1) throw new Error(`expected one raw file with AAPL bars of ${GAP_DATE}, found ${damaged}`);

    const settings = simLakeSettings(rig.dir, rig.sim.port);
    const app = await createAppContext(settings, { clock });
    try {
      for (const date of WEEK) {
        const run = await executeJob(app, 'transform', { date }, { trigger: 'manual' });
        if (run.record.status !== 'ok') throw new Error(`transform ${date} failed: ${String(run.error)}`);
      }
      // Features over the whole week per symbol (full history for each bar), one partition per date.
      const store = new FeatureStore(app.lake, app.calendars, clock);
      const columns = FEATURE_GROUP.features.flatMap(specOutputColumns);
      const curated = await app.curatedStore.readCuratedBars('bars_1min', undefined, WEEK[0], WEEK[4]);
      const perDate = new Map<string, { symbol: string; ts: number; imputed: boolean; values: number[] }[]>();
      for (const symbol of ['AAPL', 'MSFT']) {
        const rows = curated.filter((r) => r.symbol === symbol);
        const sessionDate = rows.map((r) => app.calendars.sessionDateOf(symbol, r.ts));
        const result = computeFeatureGroup(
          { ts: rows.map((r) => r.ts), open: rows.map((r) => r.open), high: rows.map((r) => r.high), low: rows.map((r) => r.low), close: rows.map((r) => r.close), volume: rows.map((r) => r.volume), sessionDate },
          FEATURE_GROUP,
        );
        rows.forEach((r, i) => {
          const d = sessionDate[i] as string;
          const list = perDate.get(d) ?? [];
          list.push({ symbol, ts: r.ts, imputed: r.is_imputed, values: columns.map((c) => (result.columns[c] as Float64Array)[i] as number) });
          perDate.set(d, list);
        });
      }
      for (const [date, day] of perDate) {
        const data: Record<string, unknown[]> = {
          symbol: day.map((r) => r.symbol),
          ts: day.map((r) => r.ts),
          available_ts: day.map((r) => r.ts + 60_000),
          is_imputed: day.map((r) => r.imputed),
          imputation: day.map((r) => (r.imputed ? 'ffill' : null)),
        };
        columns.forEach((c, j) => (data[c] = day.map((r) => r.values[j])));
        await store.writeFeatures(
          { group: FEATURE_GROUP.name, version: FEATURE_GROUP.version, definitionHash: featureDefinitionHash(FEATURE_GROUP), definition: JSON.parse(canonicalFeatureDefinition(FEATURE_GROUP)), date, symbols: ['AAPL', 'MSFT'], featureColumns: columns },
          data,
          day.length,
        );
      }
      // One predictions partition in the layout of DESIGN §6 (batch scoring writes these).
      const close = Date.parse('2024-11-29T18:00:00Z');
      await app.lake.writeParquetAtomic(
        app.lake.path('predictions', 'baseline', 'date=2024-11-29', 'data.parquet'),
        `SELECT * FROM (VALUES ('AAPL', epoch_ms(${close - 60_000}), 0.0123, 'baseline', '1', 'run-1'),
                              ('MSFT', epoch_ms(${close - 60_000}), -0.004, 'baseline', '1', 'run-1'))
                t(symbol, scoring_ts, score, model, model_version, run_id)`,
      );
    } finally {
      await app.close();
    }
    return { rig, clock, settings, close: () => rig.close() };
  } catch (err) {
    await rig.close();
    throw err;
  }
}
