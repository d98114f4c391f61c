import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../../src/core/clock.js';
import { HttpModel } from '../../../src/scoring/models/http-model.js';
import { LinearModel, ModelFileError, saveLinearModel } from '../../../src/scoring/models/linear-model.js';
import { createModel } from '../../../src/scoring/models/model-factory.js';

describe('createModel', () => {
  it('loads local model files and builds HTTP clients from config', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ibpipe-'));
    const path = join(dir, 'm.json');
    saveLinearModel(path, {
      format: 'ibpipe-linear-model', format_version: 1, id: 'ridge', version: '3', kind: 'linear',
      feature_names: ['x'], means: [0], stds: [1], coefficients: [2], intercept: 1,
    });
    const common = { name: 'm', feature_group: 'tech', feature_version: 'v1' };
    const local = createModel({ ...common, kind: 'local', path }, { clock: new ManualClock() });
    expect(local).toBeInstanceOf(LinearModel);
    expect([local.id, local.version]).toEqual(['ridge', '3']);
    expect(await local.predict([{ x: 2 }])).toEqual([5]);
    expect(() => createModel({ ...common, kind: 'local', path: join(dir, 'none.json') }, { clock: new ManualClock() })).toThrow(ModelFileError);

    const http = createModel(
      { ...common, kind: 'http', url: 'http://127.0.0.1:1/p', version: '9', features: ['x', 'y'], timeout_ms: 1, retries: 0, backoff_ms: 0, max_backoff_ms: 0, batch_size: 10 },
      { clock: new ManualClock() },
    );
    expect(http).toBeInstanceOf(HttpModel);
    expect([http.id, http.version, http.featureNames]).toEqual(['m', '9', ['x', 'y']]);
  });
});
