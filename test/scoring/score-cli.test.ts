import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Lake } from '../../src/storage/lake.js';
import { PredictionStore } from '../../src/storage/prediction-store.js';
import { loadLinearModel } from '../../src/scoring/models/linear-model.js';
import { priceAt } from '../support/bar-factory.js';
import { runCli } from '../support/child.js';
import { BAR_MS, featureStoreFor, writeCuratedDays, writeFeatureDays } from '../support/feature-lake.js';
import { openTempLake } from '../support/temp-lake.js';

const CONFIG = `
lake: { root: ./lake }
instruments:
  - { key: AAPL, sec_type: STK, symbol: AAPL, exchange: SMART, primary_exchange: NASDAQ, currency: USD, calendar: XNYS, what_to_show: TRADES }
  - { key: MSFT, sec_type: STK, symbol: MSFT, exchange: SMART, primary_exchange: NASDAQ, currency: USD, calendar: XNYS, what_to_show: TRADES }
feature_groups:
  - name: tech
    version: v1
    source: bars_1min
    features:
      - { name: ret_1, fn: returns, column: close, period: 1 }
      - { name: sma_3, fn: sma, column: close, window: 3 }
labels:
  - { name: fwd5, kind: forward_return, horizon_bars: 5 }
datasets:
  - name: fwd
    feature_groups: [{ name: tech, version: v1 }]
    label: fwd5
    start: '2024-11-25'
    end: '2024-11-26'
    symbols: [AAPL, MSFT]
    split: { train: 0.7, validation: 0.3, embargo_bars: 5 }
models:
  - { name: fwd-linear, kind: local, path: ./lake/models/fwd-linear/latest.json, feature_group: tech, feature_version: v1 }
logging: { level: warn }
`;

let dir: string;
let config: string;
beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'ibpipe-'));
  config = join(dir, 'config.yaml');
  writeFileSync(config, CONFIG);
  const t = await openTempLake(join(dir, 'lake'));
  const rows = await writeCuratedDays(t, ['AAPL', 'MSFT'], ['2024-11-25', '2024-11-26']);
  await writeFeatureDays(t, featureStoreFor(t), rows, ['2024-11-25', '2024-11-26']);
  await t.lake.close();
});
afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

describe('ibpipe run dataset / train / run score (child processes)', () => {
  it('builds a dataset, trains on it, scores with the trained model, and refuses a date without features', async () => {
    const built = await runCli(['run', 'dataset', '--config', config, '--name', 'fwd', '--format', 'json']);
    expect(built.stderr).toBe('');
    expect(built.code).toBe(0);
    const [run] = JSON.parse(built.stdout) as [{ status: string; summary: { id: string; path: string; manifest: { rows: { by_split: Record<string, number> } } } }];
    expect(run.status).toBe('ok');
    const { id, path, manifest } = run.summary;
    expect(id).toMatch(/^[0-9a-f]{16}$/);
    expect(path).toBe(join(dir, 'lake', 'datasets', 'fwd', id));
    expect(existsSync(join(path, 'data.parquet'))).toBe(true);

    const trained = await runCli(['train', '--config', config, '--dataset', id, '--format', 'json']);
    expect(trained.stderr).toBe('');
    expect(trained.code).toBe(0);
    const result = JSON.parse(trained.stdout) as { model: string; version: string; latestPath: string; metrics: Record<string, { rows: number; skipped: number; rmse: number }> };
    expect(result.model).toBe('fwd-linear');
    expect(result.latestPath).toBe(join(dir, 'lake', 'models', 'fwd-linear', 'latest.json'));
    // The first bars of 11-25 have no return / 3-bar mean yet (features start that day): 2 rows per symbol skipped.
    expect(result.metrics.train).toMatchObject({ rows: manifest.rows.by_split.train! - 4, skipped: 4 });
    expect(result.metrics.validation).toMatchObject({ rows: manifest.rows.by_split.validation!, skipped: 0 });
    expect(result.metrics.train!.rmse).toBeGreaterThan(0);
    const model = loadLinearModel(result.latestPath);
    expect(model.version).toBe(result.version);
    expect(model.document.metadata).toMatchObject({ dataset_id: id });

    const scored = await runCli(['run', 'score', '--config', config, '--date', '2024-11-26', '--at', '2024-11-26T10:00:00-05:00', '--format', 'json']);
    expect(scored.stderr).toBe('');
    expect(scored.code).toBe(0);
    const lake = await Lake.open({ root: join(dir, 'lake') });
    try {
      const rows = await new PredictionStore(lake).readPredictions('fwd-linear', '2024-11-26');
      expect(rows.map((r) => [r.symbol, r.status, r.model_version])).toEqual([
        ['AAPL', 'ok', result.version],
        ['MSFT', 'ok', result.version],
      ]);
      // The stored score is the model file's formula on the 14:59 bar's features, computed here from the prices.
      const doc = model.document;
      for (const r of rows) {
        const bar = Date.parse('2024-11-26T14:59:00Z');
        const c = [0, 1, 2].map((k) => priceAt(r.symbol, bar - k * BAR_MS));
        const x = [c[0]! / c[1]! - 1, (c[0]! + c[1]! + c[2]!) / 3];
        const expected = x.reduce((s, v, j) => s + doc.coefficients[j]! * ((v - doc.means[j]!) / doc.stds[j]!), doc.intercept);
        expect(r.score).toBeCloseTo(expected, 9);
        expect(r.feature_available_ts).toBe(Date.parse('2024-11-26T15:00:00Z'));
      }
    } finally {
      await lake.close();
    }

    const refused = await runCli(['run', 'score', '--config', config, '--date', '2024-11-27', '--format', 'json']);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain('error [UPSTREAM_MISSING]: cannot score model fwd-linear for 2024-11-27: the feature partition features/tech/v=v1/date=2024-11-27/data.parquet is missing');
    expect(existsSync(join(dir, 'lake', 'predictions', 'fwd-linear', 'date=2024-11-27'))).toBe(false);
  });
});
