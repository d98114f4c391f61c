import { ema } from './moving-averages.js';

/** MACD line, signal line and histogram, each NaN during its own warm-up. */
export interface MacdResult {
  readonly macd: Float64Array;
  readonly signal: Float64Array;
  readonly hist: Float64Array;
}

/**
 * MACD as a price difference (TTR `MACD(percent = FALSE)`, TA-Lib `MACD`): EMA(fast) − EMA(slow),
 * each EMA seeded by the SMA of its own first values, so the line starts at index slow − 1 of a
 * run. The signal is EMA(signal) of the MACD line seeded by the SMA of the first `signal` MACD
 * values (TTR's convention), first at index slow + signal − 2. hist = macd − signal.
 */
export function macd(x: Float64Array, fast = 12, slow = 26, signal = 9): MacdResult {
  const f = ema(x, fast);
  const s = ema(x, slow);
  const n = x.length;
  const line = new Float64Array(n);
  for (let i = 0; i < n; i++) line[i] = (f[i] as number) - (s[i] as number);
  const sig = ema(line, signal);
  const hist = new Float64Array(n);
  for (let i = 0; i < n; i++) hist[i] = (line[i] as number) - (sig[i] as number);
  return { macd: line, signal: sig, hist };
}
