/**
 * True range: max(high, previous close) − min(low, previous close). The first bar of a run has
 * no previous close and so no true range (NaN), as in TTR 0.24 `TR` and TA-Lib `TRANGE`.
 */
export function trueRange(high: Float64Array, low: Float64Array, close: Float64Array): Float64Array {
  const n = close.length;
  const out = new Float64Array(n).fill(NaN);
  for (let i = 1; i < n; i++) {
    const prevClose = close[i - 1] as number;
    const h = high[i] as number;
    const l = low[i] as number;
    // NaN compares false, so a missing input must be caught before max/min swallow it.
    if (prevClose !== prevClose || h !== h || l !== l) continue;
    out[i] = (h > prevClose ? h : prevClose) - (l < prevClose ? l : prevClose);
  }
  return out;
}

/**
 * Average true range (TTR `ATR`, TA-Lib `ATR`): Wilder's smoothing of the true range,
 * atr = atr + (tr − atr) / window, seeded by the mean of the first `window` true ranges, i.e. of
 * bars 1..window, so the first value is at index `window` of a run. A missing high, low or close
 * makes every true range that reads it missing, and the average restarts (and warms up again)
 * after that. One pass, no intermediate arrays.
 */
export function atr(high: Float64Array, low: Float64Array, close: Float64Array, window = 14): Float64Array {
  const n = close.length;
  const out = new Float64Array(n).fill(NaN);
  const alpha = 1 / window;
  let count = 0;
  let avg = 0;
  for (let i = 1; i < n; i++) {
    const prevClose = close[i - 1] as number;
    const h = high[i] as number;
    const l = low[i] as number;
    if (prevClose !== prevClose || h !== h || l !== l) {
      count = 0;
      avg = 0;
      continue;
    }
    const tr = (h > prevClose ? h : prevClose) - (l < prevClose ? l : prevClose);
    count++;
    if (count < window) {
      avg += tr;
      continue;
    }
    avg = count === window ? (avg + tr) / window : avg + alpha * (tr - avg);
    out[i] = avg;
  }
  return out;
}
