import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { InputError } from '../../src/core/errors.js';
import { computeLabels, sessionsAfterEndNeeded, type LabelInputBar } from '../../src/training/labels.js';
import { labelSpecSchema } from '../../src/training/training-config.js';

const MIN = 60_000;
const A0 = Date.UTC(2024, 0, 2, 14, 30); // 2024-01-02 09:30 New York
const B0 = Date.UTC(2024, 0, 3, 14, 30);

function bar(ts: number, close: number | null, session: string, imputed = false): LabelInputBar {
  return { ts, close, is_imputed: imputed, session_date: session };
}

/** Session A: five bars closing 100, 101, 99, 99, 102; session B: two bars closing 103, 104. */
function series(): LabelInputBar[] {
  return [
    bar(A0, 100, '2024-01-02'),
    bar(A0 + MIN, 101, '2024-01-02'),
    bar(A0 + 2 * MIN, 99, '2024-01-02'),
    bar(A0 + 3 * MIN, 99, '2024-01-02'),
    bar(A0 + 4 * MIN, 102, '2024-01-02'),
    bar(B0, 103, '2024-01-03'),
    bar(B0 + MIN, 104, '2024-01-03'),
  ];
}

const spec = (o: Record<string, unknown>) => labelSpecSchema.parse({ name: 'y', ...o });

describe('computeLabels', () => {
  it('forward return over 2 bars stays inside the session by default', () => {
    const { rows, dropped } = computeLabels(series(), spec({ kind: 'forward_return', horizon_bars: 2 }), MIN);
    expect(rows.map((r) => r.ts)).toEqual([A0, A0 + MIN, A0 + 2 * MIN]);
    expect(rows[0]!.label).toBeCloseTo(-0.01, 15); // 100 -> 99
    expect(rows[1]!.label).toBeCloseTo(-2 / 101, 15); // 101 -> 99
    expect(rows[2]!.label).toBeCloseTo(3 / 99, 15); // 99 -> 102
    // Anchor = end of the anchor bar; label end = end of the bar two ahead.
    expect(rows[0]!.anchor_ts).toBe(A0 + MIN);
    expect(rows[0]!.label_end_ts).toBe(A0 + 3 * MIN);
    expect(rows[2]!.label_end_ts).toBe(A0 + 5 * MIN);
    expect(rows.every((r) => !r.label_imputed && r.session_date === '2024-01-02')).toBe(true);
    // Bars 3 and 4 would need session B; bars 5 and 6 run out of data.
    expect(dropped).toEqual({ end_of_series: 2, session_end: 2, grid_gap: 0, imputed: 0, unavailable: 0, missing_value: 0, invalid_price: 0 });
  });

  it('crosses sessions when allowed', () => {
    const { rows } = computeLabels(series(), spec({ kind: 'forward_return', horizon_bars: 2, across_sessions: true }), MIN);
    expect(rows).toHaveLength(5);
    expect(rows[3]!.label).toBeCloseTo(4 / 99, 15); // 99 -> 103 (first bar of B)
    expect(rows[3]!.label_end_ts).toBe(B0 + MIN);
    expect(rows[4]!.label).toBeCloseTo(2 / 102, 15); // 102 -> 104
    expect(rows[4]!.session_date).toBe('2024-01-02');
  });

  it('log return, direction with a threshold and realised volatility', () => {
    const log = computeLabels(series(), spec({ kind: 'forward_log_return', horizon_bars: 2 }), MIN).rows;
    expect(log.map((r) => r.label)).toEqual([Math.log(0.99), Math.log(99 / 101), Math.log(102 / 99)]);

    const dir = computeLabels(series(), spec({ kind: 'direction', horizon_bars: 2, threshold: 0.015 }), MIN).rows;
    // -1 % is inside the ±1.5 % band; -1.98 % is below it; +3.03 % is above it.
    expect(dir.map((r) => r.label)).toEqual([0, -1, 1]);
    const sign = computeLabels(series(), spec({ kind: 'direction', horizon_bars: 1 }), MIN).rows;
    // A: 100->101 up, 101->99 down, 99->99 flat, 99->102 up; bar 4 ends A; B: 103->104 up.
    expect(sign.map((r) => r.label)).toEqual([1, -1, 0, 1, 1]);

    const vol = computeLabels(series(), spec({ kind: 'forward_volatility', horizon_bars: 2 }), MIN).rows;
    const r01 = Math.log(101 / 100);
    const r12 = Math.log(99 / 101);
    const r23 = 0;
    const r34 = Math.log(102 / 99);
    expect(vol[0]!.label).toBeCloseTo(Math.sqrt(r01 * r01 + r12 * r12), 15);
    expect(vol[1]!.label).toBeCloseTo(Math.sqrt(r12 * r12 + r23 * r23), 15);
    expect(vol[2]!.label).toBeCloseTo(Math.sqrt(r23 * r23 + r34 * r34), 15);
  });

  it('drops or flags windows that touch an imputed bar', () => {
    const s = series();
    s[2] = bar(A0 + 2 * MIN, 101, '2024-01-02', true); // forward-filled from bar 1
    const drop = computeLabels(s, spec({ kind: 'forward_return', horizon_bars: 1 }), MIN);
    // Windows [0,1] and [3,4] are clean; [1,2] and [2,3] touch bar 2.
    expect(drop.rows.map((r) => r.ts)).toEqual([A0, A0 + 3 * MIN, B0]);
    expect(drop.dropped.imputed).toBe(2);

    const flag = computeLabels(s, spec({ kind: 'forward_return', horizon_bars: 1, imputed_policy: 'flag' }), MIN);
    expect(flag.rows.map((r) => [r.ts, r.label_imputed])).toEqual([
      [A0, false],
      [A0 + MIN, true],
      [A0 + 2 * MIN, true],
      [A0 + 3 * MIN, false],
      [B0, false],
    ]);
    expect(flag.rows[1]!.label).toBe(0); // 101 -> 101 (the filled value)
    expect(flag.dropped.imputed).toBe(0);
  });

  it('uses only values available by the window end: a bar interpolated towards a later bar drops the windows it ends before', () => {
    const s = series();
    // Bars 1 and 2 were missing and interpolated towards bar 3: known when bar 3 is (A0 + 4 min).
    s[1] = { ...bar(A0 + MIN, 99.67, '2024-01-02', true), available_ts: A0 + 4 * MIN };
    s[2] = { ...bar(A0 + 2 * MIN, 99.33, '2024-01-02', true), available_ts: A0 + 4 * MIN };
    const r = computeLabels(s, spec({ kind: 'forward_return', horizon_bars: 1, imputed_policy: 'flag' }), MIN);
    // [0,1] ends at A0 + 2 min and [1,2] at A0 + 3 min, before bar 3 was in; [2,3] ends at A0 + 4 min: fine.
    expect(r.rows.map((x) => x.ts)).toEqual([A0 + 2 * MIN, A0 + 3 * MIN, B0]);
    expect(r.dropped.unavailable).toBe(2);
    // Under the default policy the imputed windows are dropped as imputed first.
    expect(computeLabels(s, spec({ kind: 'forward_return', horizon_bars: 1 }), MIN).dropped).toMatchObject({ imputed: 3, unavailable: 0 });
    // A 2-bar window ending at bar 3 or later may read them.
    const two = computeLabels(s, spec({ kind: 'forward_return', horizon_bars: 2, imputed_policy: 'flag' }), MIN);
    expect(two.rows.map((x) => x.ts)).toEqual([A0 + MIN, A0 + 2 * MIN]);
    expect(two.dropped.unavailable).toBe(1);
  });

  it('never labels from NULL closes, missing grid rows or non-positive prices', () => {
    const s = series();
    s[1] = bar(A0 + MIN, null, '2024-01-02', true);
    const flagged = computeLabels(s, spec({ kind: 'forward_return', horizon_bars: 1, imputed_policy: 'flag' }), MIN);
    expect(flagged.rows.map((r) => r.ts)).toEqual([A0 + 2 * MIN, A0 + 3 * MIN, B0]);
    expect(flagged.dropped.missing_value).toBe(2);

    const holes = series().filter((_, i) => i !== 2); // bar 2 missing from the grid
    const g = computeLabels(holes, spec({ kind: 'forward_return', horizon_bars: 1 }), MIN);
    expect(g.rows.map((r) => r.ts)).toEqual([A0, A0 + 3 * MIN, B0]);
    expect(g.dropped.grid_gap).toBe(1);

    const neg = series();
    neg[1] = bar(A0 + MIN, -5, '2024-01-02');
    const lr = computeLabels(neg, spec({ kind: 'forward_log_return', horizon_bars: 1 }), MIN);
    expect(lr.dropped.invalid_price).toBe(2);
    const fr = computeLabels(neg, spec({ kind: 'forward_return', horizon_bars: 1 }), MIN);
    expect(fr.dropped.invalid_price).toBe(1); // only the anchor close is a divisor
    expect(fr.rows[0]!.label).toBeCloseTo(-1.05, 15); // 100 -> -5
  });

  it('rejects unordered input', () => {
    const s = series();
    [s[1], s[2]] = [s[2]!, s[1]!];
    expect(() => computeLabels(s, spec({ kind: 'forward_return', horizon_bars: 1 }), MIN)).toThrow(InputError);
  });

  it('uses only bars after the anchor: perturbing the future leaves earlier labels unchanged', () => {
    const kinds = ['forward_return', 'forward_log_return', 'direction', 'forward_volatility'] as const;
    fc.assert(
      fc.property(
        fc.array(fc.double({ min: 1, max: 1000, noNaN: true }), { minLength: 2, maxLength: 60 }),
        fc.nat(),
        fc.integer({ min: 1, max: 8 }),
        fc.constantFrom(...kinds),
        fc.boolean(),
        (closes, cutSeed, h, kind, across) => {
          // Two sessions of up to 30 bars; the cut is the first bar whose close changes.
          const bars = closes.map((c, i) =>
            i < 30 ? bar(A0 + i * MIN, c, '2024-01-02') : bar(B0 + (i - 30) * MIN, c, '2024-01-03'),
          );
          const cut = cutSeed % bars.length;
          const perturbed = bars.map((b, i) => (i >= cut ? { ...b, close: b.close! * 1.5 + 1 } : b));
          const sp = spec({ kind, horizon_bars: h, across_sessions: across });
          const before = computeLabels(bars, sp, MIN).rows;
          const after = computeLabels(perturbed, sp, MIN).rows;
          const cutTs = bars[cut]!.ts;
          // A row whose last bar started before the cut read nothing the perturbation touched.
          const known = (rows: typeof before) => rows.filter((r) => r.label_end_ts - MIN < cutTs);
          expect(known(after)).toEqual(known(before));
          for (const r of before) expect(r.anchor_ts).toBeLessThan(r.label_end_ts);
        },
      ),
      { numRuns: 300 },
    );
  });
});

describe('sessionsAfterEndNeeded', () => {
  it('is 0 within sessions and covers h bars of short sessions otherwise', () => {
    expect(sessionsAfterEndNeeded({ horizon_bars: 500, across_sessions: false }, 390)).toBe(0);
    expect(sessionsAfterEndNeeded({ horizon_bars: 30, across_sessions: true }, 210)).toBe(1);
    expect(sessionsAfterEndNeeded({ horizon_bars: 400, across_sessions: true }, 390)).toBe(2);
  });
});
