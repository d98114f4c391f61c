import { logReturns } from './returns.js';

/**
 * Rolling dispersion statistics. NaN conventions as in moving-averages.ts: any missing value in
 * the window gives NaN; the first value of a run is at index `window - 1` (rolling std, zscore)
 * or `window` (volatility, which needs `window` returns and so `window + 1` prices).
 */

/** Rolling mean and sum of squared deviations from it (`m2`), NaN where the window is incomplete. */
export interface RollingMoments {
  readonly mean: Float64Array;
  /** Σ (x - mean)² over the window; exactly 0 when every value in the window is equal. */
  readonly m2: Float64Array;
}

/**
 * One O(n) pass computing the rolling mean and `m2`. Sums are kept relative to a shift near the
 * data (so E[x²] - E[x]² does not cancel catastrophically on prices like 4000.25) and are
 * recomputed exactly, two-pass, every `window` steps. A count of unequal neighbours in the
 * window makes a flat window's `m2` exactly 0, which keeps a zscore of a flat stretch NaN
 * instead of a rounding residue divided by another.
 */
export function rollingMoments(x: Float64Array, window: number): RollingMoments {
  const n = x.length;
  const mean = new Float64Array(n).fill(NaN);
  const m2 = new Float64Array(n).fill(NaN);
  let runStart = 0;
  let shift = 0;
  let s1 = 0;
  let s2 = 0;
  let changes = 0;
  let sinceExact = 0;
  for (let i = 0; i < n; i++) {
    const v = x[i] as number;
    if (v !== v) {
      runStart = i + 1;
      continue;
    }
    const len = i - runStart + 1;
    if (len === 1) {
      shift = v;
      s1 = 0;
      s2 = 0;
      changes = 0;
      sinceExact = 0;
    } else {
      const d = v - shift;
      s1 += d;
      s2 += d * d;
      if (v !== x[i - 1]) changes++;
      if (len > window) {
        const old = x[i - window] as number;
        const e = old - shift;
        s1 -= e;
        s2 -= e * e;
        if (x[i - window + 1] !== old) changes--;
      }
    }
    if (len < window) continue;
    if (++sinceExact >= window) {
      let raw = 0;
      for (let j = i - window + 1; j <= i; j++) raw += x[j] as number;
      shift = raw / window;
      s1 = 0;
      s2 = 0;
      for (let j = i - window + 1; j <= i; j++) {
        const d = (x[j] as number) - shift;
        s1 += d;
        s2 += d * d;
      }
      sinceExact = 0;
    }
    const mu = s1 / window;
    mean[i] = shift + mu;
    if (changes === 0) {
      m2[i] = 0;
    } else {
      const m = s2 - s1 * mu;
      m2[i] = m > 0 ? m : 0;
    }
  }
  return { mean, m2 };
}

/** Rolling standard deviation; `ddof` 1 = sample (default, TTR `runSD`), 0 = population. */
export function rollingStd(x: Float64Array, window: number, ddof: 0 | 1 = 1): Float64Array {
  const { m2 } = rollingMoments(x, window);
  const out = new Float64Array(x.length);
  const denom = window - ddof;
  for (let i = 0; i < out.length; i++) out[i] = Math.sqrt((m2[i] as number) / denom);
  return out;
}

/** Sample standard deviation of the last `window` one-bar log returns (not annualised). */
export function rollingVolatility(x: Float64Array, window: number): Float64Array {
  return rollingStd(logReturns(x, 1), window, 1);
}

/**
 * (x - rolling mean) / rolling sample standard deviation, window including the current value.
 * A flat window (standard deviation 0) gives NaN: the score is undefined, not 0 or infinite.
 */
export function zscore(x: Float64Array, window: number): Float64Array {
  const { mean, m2 } = rollingMoments(x, window);
  const out = new Float64Array(x.length);
  for (let i = 0; i < out.length; i++) {
    const sd = Math.sqrt((m2[i] as number) / (window - 1));
    out[i] = sd > 0 ? ((x[i] as number) - (mean[i] as number)) / sd : NaN;
  }
  return out;
}
