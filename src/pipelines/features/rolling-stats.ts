import { logReturns } from './returns.js';
import { rollingMoments } from './rolling-moments.js';

/**
 * Rolling dispersion statistics. NaN conventions as in moving-averages.ts: any missing value in
 * the window gives NaN; the first value of a run is at index `window - 1` (rolling std, zscore)
 * or `window` (volatility, which needs `window` returns and so `window + 1` prices).
 */

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
