import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { asOfIndex, asOfJoinSql, asOfPointSql, asOfPolicy, type AsOfPolicy } from '../../src/core/as-of-policy.js';
import { Lake } from '../../src/storage/lake.js';

let dir: string;
let lake: Lake;
beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'ibpipe-'));
  lake = await Lake.open({ root: dir });
});
afterAll(async () => {
  await lake.close();
  rmSync(dir, { recursive: true, force: true });
});

// Left: A at 10, 20, 30, 40 and B at 5; right: A at 10 (v=1), 15 (v=2), 32 (v=3), B at 7 (v=4).
const LEFT = `(SELECT * FROM (VALUES ('A', 10), ('A', 20), ('A', 30), ('A', 40), ('B', 5)) t(symbol, t))`;
const RIGHT = `(SELECT * FROM (VALUES ('A', 10, 1.0), ('A', 15, 2.0), ('A', 32, 3.0), ('B', 7, 4.0)) t(symbol, t, v))`;

async function join_(policy: AsOfPolicy): Promise<Record<string, number | null>> {
  const sql = asOfJoinSql({
    left: { relation: LEFT, time: 't', keys: ['symbol'] },
    right: { relation: RIGHT, time: 't', keys: ['symbol'] },
    columns: [{ column: 'v', as: 'v' }],
    matchedTimeAs: 'rt',
    policy,
  });
  const rows = await lake.query<{ symbol: string; t: number; v: number | null; rt: number | null }>(`SELECT * FROM ${sql} ORDER BY symbol, t`);
  const out: Record<string, number | null> = {};
  for (const r of rows) {
    out[`${r.symbol}${r.t}`] = r.v;
    // The matched time must agree with the value carried over.
    if (r.v === null) expect(r.rt).toBeNull();
  }
  expect(rows).toHaveLength(5);
  return out;
}

describe('as-of joins in DuckDB (hand-worked expectations)', () => {
  it('backward: the last right row at or before t', async () => {
    // A10 -> 10 (exact), A20 -> 15, A30 -> 15, A40 -> 32, B5 -> none (B's first row is at 7).
    expect(await join_(asOfPolicy({ direction: 'backward' }))).toEqual({ A10: 1, A20: 2, A30: 2, A40: 3, B5: null });
  });

  it('backward without exact matches is strict', async () => {
    expect(await join_(asOfPolicy({ direction: 'backward', allowExactMatches: false }))).toEqual({ A10: null, A20: 2, A30: 2, A40: 3, B5: null });
  });

  it('backward with a tolerance drops matches that are too old (inclusive bound)', async () => {
    // A20 -> 15 (distance 5 <= 5), A30 -> 15 (15 > 5: none), A40 -> 32 (8 > 5: none).
    expect(await join_(asOfPolicy({ direction: 'backward', toleranceMs: 5 }))).toEqual({ A10: 1, A20: 2, A30: null, A40: null, B5: null });
  });

  it('forward: the first right row at or after t', async () => {
    // A10 -> 10, A20 -> 32, A30 -> 32, A40 -> none, B5 -> 7.
    expect(await join_(asOfPolicy({ direction: 'forward' }))).toEqual({ A10: 1, A20: 3, A30: 3, A40: null, B5: 4 });
  });

  it('forward with tolerance and without exact matches', async () => {
    // A10 -> 15 (strict; 5 <= 5), A20 -> 32 (12 > 5: none), A30 -> 32 (2), B5 -> 7 (2).
    expect(await join_(asOfPolicy({ direction: 'forward', toleranceMs: 5, allowExactMatches: false }))).toEqual({
      A10: 2,
      A20: null,
      A30: 3,
      A40: null,
      B5: 4,
    });
  });

  it('nearest: the closer of both, ties to the earlier row', async () => {
    // A10 -> 10 (0); A20: 15 (5) vs 32 (12) -> 15; A30: 15 (15) vs 32 (2) -> 32; A40: 32 only;
    // B5: 7 only.
    expect(await join_(asOfPolicy({ direction: 'nearest' }))).toEqual({ A10: 1, A20: 2, A30: 3, A40: 3, B5: 4 });
    // A tie: left 25 sits between 20 and 30 on the right; the backward row (20) wins.
    const rows = await lake.query<{ v: number }>(
      `SELECT v FROM ${asOfJoinSql({
        left: { relation: `(SELECT 25 AS t)`, time: 't', keys: [] },
        right: { relation: `(SELECT * FROM (VALUES (20, 1.0), (30, 2.0)) x(t, v))`, time: 't', keys: [] },
        columns: [{ column: 'v', as: 'v' }],
        policy: asOfPolicy({ direction: 'nearest' }),
      })}`,
    );
    expect(rows).toEqual([{ v: 1 }]);
  });

  it('nearest with a tolerance applies it to the chosen row', async () => {
    // A30 -> 32 (2 <= 3), A40 -> 32 (8 > 3: none), A20 -> 15 (5 > 3: none), B5 -> 7 (2).
    expect(await join_(asOfPolicy({ direction: 'nearest', toleranceMs: 3 }))).toEqual({ A10: 1, A20: null, A30: 3, A40: null, B5: 4 });
  });

  it('joins without keys (a market factor) and keeps left rows that share a time', async () => {
    const rows = await lake.query<{ symbol: string; f: number | null }>(
      `SELECT symbol, f FROM ${asOfJoinSql({
        left: { relation: `(SELECT * FROM (VALUES ('A', 60000), ('B', 60000), ('C', 10)) x(symbol, ts))`, time: 'ts', keys: [] },
        right: { relation: `(SELECT * FROM (VALUES (0, 7.0), (60000, 8.0)) y(ts, f))`, time: 'ts + 60000', keys: [] },
        columns: [{ column: 'f', as: 'f' }],
        policy: asOfPolicy(),
      })} ORDER BY symbol`,
    );
    // Right availability: 60000 and 120000. Left 60000 sees only the first; 10 sees nothing.
    expect(rows).toEqual([
      { symbol: 'A', f: 7 },
      { symbol: 'B', f: 7 },
      { symbol: 'C', f: null },
    ]);
  });
});

describe('asOfPointSql (one instant, per key)', () => {
  it('picks per key the row the policy matches at t', async () => {
    const at = async (t: number, policy: AsOfPolicy): Promise<[string, number][]> =>
      (await lake.query<{ symbol: string; v: number }>(`SELECT symbol, v FROM ${asOfPointSql({ relation: RIGHT, time: 't', keys: ['symbol'], t, policy })} ORDER BY symbol`)).map(
        (r) => [r.symbol, r.v],
      );
    // t = 20: A's last row at or before is 15 (v 2); B's is 7 (v 4).
    expect(await at(20, asOfPolicy())).toEqual([['A', 2], ['B', 4]]);
    // t = 10 strict: A has nothing before 10; B's 7.
    expect(await at(10, asOfPolicy({ allowExactMatches: false }))).toEqual([['B', 4]]);
    // t = 20 forward: A 32; B has nothing after.
    expect(await at(20, asOfPolicy({ direction: 'forward' }))).toEqual([['A', 3]]);
    // t = 12 nearest with tolerance 2: A 10 (2 away); B 7 is 5 away.
    expect(await at(12, asOfPolicy({ direction: 'nearest', toleranceMs: 2 }))).toEqual([['A', 1]]);
  });
});

describe('asOfIndex (the in-memory twin)', () => {
  it('agrees with the hand-worked cases', () => {
    const times = [10, 15, 32];
    const idx = (t: number, p: AsOfPolicy): number => asOfIndex(times, t, p);
    expect([10, 20, 30, 40, 5].map((t) => idx(t, asOfPolicy()))).toEqual([0, 1, 1, 2, -1]);
    expect([10, 20, 30, 40, 5].map((t) => idx(t, asOfPolicy({ direction: 'forward' })))).toEqual([0, 2, 2, -1, 0]);
    // t = 5: the nearest time is 10, 5 away, beyond the tolerance of 3.
    expect([10, 20, 30, 40, 5].map((t) => idx(t, asOfPolicy({ direction: 'nearest', toleranceMs: 3 })))).toEqual([0, -1, 2, -1, -1]);
    expect(asOfIndex([], 1, asOfPolicy({ direction: 'nearest' }))).toBe(-1);
  });

  it('matches the SQL join on random data (property)', async () => {
    const policyArb = fc.record({
      direction: fc.constantFrom('backward' as const, 'forward' as const, 'nearest' as const),
      toleranceMs: fc.option(fc.integer({ min: 0, max: 20 }), { nil: null }),
      allowExactMatches: fc.boolean(),
    });
    await fc.assert(
      fc.asyncProperty(
        fc.uniqueArray(fc.integer({ min: 0, max: 100 }), { maxLength: 12 }),
        fc.array(fc.integer({ min: -5, max: 105 }), { minLength: 1, maxLength: 8 }),
        policyArb,
        async (rightTimes, leftTimes, p) => {
          const policy = asOfPolicy(p);
          const sorted = [...rightTimes].sort((a, b) => a - b);
          const right = sorted.length
            ? `(SELECT * FROM (VALUES ${sorted.map((t) => `(${t})`).join(', ')}) r(t))`
            : `(SELECT 1 AS t WHERE false)`;
          const left = `(SELECT * FROM (VALUES ${leftTimes.map((t, i) => `(${i}, ${t})`).join(', ')}) l(i, t))`;
          const rows = await lake.query<{ i: number; m: number | null }>(
            `SELECT i, m FROM ${asOfJoinSql({ left: { relation: left, time: 't', keys: [] }, right: { relation: right, time: 't', keys: [] }, columns: [], matchedTimeAs: 'm', policy })} ORDER BY i`,
          );
          const expected = leftTimes.map((t, i) => {
            const k = asOfIndex(sorted, t, policy);
            return { i, m: k < 0 ? null : sorted[k] };
          });
          expect(rows).toEqual(expected);
          // The single-instant form agrees too.
          const t0 = leftTimes[0] as number;
          const point = await lake.query<{ t: number }>(`SELECT t FROM ${asOfPointSql({ relation: right, time: 't', keys: [], t: t0, policy })}`);
          expect(point.map((r) => r.t)).toEqual(expected[0]?.m === null ? [] : [expected[0]?.m]);
        },
      ),
      { numRuns: 60 },
    );
  });
});
