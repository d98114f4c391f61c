import { describe, expect, it } from 'vitest';
import { dqRuleSchema, type DqRule } from '../../src/data-quality/dq-config.js';
import { evaluateRule, type ExpectedSession } from '../../src/data-quality/rules.js';

const MIN = 60_000;
const T0 = Date.parse('2024-03-12T13:30:00Z');
const rule = (r: Record<string, unknown>): DqRule => dqRuleSchema.parse(r);

describe('DQ rules', () => {
  it('range: inclusive bounds, nulls skipped, non-numbers fail', () => {
    const rows = [{ close: 1 }, { close: 0 }, { close: 10 }, { close: 10.5 }, { close: null }, { close: 'x' }, { close: Number.NaN }];
    const f = evaluateRule(rule({ type: 'range', field: 'close', min: 1, max: 10 }), rows);
    expect(f.map((x) => x.row)).toEqual([1, 3, 5]);
    expect(f[0]?.reason).toBe('close 0 is below min 1');
    expect(f[1]?.reason).toBe('close 10.5 is above max 10');
    expect(f[2]?.reason).toBe('close "x" is not a number');
  });

  it('enum: values outside the set fail', () => {
    const rows = [{ what_to_show: 'TRADES' }, { what_to_show: 'BID' }, { what_to_show: null }];
    const f = evaluateRule(rule({ type: 'enum', field: 'what_to_show', values: ['TRADES', 'MIDPOINT'] }), rows);
    expect(f).toEqual([{ row: 1, entity: null, reason: 'what_to_show "BID" is not one of "TRADES", "MIDPOINT"' }]);
  });

  it('not_null: null, undefined and NaN are missing', () => {
    const rows = [{ symbol: 'A', open: 1, close: 1 }, { symbol: 'A', open: null, close: Number.NaN }, { symbol: 'B', close: 2 }];
    const f = evaluateRule(rule({ type: 'not_null', fields: ['open', 'close'] }), rows);
    expect(f).toEqual([
      { row: 1, entity: 'A', reason: 'open, close are null' },
      { row: 2, entity: 'B', reason: 'open is null' },
    ]);
  });

  it('monotonic_time: per entity, strict by default', () => {
    const rows = [
      { symbol: 'A', ts: T0 },
      { symbol: 'B', ts: T0 - MIN }, // another entity may be earlier
      { symbol: 'A', ts: T0 + MIN },
      { symbol: 'A', ts: T0 + MIN }, // repeat
      { symbol: 'A', ts: T0 }, // backwards
      { symbol: 'A', ts: T0 + 2 * MIN },
    ];
    const strict = evaluateRule(rule({ type: 'monotonic_time' }), rows);
    expect(strict.map((x) => x.row)).toEqual([3, 4]);
    expect(strict[1]?.reason).toBe('ts 2024-03-12T13:30:00.000Z is not after 2024-03-12T13:31:00.000Z seen earlier for A');
    expect(evaluateRule(rule({ type: 'monotonic_time', strict: false }), rows).map((x) => x.row)).toEqual([4]);
  });

  it('unique: every repeat after the first occurrence fails', () => {
    const rows = [{ symbol: 'A', ts: 1 }, { symbol: 'B', ts: 1 }, { symbol: 'A', ts: 1 }, { symbol: 'A', ts: 1 }];
    const f = evaluateRule(rule({ type: 'unique' }), rows);
    expect(f).toEqual([
      { row: 2, entity: 'A', reason: 'duplicate of row 0 on (symbol, ts)' },
      { row: 3, entity: 'A', reason: 'duplicate of row 0 on (symbol, ts)' },
    ]);
  });

  it('ohlc_consistency: low <= open, close <= high', () => {
    const rows = [
      { open: 10, high: 11, low: 9, close: 10.5 },
      { open: 10, high: 9, low: 11, close: 10 },
      { open: 12, high: 11, low: 9, close: 10 },
      { open: 10, high: 11, low: 9, close: 8 },
      { open: null, high: 1, low: 2, close: 3 },
      { open: 10, high: 10, low: 10, close: 10 },
    ];
    const f = evaluateRule(rule({ type: 'ohlc_consistency' }), rows);
    expect(f.map((x) => x.row)).toEqual([1, 2, 3]);
    expect(f[0]?.reason).toBe('low 11 > high 9; open 10 > high 9; open 10 < low 11; close 10 > high 9; close 10 < low 11');
    expect(f[1]?.reason).toBe('open 12 > high 11');
    expect(f[2]?.reason).toBe('close 8 < low 9');
  });

  it('bar_count: observed vs expected per session, with a tolerance in bars or as a fraction', () => {
    const starts = Array.from({ length: 100 }, (_, i) => T0 + i * MIN);
    const expected = new Map<string, ExpectedSession[]>([
      ['A', [{ date: '2024-03-12', starts }]],
      ['B', [{ date: '2024-03-12', starts }]],
    ]);
    // A has 95 of 100 bars plus one off-grid bar that must not count; B has none.
    const rows = [...starts.slice(5).map((ts) => ({ symbol: 'A', ts })), { symbol: 'A', ts: T0 + 30_000 }];
    const bars = evaluateRule(rule({ type: 'bar_count', tolerance: { bars: 5 } }), rows, { expected });
    expect(bars).toEqual([{ row: null, entity: 'B', reason: '2024-03-12: 0 of 100 expected bars (100 missing, tolerance 5)' }]);
    const frac = evaluateRule(rule({ type: 'bar_count', tolerance: { fraction: 0.04 } }), rows, { expected });
    expect(frac.map((x) => x.entity)).toEqual(['A', 'B']);
    expect(frac[0]?.reason).toBe('2024-03-12: 95 of 100 expected bars (5 missing, tolerance 4)');
    expect(() => evaluateRule(rule({ type: 'bar_count' }), rows)).toThrow(/expected sessions/);
  });

  it('staleness: age of the last bar at asOf, and entities the calendar expects but that sent nothing', () => {
    const rows = [{ symbol: 'A', ts: T0 }, { symbol: 'A', ts: T0 + 10 * MIN }, { symbol: 'B', ts: T0 }];
    const asOf = T0 + 26 * MIN; // A's last bar is available at +11 min: 15 min old; B's at +1: 25 min old
    const expected = new Map<string, ExpectedSession[]>([
      ['C', [{ date: '2024-03-12', starts: [T0] }]],
      ['D', [{ date: '2024-03-12', starts: [] }]], // session not started yet: not judged
    ]);
    const f = evaluateRule(rule({ type: 'staleness', max_age: '15min' }), rows, { asOf, expected });
    expect(f).toEqual([
      { row: null, entity: 'B', reason: 'last bar 2024-03-12T13:30:00.000Z is 1500 s old at 2024-03-12T13:56:00.000Z (max 15min)' },
      { row: null, entity: 'C', reason: 'no bars at all as of 2024-03-12T13:56:00.000Z' },
    ]);
    expect(() => evaluateRule(rule({ type: 'staleness', max_age: '1min' }), rows)).toThrow(/asOf/);
    // A past session is judged at its own close, per entity, not at the wall clock.
    const perEntity = evaluateRule(rule({ type: 'staleness', max_age: '15min' }), rows, { asOf: T0 + 86_400_000, asOfByEntity: new Map([['A', T0 + 11 * MIN], ['B', T0 + 16 * MIN]]) });
    expect(perEntity).toEqual([]);
  });

  it('outlier: return z-score against the previous window, per entity, in time order', () => {
    // Alternating returns of +-1% have mean 0 and sample sd known in closed form.
    const window = 10;
    const closes: number[] = [100];
    for (let i = 1; i <= 30; i++) closes.push((closes[i - 1] as number) * Math.exp(i % 2 === 0 ? 0.01 : -0.01));
    const spikeAt = 25;
    const rets = closes.map((c, i) => (i === 0 ? 0 : Math.log(c / (closes[i - 1] as number))));
    // Replace the return into bar 25 by +10%; bar 26 continues from the spiked price.
    const spiked = closes.map((c, i) => (i >= spikeAt ? c * Math.exp(0.1 - (rets[spikeAt] as number)) : c));
    const rows = spiked.map((close, i) => ({ symbol: 'A', ts: T0 + i * MIN, close }));
    const other = rows.map((r) => ({ ...r, symbol: 'B', close: 50 }));
    const input = [...other, ...rows].reverse();
    const f = evaluateRule(rule({ type: 'outlier', window, threshold: 5 }), input);
    // Window before bar 25: 10 alternating +-0.01 returns: mean 0, sd = 0.01*sqrt(10/9); z = 0.1/sd ~ 9.49.
    const sd = 0.01 * Math.sqrt(10 / 9);
    expect(f).toHaveLength(1);
    expect(input[f[0]?.row as number]).toEqual(rows[spikeAt]);
    expect(f[0]?.reason).toBe(`close return 0.1000 is ${(0.1 / sd).toFixed(1)} sd from the mean of the previous 10 returns`);
    // B is flat (sd 0): never judged.
    expect(f.every((x) => x.entity === 'A')).toBe(true);
  });
});
