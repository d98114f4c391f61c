import { rollingMoments } from './rolling-moments.js';

/**
 * Moving averages over one symbol's ordered series (TTR conventions).
 *
 * Every function here takes a Float64Array in which NaN marks a missing value (a curated bar
 * left NULL) and returns a new Float64Array of the same length in which NaN marks "no value"
 * (warm-up or missing input; written as NULL). Missing inputs split the series into runs of
 * consecutive present values; an output depends only on the run that contains it, exactly as
 * if the series had started at the run's first value. For windowed averages that is the same
 * as "any NaN in the window gives NaN"; recursive averages (EMA, Wilder) restart and warm up
 * again after a gap rather than carrying state across data they never saw.
 */

/**
 * Simple moving average of the last `window` values; first value at index `window - 1` of a run.
 * Uses the error-bounded running sums of {@link rollingMoments}, so it is O(n) and stays within
 * 1e-11 relative of an exact per-window sum however long the series.
 */
export function sma(x: Float64Array, window: number): Float64Array {
  return rollingMoments(x, window).mean;
}

/** Alias of {@link sma} under the name data scientists use. */
export const rollingMean = sma;

/**
 * Exponential smoothing with factor `alpha`, seeded by the simple mean of the first `n` values
 * of each run (TTR `EMA` C code: the seed is emitted at index n-1, then
 * `y[i] = y[i-1] + alpha * (x[i] - y[i-1])`).
 */
export function seededExponentialAverage(x: Float64Array, n: number, alpha: number): Float64Array {
  const len = x.length;
  const out = new Float64Array(len).fill(NaN);
  let runLen = 0;
  let seedSum = 0;
  let prev = 0;
  for (let i = 0; i < len; i++) {
    const v = x[i] as number;
    if (v !== v) {
      runLen = 0;
      seedSum = 0;
      continue;
    }
    runLen++;
    if (runLen < n) {
      seedSum += v;
    } else if (runLen === n) {
      prev = (seedSum + v) / n;
      out[i] = prev;
    } else {
      prev += alpha * (v - prev);
      out[i] = prev;
    }
  }
  return out;
}

/** EMA with alpha = 2 / (window + 1), seeded by the SMA of the first `window` values (TTR, TA-Lib). */
export function ema(x: Float64Array, window: number): Float64Array {
  return seededExponentialAverage(x, window, 2 / (window + 1));
}

/** Wilder's smoothing: EMA with alpha = 1 / window, seeded by the SMA of the first `window` values (TTR `wilder = TRUE`). */
export function wilderAverage(x: Float64Array, window: number): Float64Array {
  return seededExponentialAverage(x, window, 1 / window);
}
