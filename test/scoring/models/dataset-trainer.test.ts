import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { InputError } from '../../../src/core/errors.js';
import { sqlString } from '../../../src/core/sql.js';
import { trainModelOnDataset } from '../../../src/scoring/models/dataset-trainer.js';
import { loadLinearModel } from '../../../src/scoring/models/linear-model.js';
import { openTempLake, type TempLake } from '../../support/temp-lake.js';

const ID = '0123456789abcdef';
let t: TempLake;
beforeEach(async () => {
  t = await openTempLake();
});
afterEach(async () => {
  await t.cleanup();
});

/**
 * A hand-made dataset folder: 300 rows, a = i mod 17, b = (i·7) mod 23, c from group `other`;
 * y = 1 + 2a − 3b exactly (or its sign class for a direction label); rows 0–199 train,
 * 200–249 validation, 250–299 test; row 0 has a NULL a (warm-up).
 */
async function writeDataset(kind: 'forward_return' | 'direction' = 'forward_return'): Promise<void> {
  const dir = t.lake.path('datasets', 'hand', ID);
  mkdirSync(dir, { recursive: true });
  const y = kind === 'direction' ? 'CASE WHEN 1 + 2 * a - 3 * b > 0 THEN 1.0 WHEN 1 + 2 * a - 3 * b < 0 THEN -1.0 ELSE 0.0 END' : '1 + 2 * a - 3 * b';
  await t.lake.run(
    `COPY (SELECT 'AAPL' AS symbol, i AS ts, CASE WHEN i = 0 THEN NULL ELSE a END AS a, a AS a_copy, b, c, ${y} AS y,
       CASE WHEN i < 200 THEN 'train' WHEN i < 250 THEN 'validation' ELSE 'test' END AS split
     FROM (SELECT i, CAST(i % 17 AS DOUBLE) AS a, CAST((i * 7) % 23 AS DOUBLE) AS b, CAST(i % 5 AS DOUBLE) AS c FROM range(300) r(i)))
     TO ${sqlString(join(dir, 'data.parquet'))} (FORMAT parquet)`,
  );
  const manifest = {
    format: 'ibpipe-dataset',
    format_version: 1,
    id: ID,
    name: 'hand',
    label: { name: 'y', kind, horizon_bars: 1, across_sessions: false, imputed_policy: 'drop' },
    feature_groups: [
      { name: 'g', version: 'v1', definition_hash: 'a'.repeat(64), columns: ['a', 'b', 'a_copy'], ttl_ms: 300_000 },
      { name: 'other', version: 'v3', definition_hash: 'b'.repeat(64), columns: ['c'], ttl_ms: 300_000 },
    ],
    feature_columns: ['a', 'b', 'a_copy', 'c'],
    label_column: 'y',
    split: { spec: { train: 0.67, validation: 0.17, test: 0.16, embargo_bars: 0 }, validation_start: null, test_start: null },
  };
  writeFileSync(join(dir, 'manifest.json'), JSON.stringify(manifest));
}

describe('trainModelOnDataset', () => {
  it('fits on the train split only, evaluates every split, and writes a content-versioned file plus latest.json', async () => {
    await writeDataset();
    const r = await trainModelOnDataset(t.lake, { datasetId: ID, features: ['a', 'b'], ridge: 0 });
    expect(r).toMatchObject({ model: 'hand-linear', kind: 'linear', label: 'y', featureGroup: { name: 'g', version: 'v1' }, dataset: { id: ID, name: 'hand' } });
    expect(r.metrics.train).toMatchObject({ rows: 199, skipped: 1 });
    // The relation is exact, so out-of-sample predictions are exact too.
    for (const split of ['validation', 'test'] as const) {
      expect(r.metrics[split]!.rows).toBe(50);
      expect(r.metrics[split]!.rmse).toBeLessThan(1e-9);
      expect(r.metrics[split]!.r2).toBeCloseTo(1, 12);
    }
    const model = loadLinearModel(r.path);
    expect(model.predictSync([{ a: 4, b: 2 }])[0]).toBeCloseTo(1 + 8 - 6, 9);
    expect(model.version).toBe(r.version);
    expect(r.version).toMatch(/^[0-9a-f]{12}$/);
    expect(r.path).toBe(t.lake.path('models', 'hand-linear', `${r.version}.json`));
    expect(readFileSync(r.latestPath).equals(readFileSync(r.path))).toBe(true);
    expect(model.document.metadata).toMatchObject({ dataset_id: ID, feature_group: { name: 'g', version: 'v1' } });

    // Same dataset and options: same version; other options: another version.
    expect((await trainModelOnDataset(t.lake, { datasetId: ID, features: ['a', 'b'], ridge: 0 })).version).toBe(r.version);
    expect((await trainModelOnDataset(t.lake, { datasetId: ID, features: ['a', 'b'], ridge: 0.1 })).version).not.toBe(r.version);
    // Duplicate columns make plain least squares singular; the default ridge keeps the fit defined.
    await expect(trainModelOnDataset(t.lake, { datasetId: ID, features: ['a', 'a_copy'], ridge: 0 })).rejects.toThrow(/collinear/);
    const dup = await trainModelOnDataset(t.lake, { datasetId: ID, features: ['a', 'a_copy'] });
    const doc = loadLinearModel(dup.path).document;
    expect(doc.coefficients[0]).toBeCloseTo(doc.coefficients[1]!, 12);
    expect(doc.metadata).toMatchObject({ training: { ridge: 0.01 } });
  });

  it('defaults to logistic for a direction label and refuses features a single group cannot serve', async () => {
    await writeDataset('direction');
    await expect(trainModelOnDataset(t.lake, { datasetId: ID })).rejects.toThrow(/must all come from one feature group/);
    const r = await trainModelOnDataset(t.lake, { datasetId: ID, features: ['a', 'b'], ridge: 0.01, modelName: 'dir' });
    expect(r.kind).toBe('logistic');
    expect(r.metrics.validation!.accuracy).toBeGreaterThan(0.9);
    await expect(trainModelOnDataset(t.lake, { datasetId: ID, features: ['zz'] })).rejects.toThrow(InputError);
    await expect(trainModelOnDataset(t.lake, { datasetId: 'fedcba9876543210' })).rejects.toThrow(/no dataset fedcba9876543210/);
    await expect(trainModelOnDataset(t.lake, { datasetId: '../x' })).rejects.toThrow(/16 hex characters/);
  });
});
