// An ibpipe custom feature in TypeScript (loaded through tsx; README "Custom features"): the
// session's running high and low up to each bar, two outputs, restarting at every session start.
// It needs no earlier bars, so `lookback_bars: 0` (each call then starts at a session's first bar):
//
//   - { name: sess, fn: custom, module: ./features/session-range.ts, export: sessionRange,
//       inputs: [high, low], outputs: [high, low] }      # columns sess_high, sess_low

interface Args {
  readonly inputs: Readonly<Record<string, Float64Array>>;
  readonly sessionStarts: Int32Array;
  readonly params: Readonly<Record<string, unknown>>;
  readonly length: number;
}

export function sessionRange({ inputs, sessionStarts, length }: Args): Record<string, Float64Array> {
  const high = inputs['high'] as Float64Array;
  const low = inputs['low'] as Float64Array;
  const outHigh = new Float64Array(length).fill(NaN);
  const outLow = new Float64Array(length).fill(NaN);
  const starts = new Set(sessionStarts);
  let hi = -Infinity;
  let lo = Infinity;
  for (let i = 0; i < length; i++) {
    if (starts.has(i)) {
      hi = -Infinity;
      lo = Infinity;
    }
    const h = high[i] as number;
    const l = low[i] as number;
    if (h === h && h > hi) hi = h; // NULL bars (NaN) are skipped
    if (l === l && l < lo) lo = l;
    outHigh[i] = hi === -Infinity ? NaN : hi;
    outLow[i] = lo === Infinity ? NaN : lo;
  }
  return { high: outHigh, low: outLow };
}
