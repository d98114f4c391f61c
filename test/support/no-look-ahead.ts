import fc from 'fast-check';
import type { FeatureSeries } from '../../src/pipelines/features/compute-feature-group.js';

/**
 * The no-look-ahead property, for any feature computation: on random series (values, repeats,
 * NULL bars and session boundaries), changing anything after bar t — values and session
 * boundaries — leaves every output at bars <= t unchanged, bit for bit, for every t; outputs are
 * a value or NaN, never ±Infinity. `compute` gets the base series and its n changed copies at
 * once (so a DuckDB evaluation is one query per run) and returns their output columns by name.
 */
export type ComputeSeries = (series: readonly FeatureSeries[]) => Record<string, Float64Array>[] | Promise<Record<string, Float64Array>[]>;

export interface NoLookAheadOptions {
  /** Output columns expected, in order. */
  readonly columns: readonly string[];
  readonly label: string;
  readonly numRuns?: number;
  readonly maxBars?: number;
  readonly seed?: number;
}

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

/** Asserts the property (throws with the feature, column, index and split point that break it). */
export async function assertNoLookAhead(compute: ComputeSeries, opts: NoLookAheadOptions): Promise<void> {
  const scenario = fc.integer({ min: 1, max: opts.maxBars ?? 60 }).chain((n) => fc.record({ n: fc.constant(n), base: cols(n), alt: cols(n) }));
  await fc.assert(
    fc.asyncProperty(scenario, async ({ n, base, alt }) => {
      // Every split point, so a look-ahead that shows only at one index (a seed, a session start) is found.
      const series = [toSeries(base), ...Array.from({ length: n }, (_, t) => toSeries(changedAfter(base, alt, t)))];
      const [before, ...afters] = await compute(series);
      if (!before) throw new Error(`${opts.label}: no output`);
      if (JSON.stringify(Object.keys(before)) !== JSON.stringify(opts.columns)) throw new Error(`${opts.label}: columns ${Object.keys(before).join(',')}, expected ${opts.columns.join(',')}`);
      afters.forEach((after, t) => {
        for (const [name, col] of Object.entries(before)) {
          const other = after[name] as Float64Array;
          if (col.length !== n || other.length !== n) throw new Error(`${opts.label} ${name}: ${col.length} values for ${n} bars`);
          for (let i = 0; i <= t; i++) {
            if (!Object.is(col[i], other[i])) throw new Error(`${opts.label} ${name}[${i}] changed (t=${t}): ${col[i]} -> ${other[i]}`);
          }
        }
      });
      // Outputs are a value or NaN (NULL), never ±Infinity.
      for (const [name, col] of Object.entries(before)) {
        for (let i = 0; i < n; i++) if ((col[i] as number) === Infinity || (col[i] as number) === -Infinity) throw new Error(`${opts.label} ${name}[${i}] infinite`);
      }
    }),
    { numRuns: opts.numRuns ?? 100, seed: opts.seed ?? 0x1b7e },
  );
}
