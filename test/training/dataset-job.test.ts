import { describe, expect, it } from 'vitest';
import { parseSettings } from '../../src/config/settings.js';
import { InputError } from '../../src/core/errors.js';
import { featureDefinitionHash } from '../../src/pipelines/features/feature-definition-hash.js';
import { datasetBuildConfigFrom, withRange } from '../../src/jobs/dataset-job.js';
import { featureTtlMs } from '../../src/training/feature-timing.js';

const inst = { key: 'AAPL', sec_type: 'STK', symbol: 'AAPL', exchange: 'SMART', currency: 'USD', calendar: 'XNYS' };
const tech = { name: 'tech', version: 'v2', source: 'bars_5min', ttl: '90s', features: [{ name: 'sma_5', fn: 'sma', column: 'close', window: 5 }] };
const slow = { name: 'slow', version: 'v1', source: 'bars_5min', features: [{ name: 'ema_50', fn: 'ema' as const, column: 'close', window: 50 }] };
const dataset = {
  name: 'ret5',
  feature_groups: [
    { name: 'tech', version: 'v1' },
    { name: 'slow', version: 'v1' },
  ],
  label: 'fwd5',
  start: '2024-01-02',
  end: '2024-03-28',
  symbols: ['AAPL'],
  split: { validation_start: '2024-03-01', embargo_bars: 3 },
};

function settings(over: Record<string, unknown> = {}) {
  return parseSettings({
    instruments: [inst],
    feature_groups: [tech, slow],
    labels: [{ name: 'fwd5', kind: 'forward_return', horizon_bars: 5 }],
    datasets: [dataset],
    ...over,
  });
}

describe('datasetBuildConfigFrom', () => {
  it('resolves the label, the source bar length and each group TTL; pins the definition hash only at the configured version', () => {
    const s = settings();
    const cfg = datasetBuildConfigFrom(s, 'ret5');
    expect(cfg.label).toEqual({ name: 'fwd5', kind: 'forward_return', horizon_bars: 5, across_sessions: false, imputed_policy: 'drop' });
    expect(cfg.source).toEqual({ kind: 'curated', name: 'bars_5min', barMs: 300_000 });
    expect(cfg.featureGroups).toEqual([
      // tech is configured at v2 but the dataset pins v1: the stored v1 is used as registered.
      { name: 'tech', version: 'v1', ttlMs: 90_000 },
      // slow has no ttl: five bars of its source.
      { name: 'slow', version: 'v1', ttlMs: 5 * 300_000, configDefinitionHash: featureDefinitionHash(slow) },
    ]);
    expect(datasetBuildConfigFrom(s, undefined).dataset.name).toBe('ret5');
  });

  it('names what is wrong: unknown dataset, ambiguous default, groups on different sources', () => {
    expect(() => datasetBuildConfigFrom(settings(), 'nope')).toThrow(/no dataset named nope in datasets \(configured: ret5\)/);
    const two = settings({ datasets: [dataset, { ...dataset, name: 'other' }] });
    expect(() => datasetBuildConfigFrom(two, undefined)).toThrow(InputError);
    const mixed = settings({ feature_groups: [{ ...tech, source: 'bars_1min' }, slow] });
    expect(() => datasetBuildConfigFrom(mixed, 'ret5')).toThrow(/read different sources \(bars_1min, bars_5min\)/);
    const aligned = settings({
      alignments: [{ name: 'aligned_15min', source: 'bars_5min', frequency: '15min' }],
      feature_groups: [{ ...tech, source: 'aligned_15min' }, { ...slow, source: 'aligned_15min' }],
    });
    expect(datasetBuildConfigFrom(aligned, 'ret5').source).toEqual({ kind: 'aligned', name: 'aligned_15min', barMs: 900_000 });
    expect(featureTtlMs(undefined, 60_000)).toBe(300_000);
  });

  it('takes another anchor range from --start/--end and re-checks the split cutoffs', () => {
    const cfg = datasetBuildConfigFrom(settings(), 'ret5');
    const narrowed = withRange(cfg, '2024-02-01', undefined);
    expect([narrowed.dataset.start, narrowed.dataset.end]).toEqual(['2024-02-01', '2024-03-28']);
    expect(withRange(cfg, undefined, undefined)).toBe(cfg);
    expect(() => withRange(cfg, '2024-03-05', '2024-03-28')).toThrow(/split\.validation_start: must lie in \(2024-03-05, 2024-03-28\]/);
  });
});
