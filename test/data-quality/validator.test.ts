import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { dqRulesConfigSchema, gapsConfigSchema } from '../../src/data-quality/dq-config.js';
import { DqMetricsExporter, computeNullRates } from '../../src/data-quality/metrics.js';
import { validate, withOutcome } from '../../src/data-quality/validator.js';

const T0 = Date.parse('2024-03-12T13:30:00Z');
const MIN = 60_000;

const rules = dqRulesConfigSchema.parse({
  tws_bars: [
    { type: 'range', field: 'close', min: 0.01, severity: 'error', action: 'quarantine' },
    { type: 'ohlc_consistency', severity: 'error', action: 'quarantine' },
    { type: 'not_null', name: 'wap_present', fields: ['wap'], severity: 'warn', action: 'log' },
    { type: 'range', name: 'volume_cap', field: 'volume', max: 1e6, severity: 'error', action: 'fail' },
  ],
}).tws_bars as NonNullable<ReturnType<typeof dqRulesConfigSchema.parse>['tws_bars']>;

function row(i: number, over: Record<string, unknown> = {}): Record<string, unknown> {
  return { symbol: 'A', ts: T0 + i * MIN, open: 10, high: 11, low: 9, close: 10, volume: 5, wap: 10, ...over };
}

describe('validate', () => {
  it('routes failures by action and reports severity and metrics', () => {
    const rows = [
      row(0),
      row(1, { close: 0, low: 0 }), // range_close
      row(2, { high: 8 }), // ohlc only
      row(3, { close: -1, low: -1, high: -2 }), // range_close and ohlc
      row(4, { wap: null }), // log only
      row(5),
    ];
    const res = validate(rows, rules);
    expect(res.quarantine).toEqual([
      { row: 1, rule: 'range_close', reason: 'close 0 is below min 0.01', otherRules: [] },
      { row: 2, rule: 'ohlc_consistency', reason: 'low 9 > high 8; open 10 > high 8; close 10 > high 8', otherRules: [] },
      { row: 3, rule: 'range_close', reason: 'close -1 is below min 0.01', otherRules: ['ohlc_consistency'] },
    ]);
    expect(res.severity).toBe('error');
    expect(res.publish).toBe(true);
    expect(res.failingRules).toEqual([]);
    expect(res.failed.map((f) => [f.rule, f.row])).toEqual([
      ['range_close', 1],
      ['range_close', 3],
      ['ohlc_consistency', 2],
      ['ohlc_consistency', 3],
      ['wap_present', 4],
    ]);
    expect(res.metrics.rules.map((r) => [r.name, r.failures])).toEqual([
      ['range_close', 2],
      ['ohlc_consistency', 2],
      ['wap_present', 1],
      ['volume_cap', 0],
    ]);
    expect(res.metrics.quarantinedRows).toBe(3);
    expect(res.metrics.rows).toBe(6);
    expect(res.metrics.nullRates.wap).toBeCloseTo(1 / 6, 15);
    expect(res.metrics.nullRates.close).toBe(0);
  });

  it('an error + fail rule refuses publication', () => {
    const res = validate([row(0), row(1, { volume: 2e6 })], rules);
    expect(res.publish).toBe(false);
    expect(res.failingRules).toEqual(['volume_cap']);
    expect(res.severity).toBe('error');
  });

  it('warn-only failures give severity warn; clean data gives ok', () => {
    expect(validate([row(0, { wap: null })], rules).severity).toBe('warn');
    const clean = validate([row(0), row(1)], rules);
    expect(clean.severity).toBe('ok');
    expect(clean.failed).toEqual([]);
  });

  it('folds in an outside outcome (gap engine over-limit gaps)', () => {
    const base = validate([row(0)], rules);
    const failure = { row: null, entity: 'A', reason: 'gap' };
    const logged = withOutcome(base, { name: 'max_gap_bars', type: 'gap', severity: 'warn', action: 'log', failures: [failure] });
    expect(logged.severity).toBe('warn');
    expect(logged.publish).toBe(true);
    const failing = withOutcome(base, { name: 'max_gap_bars', type: 'gap', severity: 'error', action: 'fail', failures: [failure] });
    expect(failing.publish).toBe(false);
    expect(failing.metrics.rules.at(-1)).toEqual({ name: 'max_gap_bars', type: 'gap', severity: 'error', action: 'fail', failures: 1 });
  });

  it('computes null rates over the union of columns', () => {
    expect(computeNullRates([{ a: 1 }, { a: null, b: 2 }, { a: Number.NaN }, {}])).toEqual({ a: 0.75, b: 0.75 });
    expect(computeNullRates([], ['a'])).toEqual({ a: 0 });
  });
});

describe('DqMetricsExporter', () => {
  it('exports a run on the registry it is given', async () => {
    const registry = new Registry();
    const exporter = new DqMetricsExporter(registry);
    const res = validate([row(0), row(1, { close: 0, low: 0 })], rules);
    const run = { dataset: 'tws_bars', metrics: res.metrics, severity: res.severity, published: true, finishedAt: 1_700_000_000_000 };
    exporter.record(run);
    exporter.record({ ...run, gaps: { expected: 390, observed: 380, imputed: 8, unfilled: 2, overLimitGaps: 1 } });
    // A second exporter on the same registry reuses the metrics instead of throwing.
    new DqMetricsExporter(registry).record(run);
    const text = await registry.metrics();
    expect(text).toContain('ibpipe_dq_rule_failures{dataset="tws_bars",rule="range_close",severity="error",action="quarantine"} 1');
    expect(text).toContain('ibpipe_dq_rule_failures_total{dataset="tws_bars",rule="range_close"} 3');
    expect(text).toContain('ibpipe_dq_quarantined_rows_total{dataset="tws_bars"} 3');
    expect(text).toContain('ibpipe_dq_severity{dataset="tws_bars"} 2');
    expect(text).toContain('ibpipe_dq_null_rate{dataset="tws_bars",column="wap"} 0');
    expect(text).toContain('ibpipe_dq_runs_total{dataset="tws_bars",outcome="published"} 3');
    expect(text).toContain('ibpipe_dq_last_run_timestamp_seconds{dataset="tws_bars"} 1700000000');
    expect(text).toContain('ibpipe_gap_bars{dataset="tws_bars",kind="unfilled"} 2');
    expect(text).toContain('ibpipe_gap_over_limit_gaps{dataset="tws_bars"} 1');
  });
});

describe('dq config', () => {
  it('parses every rule type with defaults', () => {
    const cfg = dqRulesConfigSchema.parse({
      curated: [
        { type: 'range', field: 'close', min: 0 },
        { type: 'enum', field: 'what_to_show', values: ['TRADES'] },
        { type: 'not_null', fields: ['close'] },
        { type: 'monotonic_time' },
        { type: 'unique' },
        { type: 'ohlc_consistency' },
        { type: 'bar_count', tolerance: { fraction: 0.1 } },
        { type: 'staleness', max_age: '15min' },
        { type: 'outlier' },
      ],
    });
    const list = cfg.curated ?? [];
    expect(list.map((r) => [r.type, r.severity, r.action])).toEqual([
      ['range', 'error', 'quarantine'],
      ['enum', 'error', 'quarantine'],
      ['not_null', 'error', 'quarantine'],
      ['monotonic_time', 'error', 'quarantine'],
      ['unique', 'error', 'quarantine'],
      ['ohlc_consistency', 'error', 'quarantine'],
      ['bar_count', 'warn', 'log'],
      ['staleness', 'warn', 'log'],
      ['outlier', 'warn', 'log'],
    ]);
    expect(list[3]).toMatchObject({ entity: 'symbol', time: 'ts', strict: true });
    expect(list[4]).toMatchObject({ keys: ['symbol', 'ts'] });
    expect(list[8]).toMatchObject({ field: 'close', window: 60, threshold: 6 });
  });

  it('rejects unknown keys, impossible rules and duplicate names with paths', () => {
    const bad = dqRulesConfigSchema.safeParse({
      tws_bars: [
        { type: 'range', field: 'close' },
        { type: 'range', field: 'close', min: 2, max: 1 },
        { type: 'bar_count', action: 'quarantine' },
        { type: 'not_null', fields: ['a'], severity: 'warn', action: 'fail' },
        { type: 'ohlc_consistency', colour: 'red' },
        { type: 'wat' },
      ],
    });
    expect(bad.success).toBe(false);
    const issues = (bad.error?.issues ?? []).map((i) => `${i.path.join('.')}: ${i.code}`);
    expect(issues).toEqual(
      expect.arrayContaining([
        'tws_bars.0.min: custom',
        'tws_bars.1.max: custom',
        'tws_bars.2.action: invalid_value',
        'tws_bars.3.action: custom',
        'tws_bars.4: unrecognized_keys',
        'tws_bars.5.type: invalid_union',
      ]),
    );
    const dup = dqRulesConfigSchema.safeParse({ x: [{ type: 'range', field: 'close', min: 0 }, { type: 'range', field: 'close', max: 9 }] });
    expect(dup.error?.issues[0]?.path).toEqual(['x', 1, 'name']);
  });

  it('gaps: strict, typed strategies, over-limit judged as configured', () => {
    expect(gapsConfigSchema.parse({})).toEqual({
      frequency: '1min',
      imputation: { close: 'ffill', volume: 'zero' },
      max_gap_bars: 30,
      final_grace: '10min',
      over_limit: { severity: 'warn', action: 'log' },
    });
    expect(gapsConfigSchema.parse({ imputation: { wap: { constant: 0 } } }).imputation).toEqual({ wap: { constant: 0 } });
    expect(gapsConfigSchema.safeParse({ imputation: { close: 'bfill' } }).success).toBe(false);
    expect(gapsConfigSchema.safeParse({ imputation: { colour: 'zero' } }).success).toBe(false);
    expect(gapsConfigSchema.safeParse({ over_limit: { severity: 'warn', action: 'fail' } }).success).toBe(false);
    expect(gapsConfigSchema.safeParse({ extra: 1 }).success).toBe(false);
  });
});
