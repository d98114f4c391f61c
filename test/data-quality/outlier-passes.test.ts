import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dqRuleSchema } from '../../src/data-quality/dq-config.js';
import { evaluateRule } from '../../src/data-quality/rules.js';
import { outlierPasses } from '../../src/data-quality/rules-sql.js';
import { openTempLake, type TempLake } from '../support/temp-lake.js';

/**
 * The outlier rule's cheap pass (set-based transform) must list every row the JS check calls an
 * outlier: the exact pass judges only the rows it lists. The differential transform test covers
 * windows of 2–6 over short sessions; this one drives the running sums and their error bounds
 * with long windows, long sequences, flat stretches, near-flat drifts and huge spikes.
 */

let t: TempLake;

beforeAll(async () => {
  t = await openTempLake();
});
afterAll(async () => {
  await t.cleanup();
});

const MIN = 60_000;
const T0 = Date.UTC(2024, 2, 4, 14, 30);

type Segment =
  | { kind: 'walk'; n: number; sd: number; seed: number }
  | { kind: 'flat'; n: number }
  | { kind: 'drift'; n: number; step: number }
  | { kind: 'spike'; factor: number }
  | { kind: 'skip'; value: number };

/** One instrument's closes: segments of a random walk, a flat price, a drift of ~1e-9, spikes and values the rule skips. */
const segmentArb: fc.Arbitrary<Segment> = fc.oneof(
  fc.record({ kind: fc.constant('walk' as const), n: fc.integer({ min: 1, max: 90 }), sd: fc.constantFrom(1e-4, 1e-3, 2e-2), seed: fc.integer() }),
  fc.record({ kind: fc.constant('flat' as const), n: fc.integer({ min: 1, max: 80 }) }),
  fc.record({ kind: fc.constant('drift' as const), n: fc.integer({ min: 1, max: 80 }), step: fc.constantFrom(1e-9, -1e-9, 1e-12) }),
  fc.record({ kind: fc.constant('spike' as const), factor: fc.constantFrom(1000, 0.001, 1.5, 1e6) }),
  fc.record({ kind: fc.constant('skip' as const), value: fc.constantFrom(0, -5, Number.NaN) }),
);

function closes(start: number, segments: readonly Segment[]): number[] {
  const out: number[] = [];
  let price = start;
  for (const s of segments) {
    if (s.kind === 'walk') {
      let seed = s.seed | 0;
      for (let i = 0; i < s.n; i++) {
        // A small LCG: deterministic, roughly uniform returns in [-sd, sd].
        seed = (Math.imul(seed, 1103515245) + 12345) | 0;
        price *= Math.exp(((seed >>> 8) / 2 ** 24 - 0.5) * 2 * s.sd);
        out.push(price);
      }
    } else if (s.kind === 'flat') for (let i = 0; i < s.n; i++) out.push(price);
    else if (s.kind === 'drift') for (let i = 0; i < s.n; i++) out.push((price *= 1 + s.step));
    else if (s.kind === 'spike') out.push(price * s.factor);
    else out.push(s.value);
  }
  return out;
}

const caseArb = fc.record({
  window: fc.constantFrom(2, 3, 7, 20, 60, 75),
  threshold: fc.constantFrom(1, 2.5, 6, 10),
  instruments: fc.array(fc.record({ start: fc.constantFrom(0.01, 1, 150, 98_765.4321), segments: fc.array(segmentArb, { minLength: 1, maxLength: 8 }) }), { minLength: 1, maxLength: 4 }),
});

describe('outlier rule, cheap pass (SQL)', () => {
  it('lists every row the JS check calls an outlier', async () => {
    let outliersSeen = 0;
    await fc.assert(
      fc.asyncProperty(caseArb, async (c) => {
        const rule = dqRuleSchema.parse({ type: 'outlier', field: 'close', window: c.window, threshold: c.threshold, severity: 'warn', action: 'log' });
        if (rule.type !== 'outlier') throw new Error('not an outlier rule');
        const rows = c.instruments.flatMap((inst, gid) => closes(inst.start, inst.segments).map((close, i) => ({ gid, symbol: `S${gid}`, ts: T0 + i * MIN, close })));
        const expected = evaluateRule(rule, rows).map((f) => {
          const row = rows[f.row as number];
          return `${String(row?.gid)}@${String(row?.ts)}`;
        });
        outliersSeen += expected.length;
        const staged = await t.lake.stage(
          [{ name: 'gid', type: 'BIGINT' }, { name: 'ts', type: 'BIGINT' }, { name: 'close', type: 'DOUBLE' }],
          { gid: rows.map((r) => r.gid), ts: rows.map((r) => r.ts), close: rows.map((r) => r.close) },
          rows.length,
        );
        try {
          const passes = outlierPasses(rule, staged);
          if (passes === null) throw new Error('close is a number column');
          const doubtful = new Set((await t.lake.query<{ gid: number; ts: number }>(passes.doubtful)).map((d) => `${d.gid}@${d.ts}`));
          for (const key of expected) expect(doubtful.has(key), `${key} (window ${c.window}, threshold ${c.threshold})`).toBe(true);
        } finally {
          await t.lake.dropTable(staged);
        }
      }),
      { numRuns: 150 },
    );
    // The cases must contain outliers at all, or the property says nothing.
    expect(outliersSeen).toBeGreaterThan(50);
  });
});
