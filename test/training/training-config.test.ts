import { describe, expect, it } from 'vitest';
import { parseSettings } from '../../src/config/settings.js';
import { ConfigError } from '../../src/core/errors.js';
import { datasetSpecSchema, labelSpecSchema } from '../../src/training/training-config.js';

const inst = { key: 'AAPL', sec_type: 'STK', symbol: 'AAPL', exchange: 'SMART', currency: 'USD', calendar: 'XNYS' };
const tech = { name: 'tech', version: 'v1', source: 'bars_1min', features: [{ name: 'sma_5', fn: 'sma', column: 'close', window: 5 }] };
const dataset = {
  name: 'ret5',
  feature_groups: [{ name: 'tech', version: 'v1' }],
  label: 'fwd5',
  start: '2024-01-02',
  end: '2024-03-28',
  symbols: ['AAPL'],
};

function issuesOf(raw: unknown): readonly string[] {
  try {
    parseSettings(raw);
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return (err as ConfigError).issues;
  }
  return [];
}

describe('training config', () => {
  it('fills defaults', () => {
    const s = parseSettings({
      instruments: [inst],
      feature_groups: [tech],
      labels: [{ name: 'fwd5', kind: 'forward_return', horizon_bars: 5 }],
      datasets: [{ ...dataset, split: { train: 0.7, validation: 0.15, test: 0.15, embargo_bars: 5 } }],
    });
    expect(s.labels[0]).toEqual({ name: 'fwd5', kind: 'forward_return', horizon_bars: 5, across_sessions: false, imputed_policy: 'drop' });
    expect(s.datasets[0]!.feature_groups[0]).toEqual({ name: 'tech', version: 'v1' });
    expect(s.datasets[0]!.filters).toEqual({ drop_imputed_inputs: true });
    expect(s.datasets[0]!.split?.embargo_bars).toBe(5);
  });

  it('reports bad label specs with their paths', () => {
    const issues = issuesOf({
      instruments: [inst],
      labels: [
        { name: 'fwd5', kind: 'forward_return', horizon_bars: 0, threshold: 0.01 },
        { name: 'Bad-Name', kind: 'up', horizon_bars: 1, imputed_policy: 'keep', extra: 1 },
      ],
    });
    expect(issues.some((i) => i.startsWith('labels[0].horizon_bars:'))).toBe(true);
    expect(issues.some((i) => i.startsWith('labels[1].name:'))).toBe(true);
    expect(issues.some((i) => i.startsWith('labels[1].kind:'))).toBe(true);
    expect(issues.some((i) => i.startsWith('labels[1].imputed_policy:'))).toBe(true);
    expect(issues).toContain('labels[1].extra: unknown key');
    expect(labelSpecSchema.safeParse({ name: 'a', kind: 'forward_return', horizon_bars: 1, threshold: 0.01 }).error?.issues[0]?.path).toEqual(['threshold']);
  });

  it('checks dataset specs: dates, split forms, duplicates', () => {
    const bad = (o: Record<string, unknown>) => datasetSpecSchema.safeParse({ ...dataset, ...o }).error?.issues.map((i) => `${i.path.join('.')}: ${i.message}`) ?? [];
    expect(bad({ end: '2023-12-29' })).toEqual(['end: must not be before start (2024-01-02)']);
    expect(bad({ start: '2024-02-30' })).toEqual(['start: not a calendar date']);
    expect(bad({ split: { train: 0.8, validation: 0.1 } })).toEqual(['split: train + validation + test must be 1, got 0.9']);
    expect(bad({ split: { train: 0.8, test_start: '2024-03-01' } })[0]).toMatch(/either fractions .* or dates/);
    expect(bad({ split: { embargo_bars: 3 } })[0]).toMatch(/expected fractions/);
    expect(bad({ split: { validation_start: '2024-03-01', test_start: '2024-02-01' } })).toContain('split.test_start: must be after validation_start (2024-03-01)');
    expect(bad({ split: { test_start: '2024-05-01' } })).toEqual(['split.test_start: must lie in (2024-01-02, 2024-03-28]']);
    expect(bad({ symbols: ['AAPL', 'AAPL'] })).toEqual(['symbols.1: duplicate symbol AAPL']);
    expect(bad({ name: '../x' })[0]).toMatch(/^name: must match/);
    expect(bad({ split: { validation_start: '2024-02-01', test_start: '2024-03-01' } })).toEqual([]);
  });

  it('cross-checks dataset labels and symbols against the rest of the config', () => {
    const issues = issuesOf({
      instruments: [inst],
      labels: [{ name: 'fwd5', kind: 'forward_return', horizon_bars: 5 }, { name: 'fwd5', kind: 'direction', horizon_bars: 5 }],
      datasets: [{ ...dataset, label: 'nope', symbols: ['AAPL', 'MSFT'] }],
    });
    expect(issues).toContain('labels[1].name: duplicate name fwd5 (also [0])');
    const refs = issuesOf({
      instruments: [inst],
      feature_groups: [tech],
      labels: [{ name: 'fwd5', kind: 'forward_return', horizon_bars: 5 }],
      datasets: [{ ...dataset, label: 'nope', symbols: ['AAPL', 'MSFT'], feature_groups: [{ name: 'tech', version: 'v1' }, { name: 'other', version: 'v2' }] }],
    });
    expect(refs).toEqual([
      'datasets[0].label: no label named nope in labels',
      'datasets[0].feature_groups[1].name: no feature group named other in feature_groups',
      'datasets[0].symbols[1]: MSFT is not a configured instrument',
    ]);
  });
});
