import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { BarEvent } from '../../src/core/bars.js';
import { ManualClock } from '../../src/core/clock.js';
import { sqlString } from '../../src/core/sql.js';
import { dqRulesConfigSchema, gapsConfigSchema } from '../../src/data-quality/dq-config.js';
import { silentLogger } from '../../src/ops/logging-setup.js';
import { runFeaturePipeline } from '../../src/pipelines/feature-pipeline.js';
import { featureGroupSchema } from '../../src/pipelines/features/feature-config.js';
import { resolveSourceDataset } from '../../src/pipelines/source-dataset.js';
import { runTransformTwsBars, type DqResultRecord } from '../../src/pipelines/transform-pipeline.js';
import { FeatureStore } from '../../src/storage/feature-store.js';
import { QuarantineStore } from '../../src/storage/quarantine-store.js';
import { JsonlLedger } from '../../src/storage/state-store.js';
import { buildTrainingDataset } from '../../src/training/dataset-builder.js';
import { datasetSpecSchema, labelSpecSchema } from '../../src/training/training-config.js';
import { makeBar } from '../support/bar-factory.js';
import { openTempLake, type TempLake } from '../support/temp-lake.js';

/**
 * No imputed value is visible before the data it was made from (issue 15): for every imputation
 * method, changing only bars with ts >= T (corrected values, bars removed, bars added) and
 * rebuilding transform → features → dataset leaves every curated and feature row available by T,
 * every `features latest` answer as of T or before, and every label whose window ends by T as
 * they were. The gaps are chosen so the old stamp (`ts + bar` for every row) would leak: a gap
 * straddling T that `linear` interpolates across, and one whose length, and so whether it is
 * filled at all (max_gap_bars 30), is decided after T.
 */

const MIN = 60_000;
const DATE = '2024-11-26'; // EST: 09:30 = 14:30Z, close 21:00Z
const OPEN = Date.parse('2024-11-26T14:30:00Z');
const CLOSE = Date.parse('2024-11-26T21:00:00Z');
const T = Date.parse('2024-11-26T16:00:00Z');
const SYMBOLS = ['AAPL', 'MSFT'];
const METHODS = ['ffill', 'linear', 'zero', { constant: 5 }, 'none'] as const;

const GROUP = featureGroupSchema.parse({
  name: 'tech',
  version: 'v1',
  source: 'bars_1min',
  features: [
    { name: 'sma_5', fn: 'sma', column: 'close', window: 5 },
    { name: 'ema_10', fn: 'ema', column: 'close', window: 10 },
    { name: 'rsi_14', fn: 'rsi', column: 'close', window: 14 },
    { name: 'close_lag', fn: 'lag', column: 'close', periods: [1] },
  ],
});

/** The raw bars: AAPL misses [T-3m, T+2m) (5 bars); MSFT misses [T-20m, T+15m) (35 bars, over the limit). */
function rawBars(variant: 'base' | 'changed'): BarEvent[] {
  const out: BarEvent[] = [];
  for (const symbol of SYMBOLS) {
    for (let ts = OPEN; ts < CLOSE; ts += MIN) {
      const missing = symbol === 'AAPL' ? ts >= T - 3 * MIN && ts < T + 2 * MIN : ts >= T - 20 * MIN && ts < T + 15 * MIN;
      if (variant === 'base') {
        if (!missing) out.push(makeBar(symbol, ts));
        continue;
      }
      // After T: AAPL's gap is 3 bars longer, MSFT's gap is 10 bars shorter (25: now under the
      // limit), and every bar from T on is corrected.
      const present = symbol === 'AAPL' ? !missing && !(ts >= T + 2 * MIN && ts < T + 5 * MIN) : !missing || ts >= T + 5 * MIN;
      if (!present) continue;
      const bar = makeBar(symbol, ts);
      out.push(ts >= T ? { ...bar, open: bar.open * 1.01, high: bar.high * 1.02, low: bar.low * 1.01, close: bar.close * 1.015 + 0.3, volume: bar.volume + 77, wap: (bar.wap ?? 0) * 1.01 } : bar);
    }
  }
  return out;
}

interface Built {
  curated: Map<string, { available: number; row: string }>;
  features: Map<string, { available: number; row: string }>;
  latest: string[];
  labels: Map<string, { end: number; row: string }>;
}

const lakes: TempLake[] = [];
afterAll(async () => {
  await Promise.all(lakes.map((l) => l.cleanup()));
});

async function build(method: (typeof METHODS)[number], variant: 'base' | 'changed'): Promise<Built> {
  const t = await openTempLake();
  lakes.push(t);
  const clock = new ManualClock(CLOSE + 60 * MIN); // the session's final transform
  await t.raw.writeTwsBars(rawBars(variant), `raw-${variant}`, CLOSE + 30 * MIN);
  const gaps = gapsConfigSchema.parse({ imputation: { close: method }, max_gap_bars: 30 });
  await runTransformTwsBars(DATE, SYMBOLS, {
    rawStore: t.raw,
    curatedStore: t.curated,
    quarantineStore: new QuarantineStore(t.lake),
    dqLedger: new JsonlLedger<DqResultRecord>(t.lake.path('state', 'dq_results.jsonl')),
    calendars: t.calendars,
    clock,
    logger: silentLogger(),
    dqRules: dqRulesConfigSchema.parse({}),
    gaps,
    barSize: '1 min',
  });
  const store = new FeatureStore(t.lake, t.calendars, clock);
  const source = resolveSourceDataset('bars_1min');
  await runFeaturePipeline([DATE], SYMBOLS, GROUP, 'v1', { lake: t.lake, featureStore: store, logger: silentLogger(), source });

  const table = async (sql: string): Promise<Map<string, { available: number; row: string }>> =>
    new Map(
      (await t.lake.query(sql)).map((r) => {
        const { symbol, ts, available_ts, ...rest } = r as Record<string, unknown> & { symbol: string; ts: number; available_ts: number };
        return [`${symbol}|${ts}`, { available: available_ts, row: JSON.stringify({ available_ts, ...rest }) }];
      }),
    );
  const curated = await table(`SELECT * FROM read_parquet(${sqlString(t.curated.partitionFile('bars_1min', DATE))}) ORDER BY symbol, ts`);
  const features = await table(`SELECT * FROM read_parquet(${sqlString(store.partitionFile('tech', 'v1', DATE))}) ORDER BY symbol, ts`);

  // `features latest` every 30 s over the half hour before T (both gaps start in it), and at T.
  const latest: string[] = [];
  for (let asOf = T - 30 * MIN; asOf <= T; asOf += 30_000) latest.push(JSON.stringify(await store.getFeaturesForInference('tech', 'v1', asOf, SYMBOLS, 5 * MIN)));

  const handle = await buildTrainingDataset(
    {
      dataset: datasetSpecSchema.parse({ name: 'leak', feature_groups: [{ name: 'tech', version: 'v1' }], label: 'fwd3', start: DATE, end: DATE, symbols: SYMBOLS, filters: { drop_imputed_inputs: false } }),
      // `flag` keeps windows over imputed bars, so the labels read imputed closes too.
      label: labelSpecSchema.parse({ name: 'fwd3', kind: 'forward_return', horizon_bars: 3, imputed_policy: 'flag' }),
      featureGroups: [{ name: 'tech', version: 'v1', ttlMs: 5 * MIN }],
      source: { kind: 'curated', name: 'bars_1min', barMs: MIN },
    },
    { lake: t.lake, featureStore: store, calendars: t.calendars },
  );
  const labelRows = await t.lake.query(`SELECT * FROM read_parquet(${sqlString(join(handle.path, 'data.parquet'))}) ORDER BY symbol, ts`);
  const labels = new Map(labelRows.map((r) => [`${r.symbol as string}|${r.ts as number}`, { end: r.label_end_ts as number, row: JSON.stringify(r) }]));
  return { curated, features, latest, labels };
}

describe('imputed values are never visible before the data they were made from', () => {
  for (const method of METHODS) {
    const name = typeof method === 'string' ? method : 'constant';
    it(`${name}: rows available by T, features latest as of T, labels ending by T are unchanged by bars at or after T`, async () => {
      const [a, b] = await Promise.all([build(method, 'base'), build(method, 'changed')]);
      const settled = <V extends { row: string }>(m: Map<string, V>, by: (v: V) => boolean): [string, string][] =>
        [...m].filter(([, v]) => by(v)).map(([k, v]) => [k, v.row]);

      // Curated and feature rows available by T: the same rows, the same values.
      for (const table of ['curated', 'features'] as const) {
        const before = settled(a[table], (v) => v.available <= T);
        // The observed bars that ended by T: AAPL's 90 minus the 3 missing, MSFT's 90 minus 20.
        expect(before.length).toBe(87 + 70);
        expect(settled(b[table], (v) => v.available <= T)).toEqual(before);
        // Never stamped before its own bar's end.
        for (const [k, v] of a[table]) expect(v.available).toBeGreaterThanOrEqual(Number(k.split('|')[1]) + MIN);
      }
      expect(b.latest).toEqual(a.latest);
      const labelsBefore = settled(a.labels, (v) => v.end <= T);
      expect(labelsBefore.length).toBeGreaterThan(120);
      expect(settled(b.labels, (v) => v.end <= T)).toEqual(labelsBefore);

      // The test has teeth: the change after T did alter rows whose bar ended by T (so stamping
      // them ts + bar would leak), and rows after T.
      const early = [...a.curated].filter(([k, v]) => Number(k.split('|')[1]) + MIN <= T && b.curated.get(k)?.row !== v.row);
      expect(early.length).toBeGreaterThan(0);
      expect([...a.features].filter(([k, v]) => Number(k.split('|')[1]) >= T && b.features.get(k)?.row !== v.row).length).toBeGreaterThan(0);
    });
  }
});
