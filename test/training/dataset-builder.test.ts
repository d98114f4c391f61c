import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { UpstreamMissingError, VersionConflictError } from '../../src/core/errors.js';
import { sqlString } from '../../src/core/sql.js';
import { featureDefinitionHash } from '../../src/pipelines/features/feature-definition-hash.js';
import type { FeatureStore } from '../../src/storage/feature-store.js';
import { buildTrainingDataset, findDataset, type DatasetBuildConfig, type DatasetHandle } from '../../src/training/dataset-builder.js';
import { datasetSpecSchema, labelSpecSchema, type DatasetSpec } from '../../src/training/training-config.js';
import { priceAt } from '../support/bar-factory.js';
import { BAR_MS, CURATED, TECH_GROUP, featureStoreFor, writeCuratedDays, writeFeatureDays } from '../support/feature-lake.js';
import { openTempLake, type TempLake } from '../support/temp-lake.js';

const DAYS = ['2024-11-25', '2024-11-26', '2024-11-27'];
const SYMBOLS = ['AAPL', 'MSFT'];
const H = 5;
const OPEN_26 = Date.parse('2024-11-26T14:30:00Z');

const lakes: TempLake[] = [];
afterEach(async () => {
  await Promise.all(lakes.splice(0).map((l) => l.cleanup()));
});

async function lakeWithData(o: { close?: (s: string, ts: number) => number; imputed?: (s: string, ts: number) => boolean; skip?: (s: string, ts: number) => boolean } = {}): Promise<{ t: TempLake; store: FeatureStore }> {
  const t = await openTempLake();
  lakes.push(t);
  const store = featureStoreFor(t);
  const rows = await writeCuratedDays(t, SYMBOLS, DAYS, o);
  await writeFeatureDays(t, store, rows, DAYS, o.skip ? { skip: o.skip } : {});
  return { t, store };
}

function config(over: Partial<Record<keyof DatasetSpec, unknown>> = {}, label: Record<string, unknown> = {}, ttlMs = 5 * BAR_MS, version = 'v1'): DatasetBuildConfig {
  const dataset = datasetSpecSchema.parse({
    name: 'fwd',
    feature_groups: [{ name: 'tech', version }],
    label: 'fwd5',
    start: '2024-11-26',
    end: '2024-11-27',
    symbols: SYMBOLS,
    ...over,
  });
  return {
    dataset,
    label: labelSpecSchema.parse({ name: 'fwd5', kind: 'forward_return', horizon_bars: H, ...label }),
    featureGroups: [{ name: 'tech', version, ttlMs }],
    source: { kind: 'curated', name: CURATED, barMs: BAR_MS },
  };
}

async function build(t: TempLake, store: FeatureStore, cfg: DatasetBuildConfig): Promise<DatasetHandle> {
  return buildTrainingDataset(cfg, { lake: t.lake, featureStore: store, calendars: t.calendars });
}

type Row = Record<string, unknown> & { symbol: string; ts: number; anchor_ts: number; label_end_ts: number; tech_ts: number; tech_available_ts: number; fwd5: number; ret_1: number | null };

async function readRows(t: TempLake, h: DatasetHandle): Promise<Row[]> {
  return (await t.lake.query(`SELECT * FROM read_parquet(${sqlString(join(h.path, 'data.parquet'))}) ORDER BY symbol, ts`)) as Row[];
}

describe('buildTrainingDataset', () => {
  it('joins each label to the features available at its anchor and computes the label from later bars only', async () => {
    const { t, store } = await lakeWithData();
    const h = await build(t, store, config());
    const rows = await readRows(t, h);
    // Within-session labels: each 390-bar session gives 390 - 5 anchors; 2 symbols x 2 days.
    expect(rows).toHaveLength(2 * 2 * (390 - H));
    expect(h.manifest.rows.total).toBe(rows.length);
    expect(h.manifest.rows.by_symbol).toEqual({ AAPL: { total: 770 }, MSFT: { total: 770 } });
    // 11-26's last 5 anchors cross the session end; 11-27's run out of bars (nothing after `end` is read).
    expect(h.manifest.dropped.session_end).toBe(2 * H);
    expect(h.manifest.dropped.end_of_series).toBe(2 * H);
    for (const r of rows) {
      expect(r.anchor_ts).toBe(r.ts + BAR_MS);
      expect(r.label_end_ts).toBe(r.ts + (H + 1) * BAR_MS);
      expect(r.tech_available_ts).toBeLessThanOrEqual(r.anchor_ts);
      expect(r.anchor_ts).toBeLessThan(r.label_end_ts);
      // Every bar has a feature row, so the one available at the anchor is the anchor bar's own.
      expect(r.tech_ts).toBe(r.ts);
      expect(r.fwd5).toBeCloseTo(priceAt(r.symbol, r.ts + H * BAR_MS) / priceAt(r.symbol, r.ts) - 1, 12);
      // ret_1 at the anchor is this bar's return, not the next bar's (session opens: below).
      if (new Date(r.ts).toISOString().endsWith('14:30:00.000Z')) continue;
      expect(r.ret_1).toBeCloseTo(priceAt(r.symbol, r.ts) / priceAt(r.symbol, r.ts - BAR_MS) - 1, 12);
    }
    // The first bar of 11-26 gets its return from the previous session's last close (full history).
    const first = rows.find((r) => r.symbol === 'AAPL' && r.ts === OPEN_26)!;
    expect(first.ret_1).toBeCloseTo(priceAt('AAPL', OPEN_26) / priceAt('AAPL', Date.parse('2024-11-25T20:59:00Z')) - 1, 12);
    expect(h.manifest.sources.map((s) => `${s.kind}:${s.date}`)).toEqual([
      'curated:2024-11-26',
      'curated:2024-11-27',
      'features:2024-11-25',
      'features:2024-11-26',
      'features:2024-11-27',
    ]);
    for (const s of h.manifest.sources) expect(s.sha256).toMatch(/^[0-9a-f]{64}$/);
    expect(h.manifest.feature_groups).toEqual([expect.objectContaining({ name: 'tech', version: 'v1', columns: ['ret_1', 'sma_3'], ttl_ms: 5 * BAR_MS })]);
    expect(h.path).toBe(t.lake.path('datasets', 'fwd', h.id));
    expect(findDataset(t.lake, h.id).manifest).toEqual(h.manifest);
    expect(JSON.parse(readFileSync(join(h.path, 'manifest.json'), 'utf8'))).toEqual(h.manifest);
  });

  it('leaks nothing: perturbing the data after t leaves every row whose label ends by t identical, and features at anchors <= t unchanged', async () => {
    const cut = Date.parse('2024-11-26T17:00:00Z');
    const base = await lakeWithData();
    const a = await readRows(base.t, await build(base.t, base.store, config()));
    const perturbed = await lakeWithData({ close: (s, ts) => (ts >= cut ? priceAt(s, ts) * 1.5 + 7 : priceAt(s, ts)) });
    const b = await readRows(perturbed.t, await build(perturbed.t, perturbed.store, config()));
    const key = (r: Row): string => `${r.symbol}@${r.ts}`;
    const bByKey = new Map(b.map((r) => [key(r), r]));
    // Bars starting at or after `cut` became available after it; rows that read only earlier bars are equal.
    const settled = a.filter((r) => r.label_end_ts <= cut);
    expect(settled.length).toBe(2 * (150 - H));
    for (const r of settled) expect(bByKey.get(key(r))).toEqual(r);
    const known = a.filter((r) => r.anchor_ts <= cut);
    for (const r of known) {
      const other = bByKey.get(key(r))!;
      expect([other.ret_1, other.sma_3, other.tech_available_ts]).toEqual([r.ret_1, r.sma_3, r.tech_available_ts]);
    }
    // And the perturbation did reach the rows after t.
    expect(a.filter((r) => r.anchor_ts > cut + BAR_MS).some((r) => bByKey.get(key(r))!.ret_1 !== r.ret_1)).toBe(true);
    for (const r of b) expect(r.tech_available_ts <= r.anchor_ts && r.anchor_ts < r.label_end_ts).toBe(true);
  });

  it('is reproducible: same id and byte-identical files across builds and lakes; a new feature version changes the id', async () => {
    const { t, store } = await lakeWithData();
    const h1 = await build(t, store, config());
    const data1 = readFileSync(join(h1.path, 'data.parquet'));
    const manifest1 = readFileSync(join(h1.path, 'manifest.json'));
    const h2 = await build(t, store, config());
    expect(h2.id).toBe(h1.id);
    expect(readFileSync(join(h2.path, 'data.parquet')).equals(data1)).toBe(true);
    expect(readFileSync(join(h2.path, 'manifest.json')).equals(manifest1)).toBe(true);

    // The same data in another lake folder (other path, other registration time) gives the same dataset.
    const other = await lakeWithData();
    const h3 = await build(other.t, other.store, config());
    expect(h3.id).toBe(h1.id);
    expect(readFileSync(join(h3.path, 'data.parquet')).equals(data1)).toBe(true);
    expect(readFileSync(join(h3.path, 'manifest.json')).equals(manifest1)).toBe(true);

    // Same values under version v2: a different dataset.
    const rows = await t.curated.readCuratedBars(CURATED, undefined, DAYS[0]!, DAYS[2]!);
    await writeFeatureDays(t, store, rows, DAYS, { version: 'v2' });
    const h4 = await build(t, store, config({}, {}, 5 * BAR_MS, 'v2'));
    expect(h4.id).not.toBe(h1.id);
    expect(h4.manifest.rows).toEqual(h1.manifest.rows);
    // A changed source partition (one close) changes the id too.
    await t.curated.writeCuratedBars(
      rows.filter((r) => r.symbol === 'AAPL' && t.calendars.sessionDateOf('AAPL', r.ts) === '2024-11-27').map((r, i) => (i === 100 ? { ...r, close: (r.close as number) + 1 } : r)),
      CURATED,
      '2024-11-27',
      ['AAPL'],
    );
    expect((await build(t, store, config())).id).not.toBe(h1.id);
  });

  it('uses an older feature row only within the TTL, drops stale and imputed-input rows, and counts why', async () => {
    const holeStart = OPEN_26 + 60 * BAR_MS; // AAPL has no feature rows for 10 bars from 15:30
    const imputedAt = OPEN_26 + 200 * BAR_MS; // MSFT bar 200 of 11-26 was gap-filled
    const { t, store } = await lakeWithData({
      skip: (s, ts) => s === 'AAPL' && ts >= holeStart && ts < holeStart + 10 * BAR_MS,
      imputed: (s, ts) => s === 'MSFT' && ts === imputedAt,
    });
    const h = await build(t, store, config({}, { imputed_policy: 'flag' }, 3 * BAR_MS));
    const rows = await readRows(t, h);
    const inHole = rows.filter((r) => r.symbol === 'AAPL' && r.ts >= holeStart && r.ts < holeStart + 10 * BAR_MS);
    // Anchors 1..3 bars after the last row (bar holeStart-1, available at holeStart) use it; later ones are stale.
    expect(inHole.map((r) => (r.ts - holeStart) / BAR_MS)).toEqual([0, 1, 2]);
    for (const r of inHole) {
      expect(r.tech_ts).toBe(holeStart - BAR_MS);
      expect(r.anchor_ts - r.tech_available_ts).toBeLessThanOrEqual(3 * BAR_MS);
    }
    expect(h.manifest.dropped.features_stale).toBe(7);
    // Imputed anchor bar: its features were computed on a filled bar, so the row goes.
    expect(rows.some((r) => r.symbol === 'MSFT' && r.ts === imputedAt)).toBe(false);
    expect(h.manifest.dropped.imputed_inputs).toBe(1);
    // Labels whose window touches it are kept but flagged (policy flag): anchors imputedAt-5 … imputedAt-1.
    const flagged = rows.filter((r) => r.label_imputed === true).map((r) => (imputedAt - r.ts) / BAR_MS);
    expect(flagged.sort()).toEqual([1, 2, 3, 4, 5]);
    expect(h.manifest.rows.total).toBe(2 * 2 * (390 - H) - 7 - 1);

    // Without the filter the imputed-bar row stays, marked.
    const keep = await build(t, store, config({ filters: { drop_imputed_inputs: false } }, { imputed_policy: 'flag' }, 3 * BAR_MS));
    const kept = (await readRows(t, keep)).find((r) => r.symbol === 'MSFT' && r.ts === imputedAt)!;
    expect(kept.tech_is_imputed).toBe(true);
    expect(keep.id).not.toBe(h.id);
  });

  it('reads the next session for labels across sessions, and hashes what it read', async () => {
    const { t, store } = await lakeWithData();
    const h = await build(t, store, config({ start: '2024-11-26', end: '2024-11-26' }, { across_sessions: true }));
    const rows = await readRows(t, h);
    expect(rows).toHaveLength(2 * 390);
    const last = rows.find((r) => r.symbol === 'MSFT' && r.ts === Date.parse('2024-11-26T20:59:00Z'))!;
    // Its 5 bars ahead are 11-27's first five: 14:30 … 14:34.
    const fifth = Date.parse('2024-11-27T14:34:00Z');
    expect(last.label_end_ts).toBe(fifth + BAR_MS);
    expect(last.fwd5).toBeCloseTo(priceAt('MSFT', fifth) / priceAt('MSFT', last.ts) - 1, 12);
    expect(h.manifest.sources.filter((s) => s.kind === 'curated').map((s) => s.date)).toEqual(['2024-11-26', '2024-11-27']);
    expect(h.manifest.dropped.end_of_series + h.manifest.dropped.session_end).toBe(0);
  });

  it('splits by time with purge and embargo and records the counts', async () => {
    const { t, store } = await lakeWithData();
    const h = await build(t, store, config({ split: { validation_start: '2024-11-27', embargo_bars: 10 } }));
    const rows = await readRows(t, h);
    const train = rows.filter((r) => r.split === 'train');
    const validation = rows.filter((r) => r.split === 'validation');
    expect(rows.every((r) => r.split === 'train' || r.split === 'validation')).toBe(true);
    const boundary = Math.min(...validation.map((r) => r.anchor_ts));
    // Validation starts 10 anchor instants after 11-27's first anchor (the embargo).
    expect(boundary).toBe(Date.parse('2024-11-27T14:31:00Z') + 10 * BAR_MS);
    expect(Math.max(...train.map((r) => r.label_end_ts))).toBeLessThanOrEqual(Date.parse('2024-11-27T14:31:00Z'));
    expect(h.manifest.rows.by_split).toEqual({ train: 770, validation: 2 * (385 - 10), test: 0 });
    expect(h.manifest.dropped.embargoed).toBe(20);
    expect(h.manifest.rows.by_symbol.AAPL).toEqual({ total: 385 + 375, train: 385, validation: 375, test: 0 });
    expect(h.manifest.split?.validation_start).toBe('2024-11-27T14:31:00.000Z');
  });

  it('refuses without upstream data, and when the configured definition differs from the stored version', async () => {
    const t = await openTempLake();
    lakes.push(t);
    const store = featureStoreFor(t);
    await expect(build(t, store, config())).rejects.toThrow(UpstreamMissingError);
    await expect(build(t, store, config())).rejects.toThrow(/tech version v1 has never been written/);
    store.ensureRegistered({ group: 'tech', version: 'v1', definitionHash: featureDefinitionHash(TECH_GROUP), featureColumns: ['ret_1', 'sma_3'] });
    await expect(build(t, store, config())).rejects.toThrow('dataset fwd: no curated bars_1min partitions between 2024-11-26 and 2024-11-27; run `ibpipe run transform` first');
    const rows = await writeCuratedDays(t, SYMBOLS, DAYS);
    await writeFeatureDays(t, store, rows, ['2024-11-25']);
    await expect(build(t, store, config())).rejects.toThrow(/no partitions between 2024-11-26 and 2024-11-27/);
    await writeFeatureDays(t, store, rows, ['2024-11-26']);
    const h = await build(t, store, config());
    expect(h.manifest.missing_partitions).toEqual([{ kind: 'features', dataset: 'tech/v=v1', date: '2024-11-27' }]);
    // 11-27's anchors find only 11-26's last row, hours older than the TTL.
    expect(h.manifest.dropped.features_stale).toBe(2 * 385);
    expect(h.manifest.dropped.features_missing).toBe(0);
    expect(h.manifest.rows.total).toBe(2 * 385);
    const cfg = config();
    const conflicting = { ...cfg, featureGroups: [{ ...cfg.featureGroups[0]!, configDefinitionHash: 'f'.repeat(64) }] };
    await expect(build(t, store, conflicting)).rejects.toThrow(VersionConflictError);
    expect(existsSync(t.lake.path('datasets', 'fwd'))).toBe(true);
  });
});
