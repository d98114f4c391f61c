import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseSettings } from '../../src/config/settings.js';
import { ConfigError } from '../../src/core/errors.js';

const inst = { key: 'AAPL', sec_type: 'STK', symbol: 'AAPL', exchange: 'SMART', currency: 'USD', calendar: 'XNYS' };
const tech = {
  name: 'tech',
  version: 'v1',
  source: 'bars_1min',
  features: [
    { name: 'sma_5', fn: 'sma', column: 'close', window: 5 },
    { name: 'macd', fn: 'macd', column: 'close' },
  ],
};

function issuesOf(models: unknown[]): readonly string[] {
  try {
    parseSettings({ instruments: [inst], feature_groups: [tech], models });
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return (err as ConfigError).issues;
  }
  return [];
}

describe('models config', () => {
  it('fills HTTP defaults and resolves local paths against the config directory', () => {
    const s = parseSettings(
      {
        instruments: [inst],
        feature_groups: [tech],
        models: [
          { name: 'ridge', kind: 'local', path: 'models/ridge.json', feature_group: 'tech', feature_version: 'v1' },
          { name: 'remote', kind: 'http', url: 'http://127.0.0.1:8080/predict', version: '7', features: ['sma_5', 'macd_signal'], feature_group: 'tech', feature_version: 'v1' },
        ],
      },
      'cfg.yaml',
      '/etc/ibpipe',
    );
    expect(s.models[0]).toMatchObject({ kind: 'local', path: join('/etc/ibpipe', 'models/ridge.json') });
    expect(s.models[1]).toMatchObject({ timeout_ms: 10_000, retries: 3, backoff_ms: 250, max_backoff_ms: 10_000, batch_size: 1_000 });
  });

  it('reports kind-specific fields, bad URLs and unknown features with their paths', () => {
    const issues = issuesOf([
      { name: 'a', kind: 'local', url: 'http://x', feature_group: 'tech', feature_version: 'v1' },
      { name: 'b', kind: 'http', url: 'ftp://x/y', version: '1', features: ['sma_5'], feature_group: 'tech', feature_version: 'v1' },
      { name: 'c', kind: 'onnx', path: 'm.onnx', feature_group: 'tech', feature_version: 'v1' },
    ]);
    expect(issues).toContain('models[0].path: Invalid input: expected string, received undefined');
    expect(issues).toContain('models[0].url: unknown key');
    expect(issues).toContain('models[1].url: expected an http:// or https:// URL');
    expect(issues.some((i) => i.startsWith('models[2].kind:'))).toBe(true);

    const refs2 = issuesOf([
      { name: 'r', kind: 'http', url: 'http://x/p', version: '1', features: ['sma_5', 'rsi_14'], feature_group: 'tech', feature_version: 'v1' },
      { name: 'r', kind: 'local', path: 'm.json', feature_group: 'nope', feature_version: 'v1' },
    ]);
    expect(refs2).toEqual([
      'models[1].name: duplicate model r (also models[0])',
      'models[0].features[1]: rsi_14 is not a column of feature group tech v1',
      'models[1].feature_group: no feature group named nope in feature_groups',
    ]);
  });
});
