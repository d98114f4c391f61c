import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/core/clock.js';
import { VersionConflictError } from '../../src/core/errors.js';
import { FeatureRegistryStore } from '../../src/storage/feature-registry-store.js';
import { OfflineFeatureStore, type FeaturePartitionsWrite } from '../../src/storage/offline-feature-store.js';
import { openTempLake, type TempLake } from '../support/temp-lake.js';

let t: TempLake;
beforeAll(async () => {
  t = await openTempLake();
});
afterAll(async () => t.cleanup());

const write = (over: Partial<FeaturePartitionsWrite> = {}): FeaturePartitionsWrite => ({
  group: 'technical',
  version: 'v1',
  definitionHash: 'a'.repeat(64),
  dates: ['2024-11-26', '2024-11-25'],
  symbols: ['AAPL'],
  featureColumns: ['f'],
  ...over,
});
const rows = `(SELECT 'AAPL' AS symbol, TIMESTAMPTZ '2024-11-25 15:00:00+00' + INTERVAL (d) DAY AS ts, TIMESTAMPTZ '2024-11-25 15:01:00+00' + INTERVAL (d) DAY AS available_ts,
                false AS is_imputed, NULL AS imputation, CAST(d AS DOUBLE) AS f, CAST(DATE '2024-11-25' + INTERVAL (d) DAY AS DATE) AS date FROM range(2) r(d))`;

describe('OfflineFeatureStore', () => {
  it('tells its owner of every partition file it replaced, and of none when a write is refused', async () => {
    const replaced: string[] = [];
    const store = new OfflineFeatureStore(t.lake, new FeatureRegistryStore(t.lake, new ManualClock(0)), (file) => replaced.push(file));
    expect(await store.writeFeaturesFromRelation(write(), rows)).toEqual({ rows: 2, revisions: 0 });
    expect(replaced).toEqual([store.partitionFile('technical', 'v1', '2024-11-25'), store.partitionFile('technical', 'v1', '2024-11-26')]);
    expect(store.existingFiles('technical', 'v1', ['2024-11-26', '2024-11-25', '2024-11-24']).map((p) => p.date)).toEqual(['2024-11-25', '2024-11-26']);
    replaced.length = 0;
    await expect(store.writeFeaturesFromRelation(write({ definitionHash: 'b'.repeat(64) }), rows)).rejects.toThrow(VersionConflictError);
    expect(replaced).toEqual([]);
    const back = await store.getFeaturesForTraining('technical', 'v1', '2024-11-25', '2024-11-26');
    expect(back.map((r) => [r.date, r.f, r.feature_group, r.version])).toEqual([
      ['2024-11-25', 0, 'technical', 'v1'],
      ['2024-11-26', 1, 'technical', 'v1'],
    ]);
  });

  it('writes dates on several lanes at once: every date once, rows and revisions summed over the lanes, a failed date not published', async () => {
    const store = new OfflineFeatureStore(t.lake, new FeatureRegistryStore(t.lake, new ManualClock(0)));
    const lanes = [await t.lake.fork(), await t.lake.fork()];
    try {
      const dates = ['2024-12-02', '2024-12-03', '2024-12-04', '2024-12-05', '2024-12-06'];
      // Date k holds k + 1 rows (AAPL at minutes 0..k), so a lost or doubled count shows in the sum.
      const dayRows = (d: string, k: number): string =>
        `(SELECT 'AAPL' AS symbol, TIMESTAMPTZ '${d} 15:00:00+00' + INTERVAL (m) MINUTE AS ts, TIMESTAMPTZ '${d} 15:01:00+00' + INTERVAL (m) MINUTE AS available_ts,
                 false AS is_imputed, NULL AS imputation, CAST(m AS DOUBLE) AS f FROM range(${k + 1}) r(m))`;
      const w = write({ version: 'lanes', dates });
      expect(await store.writeFeaturesFromRelation(w, (d) => dayRows(d, dates.indexOf(d)), { ordered: true, lanes })).toEqual({ rows: 15, revisions: 0 });
      // Again with one value changed on each date: one revision per date, counted on whichever lane wrote it.
      const changed = (d: string): string => `(SELECT * REPLACE (CASE WHEN f = 0 THEN -1 ELSE f END AS f) FROM ${dayRows(d, dates.indexOf(d))})`;
      expect(await store.writeFeaturesFromRelation(w, changed, { ordered: true, lanes })).toEqual({ rows: 15, revisions: 5 });
      const back = await store.getFeaturesForTraining('technical', 'lanes', dates[0] as string, dates[4] as string);
      expect(back.map((r) => [r.date, r.f])).toEqual(dates.flatMap((d, k) => Array.from({ length: k + 1 }, (_, m) => [d, m === 0 ? -1 : m])));

      const bad = ['2024-12-09', '2024-12-10'];
      const failing = (d: string): string => (d === '2024-12-10' ? `(SELECT * REPLACE (error('boom') AS f) FROM ${dayRows(d, 0)})` : dayRows(d, 0));
      await expect(store.writeFeaturesFromRelation(write({ version: 'lanes', dates: bad }), failing, { ordered: true, lanes })).rejects.toThrow(/boom/);
      expect(store.existingFiles('technical', 'lanes', bad).map((p) => p.date)).not.toContain('2024-12-10');
    } finally {
      for (const lane of lanes) await lane.close();
    }
  });
});
