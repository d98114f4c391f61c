/**
 * Point-wise features: each output reads exactly two values (or one), so a missing value
 * affects only the outputs that read it. The first `period` outputs are NaN. A zero base gives
 * NaN for a simple return, and a log return needs both prices positive, so no output is ever
 * infinite.
 */

/** Simple return over `period` bars: x[i] / x[i - period] - 1. */
export function returns(x: Float64Array, period = 1): Float64Array {
  const n = x.length;
  const out = new Float64Array(n).fill(NaN);
  for (let i = period; i < n; i++) {
    const prev = x[i - period] as number;
    if (prev !== 0) out[i] = (x[i] as number) / prev - 1;
  }
  return out;
}

/** Log return over `period` bars: ln(x[i] / x[i - period]); NaN unless both prices are positive. */
export function logReturns(x: Float64Array, period = 1): Float64Array {
  const n = x.length;
  const out = new Float64Array(n).fill(NaN);
  for (let i = period; i < n; i++) {
    const cur = x[i] as number;
    const prev = x[i - period] as number;
    // log1p of the exact difference keeps full relative precision for the tiny returns of short bars.
    if (cur > 0 && prev > 0) out[i] = Math.log1p((cur - prev) / prev);
  }
  return out;
}

/** The value `period` bars earlier; NaN for the first `period` bars. */
export function lag(x: Float64Array, period: number): Float64Array {
  const n = x.length;
  const out = new Float64Array(n).fill(NaN);
  if (period < n) out.set(x.subarray(0, n - period), period);
  return out;
}
