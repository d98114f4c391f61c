// An ibpipe custom feature (README "Custom features"): the simple moving average of the first
// input over `params.window` bars, written as a plain per-window sum so it can be checked
// against the built-in `fn: sma`. Configure it as
//
//   - { name: my_sma_20, fn: custom, module: ./features/sma.js, inputs: [close],
//       params: { window: 20 }, lookback_bars: 19 }
//
// ibpipe calls the default export once per symbol and batch with the input columns as
// Float64Arrays (NaN where the curated value is NULL), the indices where sessions start, the
// params and the number of bars; it returns one Float64Array of that length per output
// (`outputs`, default [value]). Value i may read bars i - lookback_bars .. i only: never later
// ones (no look-ahead). NaN is written as NULL.

/** @param {{ inputs: Record<string, Float64Array>, sessionStarts: Int32Array, params: { window?: number }, length: number }} args */
export default function sma({ inputs, params, length }) {
  const [x] = Object.values(inputs);
  const window = params.window ?? 20;
  if (!Number.isInteger(window) || window < 1) throw new Error(`params.window must be a positive integer, got ${window}`);
  const out = new Float64Array(length).fill(NaN);
  for (let i = window - 1; i < length; i++) {
    let sum = 0;
    for (let k = i - window + 1; k <= i; k++) sum += x[k]; // a NaN (NULL bar) in the window gives NaN
    out[i] = sum / window;
  }
  return { value: out };
}
