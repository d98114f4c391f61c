import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { computeFeatureGroup } from '../../../src/pipelines/features/compute-feature-group.js';
import type { FeatureSeries } from '../../../src/pipelines/features/compute-feature-group.js';
import { featureSpecSchema } from '../../../src/pipelines/features/feature-config.js';
import type { FeatureFn, FeatureSpec } from '../../../src/pipelines/features/feature-config.js';
import { FEATURE_FN_NAMES, FEATURE_FUNCTIONS } from '../../../src/pipelines/features/feature-registry.js';

/** Small-parameter specs so random series of up to 60 bars reach past every warm-up. */
const SAMPLES: Record<FeatureFn, Record<string, unknown>[]> = {
  sma: [{ window: 3 }],
  ema: [{ window: 3 }],
  rolling_mean: [{ window: 4 }],
  rolling_std: [{ window: 3 }, { window: 2, ddof: 0 }],
  rolling_volatility: [{ window: 3 }],
  zscore: [{ window: 3 }],
  returns: [{}, { period: 3 }],
  log_returns: [{ period: 2 }],
  lag: [{ periods: [1, 3] }],
  rsi: [{ window: 3 }],
  macd: [{ fast: 2, slow: 4, signal: 3 }],
  bollinger: [{ window: 3, k: 1.5 }],
  atr: [{ window: 3 }],
  vwap: [{}, { price: 'wap' }, { price: 'ohlc4' }],
};

const specsFor = (fn: FeatureFn): FeatureSpec[] =>
  (SAMPLES[fn] ?? []).map((params, i) => featureSpecSchema.parse({ name: `f${i}`, fn, ...params }));

const value = fc.oneof(
  { weight: 8, arbitrary: fc.double({ min: 0.5, max: 200, noNaN: true }) },
  { weight: 1, arbitrary: fc.constantFrom(0, 100, 100) }, // repeats create flat windows
  { weight: 1, arbitrary: fc.constant(NaN) }, // a curated bar left NULL
);
const column = (n: number): fc.Arbitrary<number[]> => fc.array(value, { minLength: n, maxLength: n });

interface Cols {
  open: number[];
  high: number[];
  low: number[];
  close: number[];
  volume: number[];
  wap: number[];
  /** true where a new session starts */
  newSession: boolean[];
}
const cols = (n: number): fc.Arbitrary<Cols> =>
  fc.record({
    open: column(n),
    high: column(n),
    low: column(n),
    close: column(n),
    volume: column(n),
    wap: column(n),
    newSession: fc.array(fc.boolean(), { minLength: n, maxLength: n }),
  });

const scenario = fc.integer({ min: 1, max: 60 }).chain((n) => fc.record({ n: fc.constant(n), base: cols(n), alt: cols(n) }));

function toSeries(c: Cols): FeatureSeries {
  let day = 0;
  const sessionDate = c.newSession.map((isNew, i) => {
    if (isNew && i > 0) day++;
    return `2024-01-${String(2 + day).padStart(2, '0')}`;
  });
  return {
    ts: c.close.map((_, i) => 1_704_205_800_000 + i * 60_000),
    open: c.open,
    high: c.high,
    low: c.low,
    close: c.close,
    volume: c.volume,
    sessionDate,
    columns: { wap: c.wap },
  };
}

/** The base series up to t, then anything (including different session boundaries) after t. */
function changedAfter(base: Cols, alt: Cols, t: number): Cols {
  const splice = <T>(a: T[], b: T[]): T[] => a.map((v, i) => (i <= t ? v : (b[i] as T)));
  return {
    open: splice(base.open, alt.open),
    high: splice(base.high, alt.high),
    low: splice(base.low, alt.low),
    close: splice(base.close, alt.close),
    volume: splice(base.volume, alt.volume),
    wap: splice(base.wap, alt.wap),
    newSession: splice(base.newSession, alt.newSession),
  };
}

describe('no look-ahead: changing any bar after t leaves every output at <= t unchanged', () => {
  it('every registered function has sample specs here', () => {
    for (const fn of FEATURE_FN_NAMES) expect(specsFor(fn).length, fn).toBeGreaterThan(0);
    expect(Object.keys(SAMPLES).sort()).toEqual([...FEATURE_FN_NAMES].sort());
  });

  for (const fn of FEATURE_FN_NAMES) {
    it(`${fn}`, () => {
      for (const spec of specsFor(fn)) {
        const group = { name: 'g', features: [spec] };
        fc.assert(
          fc.property(scenario, ({ n, base, alt }) => {
            const before = computeFeatureGroup(toSeries(base), group).columns;
            expect(Object.keys(before)).toEqual(FEATURE_FUNCTIONS[fn].outputColumns(spec as never));
            // Every split point, so a look-ahead that shows only at one index (a seed, a session start) is found.
            for (let t = 0; t < n; t++) {
              const after = computeFeatureGroup(toSeries(changedAfter(base, alt, t)), group).columns;
              for (const [name, col] of Object.entries(before)) {
                const other = after[name] as Float64Array;
                expect(col.length).toBe(n);
                for (let i = 0; i <= t; i++) {
                  if (!Object.is(col[i], other[i])) throw new Error(`${spec.fn} ${name}[${i}] changed (t=${t}): ${col[i]} -> ${other[i]}`);
                }
              }
            }
            // Outputs are a value or NaN (NULL), never ±Infinity.
            for (const [name, col] of Object.entries(before)) {
              for (let i = 0; i < n; i++) if ((col[i] as number) === Infinity || (col[i] as number) === -Infinity) throw new Error(`${name}[${i}] infinite`);
            }
          }),
          { numRuns: 100, seed: 0x1b7e },
        );
      }
    });
  }
});
