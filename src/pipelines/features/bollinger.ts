import { rollingMoments } from './rolling-moments.js';

/** Lower, middle and upper band. */
export interface BollingerResult {
  readonly lower: Float64Array;
  readonly mid: Float64Array;
  readonly upper: Float64Array;
}

/**
 * Bollinger bands (TTR `BBands`, TA-Lib `BBANDS`): mid = SMA(window), bands = mid ± k · σ with
 * the POPULATION standard deviation of the same window. First value at index window − 1 of a run.
 */
export function bollinger(x: Float64Array, window = 20, k = 2): BollingerResult {
  const { mean, m2 } = rollingMoments(x, window);
  const n = x.length;
  const lower = new Float64Array(n);
  const upper = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const width = k * Math.sqrt((m2[i] as number) / window);
    lower[i] = (mean[i] as number) - width;
    upper[i] = (mean[i] as number) + width;
  }
  return { lower, mid: mean, upper };
}
