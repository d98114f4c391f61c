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
});
