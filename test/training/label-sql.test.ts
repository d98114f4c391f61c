import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { labelsSql } from '../../src/training/label-sql.js';
import { LABEL_DROP_REASONS, computeLabels, type LabelInputBar } from '../../src/training/labels.js';
import { LABEL_KINDS, labelSpecSchema } from '../../src/training/training-config.js';
import { openTempLake, type TempLake } from '../support/temp-lake.js';

const MIN = 60_000;
const DAY0 = Date.UTC(2024, 0, 2, 14, 30);

let t: TempLake;
beforeAll(async () => {
  t = await openTempLake();
});
afterAll(async () => t.cleanup());

/** Bars of two symbols: per symbol, sessions of a few bars with occasional holes, NULL, non-positive and imputed closes. */
const barsArb = fc.array(
  fc.record({
    sessions: fc.array(
      fc.array(
        fc.record({
          skip: fc.integer({ min: 0, max: 8 }).map((x) => x === 0),
          close: fc.oneof({ weight: 20, arbitrary: fc.double({ min: 50, max: 150, noNaN: true }) }, fc.constant(null), fc.constant(0), fc.constant(-3)),
          imputed: fc.integer({ min: 0, max: 6 }).map((x) => x === 0),
          // Bars after which the value became known (0: at its own completion; more: imputed from later bars, C1).
          late: fc.oneof({ weight: 4, arbitrary: fc.constant(0) }, fc.integer({ min: 1, max: 6 })),
        }),
        { minLength: 1, maxLength: 12 },
      ),
      { minLength: 1, maxLength: 4 },
    ),
  }),
  { minLength: 1, maxLength: 2 },
);

function toBars(gen: { sessions: { skip: boolean; close: number | null; imputed: boolean; late: number }[][] }): LabelInputBar[] {
  const out: LabelInputBar[] = [];
  gen.sessions.forEach((session, d) => {
    session.forEach((b, i) => {
      if (b.skip) return;
      const ts = DAY0 + d * 86_400_000 + i * MIN;
      out.push({ ts, close: b.close, is_imputed: b.imputed, session_date: `2024-01-0${2 + d}`, available_ts: ts + (1 + b.late) * MIN });
    });
  });
  return out;
}

describe('labelsSql (labels in DuckDB) equals computeLabels (the JS reference)', () => {
  it('gives the same labelled rows, values and drop counts for every kind and option (property)', async () => {
    let unavailable = 0;
    await fc.assert(
      fc.asyncProperty(
        barsArb,
        fc.constantFrom(...LABEL_KINDS),
        fc.integer({ min: 1, max: 4 }),
        fc.boolean(),
        fc.constantFrom('drop', 'flag'),
        async (symbols, kind, horizon, across, policy) => {
          const spec = labelSpecSchema.parse({ name: 'y', kind, horizon_bars: horizon, across_sessions: across, imputed_policy: policy, ...(kind === 'direction' ? { threshold: 0.01 } : {}) });
          const series = symbols.map(toBars);
          const rows = series.flatMap((bars, k) => bars.map((b) => ({ symbol: `S${k}`, ...b })));
          const staged = await t.lake.stage(
            [
              { name: 'symbol', type: 'VARCHAR' },
              { name: 'ts', type: 'TIMESTAMPTZ' },
              { name: 'close', type: 'DOUBLE' },
              { name: 'is_imputed', type: 'BOOLEAN' },
              { name: 'date', type: 'VARCHAR' },
              { name: 'available_ts', type: 'TIMESTAMPTZ' },
            ],
            {
              symbol: rows.map((r) => r.symbol),
              ts: rows.map((r) => r.ts),
              close: rows.map((r) => r.close),
              is_imputed: rows.map((r) => r.is_imputed),
              date: rows.map((r) => r.session_date),
              available_ts: rows.map((r) => r.available_ts),
            },
            rows.length,
          );
          try {
            const sql = await t.lake.query(`SELECT * FROM ${labelsSql({ relation: staged, hasAvailable: true, barMs: MIN }, spec, '2024-01-02', '2024-01-05')} ORDER BY symbol, ts`);
            const dropped: Record<string, number> = Object.fromEntries(LABEL_DROP_REASONS.map((r) => [r, 0]));
            for (const r of sql) if (r.drop_reason !== null) dropped[r.drop_reason as string] = (dropped[r.drop_reason as string] ?? 0) + 1;
            const kept = sql.filter((r) => r.drop_reason === null);
            let k = 0;
            const refDropped: Record<string, number> = Object.fromEntries(LABEL_DROP_REASONS.map((r) => [r, 0]));
            series.forEach((bars, s) => {
              const ref = computeLabels(bars, spec, MIN);
              for (const [r, n] of Object.entries(ref.dropped)) refDropped[r] = (refDropped[r] ?? 0) + n;
              for (const row of ref.rows) {
                const got = kept[k++];
                expect(got).toMatchObject({ symbol: `S${s}`, ts: row.ts, anchor_ts: row.anchor_ts, label_end_ts: row.label_end_ts, label_imputed: row.label_imputed });
                const v = got?.y as number;
                if (Math.abs(v - row.label) > 1e-12 * Math.max(1, Math.abs(row.label))) throw new Error(`${kind} label ${v} vs ${row.label}`);
              }
            });
            expect(k).toBe(kept.length);
            expect(dropped).toEqual(refDropped);
            unavailable += dropped.unavailable ?? 0;
          } finally {
            await t.lake.dropTable(staged);
          }
        },
      ),
      { numRuns: 60 },
    );
    // Values known only after a window's end were generated, and dropped alike (C1).
    expect(unavailable).toBeGreaterThan(0);
  });
});
