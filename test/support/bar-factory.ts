import type { BarEvent } from '../../src/core/bars.js';

/**
 * Deterministic bars for tests: price is a function of (symbol, ts) only, so any test can
 * recompute the expected value of any bar independently of the code under test.
 */
export function priceAt(symbol: string, ts: number): number {
  let h = 0;
  for (const ch of symbol) h = (h * 31 + ch.charCodeAt(0)) % 1000;
  return 100 + h / 10 + ((ts / 60_000) % 97) / 100;
}

export function makeBar(symbol: string, ts: number, overrides: Partial<BarEvent> = {}): BarEvent {
  const p = priceAt(symbol, ts);
  return {
    source: 'TWS',
    symbol,
    conId: 1000 + symbol.length,
    barSize: '1 min',
    whatToShow: 'TRADES',
    ts,
    open: p,
    high: p + 0.5,
    low: p - 0.5,
    close: p + 0.25,
    volume: 1000 + ((ts / 60_000) % 50),
    wap: p + 0.1,
    tradeCount: 10,
    requestId: 'req-1',
    ...overrides,
  };
}

/** One bar per minute in [start, end). */
export function makeBars(symbol: string, start: number, end: number, step = 60_000): BarEvent[] {
  const out: BarEvent[] = [];
  for (let t = start; t < end; t += step) out.push(makeBar(symbol, t));
  return out;
}
