import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { dayHistory, planFeatureBatches, type BatchPlanInput } from '../../../src/pipelines/features/feature-batches.js';

describe('dayHistory', () => {
  const rows = [390, 390, 0, 390, 210, 390];
  it('walks back whole dates until the lookback is reached, and uses exactly the lookback', () => {
    expect(dayHistory(5, 517, (j) => rows[j] as number)).toEqual({ rows: 517, fromDate: 3 });
    expect(dayHistory(5, 100, (j) => rows[j] as number)).toEqual({ rows: 100, fromDate: 4 });
  });
  it('stops after a date with no row (history starts after it), at minDate, and at day 0', () => {
    expect(dayHistory(5, 2000, (j) => rows[j] as number)).toEqual({ rows: 600, fromDate: 3 });
    expect(dayHistory(5, 2000, (j) => rows[j] as number, 4)).toEqual({ rows: 210, fromDate: 4 });
    expect(dayHistory(0, 10, () => 390)).toEqual({ rows: 0, fromDate: 0 });
    expect(dayHistory(3, 0, () => 390)).toEqual({ rows: 0, fromDate: 3 });
  });
});

describe('planFeatureBatches', () => {
  const uniform = (symbols: number, dates: number, firstTarget: number, budgetRows: number, lookback = 150): BatchPlanInput => ({
    symbols,
    dates,
    firstTarget,
    rows: () => 100,
    lookback,
    budgetRows,
  });

  it('reads every symbol and every date in one batch when they fit', () => {
    expect(planFeatureBatches(uniform(3, 10, 2, 10_000))).toEqual([
      { targetStart: 2, targetEnd: 9, batches: [{ symbolStart: 0, symbolEnd: 3, dateStart: 0, targetStart: 2, targetEnd: 9, rows: 3000 }] },
    ]);
  });

  it('splits dates first, then symbols, and reads each segment with its history', () => {
    // All symbols: one day with its two days of history is 900 rows: fits 1,000, so dates are split.
    const byDates = planFeatureBatches(uniform(3, 10, 2, 1000));
    expect(byDates.map((s) => [s.targetStart, s.targetEnd, s.batches.length, s.batches[0]?.dateStart])).toEqual([
      [2, 2, 1, 0],
      [3, 3, 1, 1],
      [4, 4, 1, 2],
      [5, 5, 1, 3],
      [6, 6, 1, 4],
      [7, 7, 1, 5],
      [8, 8, 1, 6],
      [9, 9, 1, 7],
    ]);
    // 500 rows: one symbol's day with its history is 300, so one symbol per read, three days each.
    const bySymbols = planFeatureBatches(uniform(3, 10, 2, 500));
    expect(bySymbols.map((s) => [s.targetStart, s.targetEnd])).toEqual([
      [2, 4],
      [5, 7],
      [8, 9],
    ]);
    expect(bySymbols[0]?.batches.map((b) => [b.symbolStart, b.symbolEnd, b.dateStart, b.rows])).toEqual([
      [0, 1, 0, 500],
      [1, 2, 0, 500],
      [2, 3, 0, 500],
    ]);
  });

  it('covers every target once, within the budget, with every symbol-day history inside its read (property)', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 6 }),
        fc.integer({ min: 1, max: 12 }),
        fc.integer({ min: 0, max: 3 }),
        fc.integer({ min: 0, max: 900 }),
        fc.integer({ min: 50, max: 3000 }),
        fc.array(fc.integer({ min: 0, max: 400 }), { minLength: 72, maxLength: 72 }),
        (S, targets, lb, lookback, budgetRows, cells) => {
          const M = targets + lb;
          const rows = (s: number, j: number): number => cells[(s * 12 + j) % 72] as number;
          const plan = planFeatureBatches({ symbols: S, dates: M, firstTarget: lb, rows, lookback, budgetRows });
          const covered = new Map<string, number>();
          for (const seg of plan) {
            for (const b of seg.batches) {
              let n = 0;
              for (let s = b.symbolStart; s < b.symbolEnd; s++) for (let j = b.dateStart; j <= b.targetEnd; j++) n += rows(s, j);
              expect(b.rows).toBe(n);
              // Over budget only when a single symbol-day with its history is larger.
              if (n > budgetRows) expect(b.symbolEnd - b.symbolStart === 1 && b.targetStart === b.targetEnd).toBe(true);
              for (let s = b.symbolStart; s < b.symbolEnd; s++) {
                for (let a = b.targetStart; a <= b.targetEnd; a++) {
                  expect(dayHistory(a, lookback, (j) => rows(s, j)).fromDate).toBeGreaterThanOrEqual(b.dateStart);
                  covered.set(`${s}:${a}`, (covered.get(`${s}:${a}`) ?? 0) + 1);
                }
              }
            }
          }
          expect(covered.size).toBe(S * targets);
          expect([...covered.values()].every((c) => c === 1)).toBe(true);
        },
      ),
      { numRuns: 200 },
    );
  });
});
