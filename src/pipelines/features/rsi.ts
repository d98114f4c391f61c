/**
 * Wilder's Relative Strength Index (TTR `RSI`, default Wilder smoothing): one-bar gains and
 * losses are averaged with Wilder's smoothing, avg = avg + (x − avg) / window, seeded by their
 * simple mean over the first `window` changes, so the first value is at index `window` of a run
 * (it needs window + 1 prices). RSI = 100 · avgGain / (avgGain + avgLoss), which equals
 * 100 − 100 / (1 + RS). A window with neither gains nor losses gives NaN (TTR's 0/0; TA-Lib
 * would print 0). A missing close ends the run: the averages restart and warm up after it.
 */
export function rsi(x: Float64Array, window = 14): Float64Array {
  const n = x.length;
  const out = new Float64Array(n).fill(NaN);
  const alpha = 1 / window;
  let changes = 0;
  let gain = 0;
  let loss = 0;
  for (let i = 1; i < n; i++) {
    const d = (x[i] as number) - (x[i - 1] as number);
    if (d !== d) {
      changes = 0;
      gain = 0;
      loss = 0;
      continue;
    }
    const up = d > 0 ? d : 0;
    const down = d < 0 ? -d : 0;
    changes++;
    if (changes < window) {
      gain += up;
      loss += down;
      continue;
    }
    if (changes === window) {
      gain = (gain + up) / window;
      loss = (loss + down) / window;
    } else {
      gain += alpha * (up - gain);
      loss += alpha * (down - loss);
    }
    const total = gain + loss;
    if (total > 0) out[i] = (100 * gain) / total;
  }
  return out;
}
