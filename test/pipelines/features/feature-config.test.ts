import { createHash } from 'node:crypto';
import { parse as parseYamlText } from 'yaml';
import { describe, expect, it } from 'vitest';
import { parseSettings } from '../../../src/config/settings.js';
import { ConfigError } from '../../../src/core/errors.js';
import { featureGroupSchema, specOutputColumns } from '../../../src/pipelines/features/feature-config.js';
import type { FeatureGroupInput } from '../../../src/pipelines/features/feature-config.js';
import {
  canonicalFeatureDefinition,
  canonicalJson,
  featureDefinitionHash,
} from '../../../src/pipelines/features/feature-definition-hash.js';

const inst = { key: 'AAPL', sec_type: 'STK', symbol: 'AAPL', exchange: 'SMART', currency: 'USD', calendar: 'XNYS' };

/** The example group from issue 7, verbatim. */
const ISSUE_EXAMPLE = `
feature_groups:
  - name: technical
    version: v1
    source: bars_1min
    features:
      - { name: sma_20, fn: sma, column: close, window: 20 }
      - { name: ema_12, fn: ema, column: close, window: 12 }
      - { name: rsi_14, fn: rsi, column: close, window: 14 }
      - { name: macd, fn: macd, column: close, fast: 12, slow: 26, signal: 9 }
      - { name: bb_20, fn: bollinger, column: close, window: 20, k: 2 }
      - { name: atr_14, fn: atr, window: 14 }
      - { name: vol_20, fn: rolling_volatility, column: close, window: 20 }
      - { name: close_lag, fn: lag, column: close, periods: [1, 5, 10] }   # close_lag_1, close_lag_5, close_lag_10
`;

function configIssues(featureGroups: unknown): string[] {
  try {
    parseSettings({ instruments: [inst], feature_groups: featureGroups });
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return [...(err as ConfigError).issues];
  }
  return expect.fail('expected a ConfigError');
}

const group = (features: unknown[], extra: Record<string, unknown> = {}): Record<string, unknown> => ({
  name: 'technical',
  version: 'v1',
  source: 'bars_1min',
  features,
  ...extra,
});

describe('feature_groups config slice', () => {
  it('parses the example group from the issue, with the issue\'s output column names', () => {
    const raw = parseYamlText(ISSUE_EXAMPLE) as { feature_groups: unknown };
    const settings = parseSettings({ instruments: [inst], ...raw });
    const [g] = settings.feature_groups;
    expect(g?.name).toBe('technical');
    expect(g?.features.map((f) => f.fn)).toEqual(['sma', 'ema', 'rsi', 'macd', 'bollinger', 'atr', 'rolling_volatility', 'lag']);
    expect(g?.features.flatMap((f) => specOutputColumns(f))).toEqual([
      'sma_20',
      'ema_12',
      'rsi_14',
      'macd',
      'macd_signal',
      'macd_hist',
      'bb_20_lower',
      'bb_20_mid',
      'bb_20_upper',
      'atr_14',
      'vol_20',
      'close_lag_1',
      'close_lag_5',
      'close_lag_10',
    ]);
    expect(g?.ttl).toBeUndefined();
  });

  it('defaults to no groups', () => {
    expect(parseSettings({ instruments: [inst] }).feature_groups).toEqual([]);
  });

  it('applies per-fn defaults', () => {
    const g = featureGroupSchema.parse(
      group([
        { name: 'r', fn: 'rsi' },
        { name: 'm', fn: 'macd' },
        { name: 'b', fn: 'bollinger' },
        { name: 'a', fn: 'atr' },
        { name: 's', fn: 'rolling_std', window: 5 },
        { name: 'v', fn: 'vwap' },
        { name: 'ret', fn: 'returns' },
      ]),
    );
    expect(g.features).toEqual([
      { name: 'r', fn: 'rsi', column: 'close', window: 14 },
      { name: 'm', fn: 'macd', column: 'close', fast: 12, slow: 26, signal: 9 },
      { name: 'b', fn: 'bollinger', column: 'close', window: 20, k: 2 },
      { name: 'a', fn: 'atr', window: 14 },
      { name: 's', fn: 'rolling_std', column: 'close', window: 5, ddof: 1 },
      { name: 'v', fn: 'vwap', price: 'typical' },
      { name: 'ret', fn: 'returns', column: 'close', period: 1 },
    ]);
  });

  it('parses ttl as seconds or with a unit', () => {
    const ttl = (v: unknown): unknown => featureGroupSchema.parse(group([{ name: 's', fn: 'sma', window: 2 }], { ttl: v })).ttl;
    expect(ttl('5m')).toBe(300);
    expect(ttl('5min')).toBe(300);
    expect(ttl('30s')).toBe(30);
    expect(ttl('2h')).toBe(7200);
    expect(ttl('1d')).toBe(86_400);
    expect(ttl(90)).toBe(90);
    expect(configIssues([group([{ name: 's', fn: 'sma', window: 2 }], { ttl: 'soon' })]).some((i) => i.startsWith('feature_groups[0].ttl:'))).toBe(
      true,
    );
  });

  it('names the path of a bad spec', () => {
    const issues = configIssues([
      group([
        { name: 'sma_20', fn: 'sma', window: 20 },
        { name: 'ok', fn: 'ema', window: 3 },
        { name: 'rsi_0', fn: 'rsi', window: 0 },
        { name: 'x', fn: 'kalman' },
        { name: 'b', fn: 'sma', window: 5, k: 2 },
        { name: 'm', fn: 'macd', fast: 26, slow: 12 },
        { name: 'Bad-Name', fn: 'sma', window: 2 },
        { name: 'l', fn: 'lag', periods: [] },
      ]),
    ]);
    expect(issues.some((i) => i.startsWith('feature_groups[0].features[2].window:'))).toBe(true);
    expect(issues.some((i) => i.startsWith('feature_groups[0].features[3].fn:'))).toBe(true);
    expect(issues).toContain('feature_groups[0].features[4].k: unknown key');
    expect(issues).toContain('feature_groups[0].features[5].fast: fast must be shorter than slow');
    expect(issues.some((i) => i.startsWith('feature_groups[0].features[6].name:'))).toBe(true);
    expect(issues.some((i) => i.startsWith('feature_groups[0].features[7].periods:'))).toBe(true);
    expect(issues.some((i) => i.includes('features[0]') || i.includes('features[1]'))).toBe(false);
  });

  it('rejects colliding or reserved output columns and duplicate groups', () => {
    const issues = configIssues([
      group([
        { name: 'm', fn: 'macd' },
        { name: 'm_signal', fn: 'sma', window: 3 },
        { name: 'ts', fn: 'sma', window: 3 },
        { name: 'close_imputed', fn: 'sma', window: 3 },
        { name: 'm', fn: 'ema', window: 3 },
      ]),
      group([{ name: 's', fn: 'sma', window: 2 }]),
    ]);
    expect(issues.some((i) => i.startsWith('feature_groups[0].features[1].name: output column m_signal is also produced by features[0]'))).toBe(true);
    expect(issues.some((i) => i.startsWith('feature_groups[0].features[2].name: output column ts is reserved'))).toBe(true);
    expect(issues.some((i) => i.startsWith('feature_groups[0].features[3].name: output column close_imputed is reserved'))).toBe(true);
    expect(issues.some((i) => i.startsWith('feature_groups[0].features[4].name: duplicate feature name m'))).toBe(true);
    expect(issues.some((i) => i.startsWith('feature_groups[1].name: duplicate feature group technical'))).toBe(true);
  });

  it('rejects unknown group keys and path-unsafe names', () => {
    const issues = configIssues([{ ...group([{ name: 's', fn: 'sma', window: 2 }]), name: '../x', version: 'v 1', extra: true }]);
    expect(issues.some((i) => i.startsWith('feature_groups[0].name:'))).toBe(true);
    expect(issues.some((i) => i.startsWith('feature_groups[0].version:'))).toBe(true);
    expect(issues).toContain('feature_groups[0].extra: unknown key');
  });
});

describe('feature definition hash', () => {
  const base: FeatureGroupInput = {
    name: 'technical',
    version: 'v1',
    source: 'bars_1min',
    ttl: '5m',
    features: [
      { name: 'sma_20', fn: 'sma', column: 'close', window: 20 },
      { name: 'macd', fn: 'macd', fast: 12, slow: 26, signal: 9 },
      { name: 'bb_20', fn: 'bollinger', window: 20, k: 2 },
    ],
  };

  it('is the sha256 of a documented canonical form', () => {
    const g: FeatureGroupInput = { name: 'g', version: 'v1', source: 'bars_1min', features: [{ name: 's', fn: 'sma', window: 3 }] };
    // Written out by hand: sorted keys, defaults applied, no whitespace, name/version/ttl excluded.
    const expected = '{"features":[{"column":"close","fn":"sma","name":"s","window":3}],"hash_version":1,"source":"bars_1min"}';
    expect(canonicalFeatureDefinition(g)).toBe(expected);
    expect(featureDefinitionHash(g)).toBe(createHash('sha256').update(expected).digest('hex'));
  });

  it('is stable under key reordering, feature reordering and spelled-out defaults', () => {
    const h = featureDefinitionHash(base);
    const reordered: FeatureGroupInput = {
      features: [
        { k: 2, window: 20, fn: 'bollinger', name: 'bb_20', column: 'close' },
        { window: 20, column: 'close', fn: 'sma', name: 'sma_20' },
        { signal: 9, slow: 26, fast: 12, fn: 'macd', name: 'macd', column: 'close' },
      ],
      source: 'bars_1min',
      ttl: 300,
      version: 'v1',
      name: 'technical',
    };
    expect(featureDefinitionHash(reordered)).toBe(h);
    // Parsed and raw forms hash alike.
    expect(featureDefinitionHash(featureGroupSchema.parse(base))).toBe(h);
    expect(h).toMatch(/^[0-9a-f]{64}$/);
  });

  it('changes when a param, a feature or the source changes, not with version or ttl', () => {
    const h = featureDefinitionHash(base);
    const withFeatures = (features: FeatureGroupInput['features']): FeatureGroupInput => ({ ...base, features });
    const [sma, macd, bb] = base.features;
    expect(featureDefinitionHash(withFeatures([{ name: 'sma_20', fn: 'sma', window: 21 }, macd!, bb!]))).not.toBe(h);
    expect(featureDefinitionHash(withFeatures([sma!, { ...macd!, signal: 8 } as never, bb!]))).not.toBe(h);
    expect(featureDefinitionHash(withFeatures([sma!, macd!, { ...bb!, k: 2.5 } as never]))).not.toBe(h);
    expect(featureDefinitionHash(withFeatures([sma!, macd!]))).not.toBe(h);
    expect(featureDefinitionHash(withFeatures([{ ...sma!, column: 'open' } as never, macd!, bb!]))).not.toBe(h);
    expect(featureDefinitionHash({ ...base, source: 'bars_5min' })).not.toBe(h);
    expect(featureDefinitionHash({ ...base, version: 'v2', ttl: '1h' })).toBe(h);
  });

  it('refuses an invalid definition with a ConfigError naming the path', () => {
    try {
      featureDefinitionHash({ ...base, features: [{ name: 's', fn: 'sma', window: -1 }] });
      expect.unreachable();
    } catch (err) {
      expect(err).toBeInstanceOf(ConfigError);
      expect((err as ConfigError).issues.some((i) => i.startsWith('features[0].window:'))).toBe(true);
    }
  });

  it('canonical JSON sorts keys at every depth and normalises -0', () => {
    expect(canonicalJson({ b: [{ z: 1, a: -0 }], a: 'x', u: undefined })).toBe('{"a":"x","b":[{"a":0,"z":1}]}');
  });
});
