import { wilderAverage } from './moving-averages.js';

/**
 * Wilder's Relative Strength Index (TTR `RSI`, default Wilder smoothing): one-bar gains and
 * losses are averaged with Wilder's smoothing seeded by their simple mean over the first
 * `window` changes, so the first value is at index `window` of a run (it needs window + 1
 * prices). RSI = 100 · avgGain / (avgGain + avgLoss), which equals 100 − 100 / (1 + RS).
 * A window with neither gains nor losses gives NaN (TTR's 0/0; TA-Lib would print 0). A
 * missing close restarts the averages after it.
 */
export function rsi(x: Float64Array, window = 14): Float64Array {
  const n = x.length;
  const gains = new Float64Array(n).fill(NaN);
  const losses = new Float64Array(n).fill(NaN);
  for (let i = 1; i < n; i++) {
    const d = (x[i] as number) - (x[i - 1] as number);
    if (d !== d) continue;
    gains[i] = d > 0 ? d : 0;
    losses[i] = d < 0 ? -d : 0;
  }
  const avgGain = wilderAverage(gains, window);
  const avgLoss = wilderAverage(losses, window);
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const g = avgGain[i] as number;
    const total = g + (avgLoss[i] as number);
    out[i] = total > 0 ? (100 * g) / total : NaN;
  }
  return out;
}
