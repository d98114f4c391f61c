import { getCalendar } from '../../src/calendar/calendar-registry.js';
import { InstrumentCalendars } from '../../src/calendar/instrument-calendars.js';
import type { Session } from '../../src/calendar/trading-calendar.js';
import { instrumentConfigSchema } from '../../src/config/instrument-config.js';
import type { BarEvent } from '../../src/core/bars.js';
import type { Instrument } from '../../src/core/instruments.js';
import { simInstrumentSchema, type SimInstrumentConfig } from '../../src/sim/sim-config.js';

/**
 * Deterministic benchmark data: a universe of XNYS stocks and 1-min bars that are a seeded
 * random walk per (symbol, session), so every run of every benchmark sees the same rows.
 */

export const MINUTE = 60_000;

/** The first session of the benchmark window: March–April 2024 have no early closes (390 bars a day). */
export const FIRST_SESSION = '2024-03-04';

/** Instrument keys B000, B001, … */
export function benchSymbols(n: number): string[] {
  return Array.from({ length: n }, (_, i) => `B${String(i).padStart(3, '0')}`);
}

export function benchCalendars(symbols: readonly string[]): InstrumentCalendars {
  return new InstrumentCalendars(symbols.map((key) => ({ key, calendar: 'XNYS' })));
}

/** `n` consecutive XNYS sessions from FIRST_SESSION (holidays skipped by the calendar). */
export function benchSessions(n: number, first = FIRST_SESSION): Session[] {
  const out = getCalendar('XNYS').sessionsInRange(first, '2024-12-31').slice(0, n);
  if (out.length < n) throw new Error(`only ${out.length} sessions available`);
  return out;
}

/** mulberry32: a small, fast, seedable PRNG (uniform in [0, 1)). */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export interface BarFaults {
  /** Fraction of bars never delivered. */
  readonly missingRate?: number;
  /** Fraction of bars delivered broken (invalid or inconsistent: the transform quarantines them). */
  readonly badRate?: number;
}

const BAD_KINDS: readonly ((b: BarEvent) => void)[] = [
  (b) => {
    b.low = -1; // positive_price
  },
  (b) => {
    b.high = b.low - 1; // ohlc_consistency
  },
  (b) => {
    b.volume = -5; // non_negative_volume
  },
];

/** One session of 1-min bars for one symbol, in ts order. */
export function sessionBars(symbol: string, symbolIndex: number, session: Session, faults: BarFaults = {}): BarEvent[] {
  const rnd = seededRandom(symbolIndex * 100_003 + Math.floor(session.open / 86_400_000));
  const missing = faults.missingRate ?? 0;
  const bad = faults.badRate ?? 0;
  const out: BarEvent[] = [];
  let price = 20 + (symbolIndex % 400);
  let k = 0;
  for (let ts = session.open; ts < session.close; ts += MINUTE) {
    const open = price;
    price = Math.max(1, price * (1 + (rnd() - 0.5) * 0.004));
    const high = Math.max(open, price) * (1 + rnd() * 0.001);
    const low = Math.min(open, price) * (1 - rnd() * 0.001);
    const volume = Math.floor(100 + rnd() * 5000);
    const dropped = rnd() < missing;
    const broken = rnd() < bad;
    if (dropped) continue;
    const b: BarEvent = {
      source: 'TWS',
      symbol,
      conId: 10_000 + symbolIndex,
      barSize: '1 min',
      whatToShow: 'TRADES',
      ts,
      open,
      high,
      low,
      close: price,
      volume,
      wap: (high + low + price) / 3,
      tradeCount: Math.floor(volume / 20),
      requestId: `bench:${symbol}:${session.date}`,
    };
    if (broken) (BAD_KINDS[k++ % BAD_KINDS.length] as (b: BarEvent) => void)(b);
    out.push(b);
  }
  return out;
}

/** One symbol's columns over several sessions (the feature functions' input). */
export interface SymbolSeries {
  ts: Float64Array;
  open: Float64Array;
  high: Float64Array;
  low: Float64Array;
  close: Float64Array;
  volume: Float64Array;
  sessionDate: string[];
}

/** Gap-free 1-min series over the sessions (what the curated dataset holds after the transform). */
export function symbolSeries(symbolIndex: number, sessions: readonly Session[]): SymbolSeries {
  const n = sessions.reduce((s, x) => s + (x.close - x.open) / MINUTE, 0);
  const out: SymbolSeries = {
    ts: new Float64Array(n),
    open: new Float64Array(n),
    high: new Float64Array(n),
    low: new Float64Array(n),
    close: new Float64Array(n),
    volume: new Float64Array(n),
    sessionDate: new Array<string>(n),
  };
  let i = 0;
  for (const s of sessions) {
    for (const b of sessionBars('X', symbolIndex, s)) {
      out.ts[i] = b.ts;
      out.open[i] = b.open;
      out.high[i] = b.high;
      out.low[i] = b.low;
      out.close[i] = b.close;
      out.volume[i] = b.volume;
      out.sessionDate[i] = s.date;
      i++;
    }
  }
  return out;
}

/** The universe as the simulated gateway serves it (XNYS stocks, fixed conIds, no built-ins). */
export function simInstruments(symbols: readonly string[]): SimInstrumentConfig[] {
  return symbols.map((key, i) =>
    simInstrumentSchema.parse({
      key,
      sec_type: 'STK',
      symbol: key,
      exchange: 'SMART',
      primary_exchange: 'NYSE',
      currency: 'USD',
      con_id: 10_000 + i,
      calendar: 'XNYS',
      start_price: 20 + (i % 400),
      head_date: '2020-01-02',
    }),
  );
}

/** The same universe as a user configures it (`instruments:`). */
export function configInstruments(symbols: readonly string[]): Instrument[] {
  return symbols.map((key) =>
    instrumentConfigSchema.parse({ key, sec_type: 'STK', symbol: key, exchange: 'SMART', primary_exchange: 'NYSE', currency: 'USD', calendar: 'XNYS' }),
  );
}
