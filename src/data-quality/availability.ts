/**
 * When a value was knowable (DESIGN §4: a bar is available at `ts + bar`). Point-in-time reads
 * compare `available_ts <= as_of`, so every curated and feature row carries the instant at which
 * all of its values could have been computed from the bars received by then:
 *
 * - an observed bar: `ts + bar`;
 * - a value imputed from earlier data only (`ffill`, `zero`, `{constant}`, NULL under `none`):
 *   `ts + bar`, unless the length of its missing run decides the value (see {@link runKnownAt});
 * - a value interpolated by `linear`: the later of `ts + bar` and `next.ts + bar`, where `next`
 *   is the observed bar the interpolation used ({@link linearKnownAt});
 * - a feature row: the running maximum, per symbol in time order, of its source rows'
 *   availability ({@link runningAvailability}), since a rolling value reads every earlier row.
 *
 * Pure functions: slot indexes refer to one session's grid of bar starts.
 */

/**
 * The instant at which the fate of a missing run [start, end) is known, or null when it is
 * known as soon as each of its bars is due. A run longer than `maxGap` bars is not imputed at
 * all (every value stays NULL), so whether the run's first bars get an imputed value depends on
 * how long the run turns out to be: that is settled when the observed bar closing the run is
 * complete (`grid[end] + bar`) or when the run's (maxGap+1)-th bar is complete and it is known
 * to be over the limit (`grid[start + maxGap] + bar`). A run that cannot exceed the limit before
 * the session ends depends on nothing later.
 *
 * `grid` is the session's whole grid; `cutLength` is how much of it the run was judged on (an
 * intraday run sees a prefix): a run reaching the end of the prefix while the session goes on is
 * not settled yet, and is stamped with the instant by which it would be.
 */
export function runKnownAt(start: number, end: number, grid: readonly number[], cutLength: number, barMs: number, maxGap: number): number | null {
  const limitSlot = start + maxGap;
  if (limitSlot >= grid.length) return null;
  if (end - start > maxGap || end >= cutLength) return (grid[limitSlot] as number) + barMs;
  return (grid[end] as number) + barMs;
}

/**
 * The instant at which a `linear` value interpolated towards slot `next` was knowable:
 * `grid[next] + bar`. With no observed value after the gap in the part of the session judged
 * (`next` < 0) the value is NULL, and that is settled only when the session has ended.
 */
export function linearKnownAt(next: number, grid: readonly number[], barMs: number): number {
  const slot = next >= 0 ? next : grid.length - 1;
  return (grid[slot] as number) + barMs;
}

/**
 * Feature-row availability: for each row i (in time order, lookback rows included), the largest
 * source availability among rows 0..i. A source row without one (NaN: the source has no
 * `available_ts` column, e.g. an aligned dataset or a file written before it existed) counts as
 * available at `ts + bar`. Non-decreasing, so an as-of search over it stays a binary search.
 */
export function runningAvailability(ts: Float64Array, available: Float64Array | null, barMs: number): Float64Array {
  const n = ts.length;
  const out = new Float64Array(n);
  let max = -Infinity;
  for (let i = 0; i < n; i++) {
    const own = (ts[i] as number) + barMs;
    const a = available ? (available[i] as number) : Number.NaN;
    const v = Number.isNaN(a) ? own : Math.max(a, own);
    if (v > max) max = v;
    out[i] = max;
  }
  return out;
}
