import { getCalendar, type CalendarCode } from '../calendar/calendar-registry.js';
import type { TradingCalendar } from '../calendar/trading-calendar.js';
import { ConfigError } from '../core/errors.js';
import { simInstrumentSchema, type SimInstrumentConfig } from './sim-config.js';

/** An instrument as the sim serves it: contract fields in IB's spelling plus its market model. */
export interface SimInstrument {
  readonly key: string;
  readonly conId: number;
  readonly secType: string;
  readonly symbol: string;
  readonly exchange: string;
  readonly primaryExchange: string;
  readonly currency: string;
  /** `20250321` for futures (the last trade date), empty otherwise. */
  readonly lastTradeDate: string;
  /** `202503` for futures, empty otherwise. */
  readonly contractMonth: string;
  readonly localSymbol: string;
  readonly tradingClass: string;
  readonly multiplier: string;
  readonly calendarCode: CalendarCode;
  readonly calendar: TradingCalendar;
  /** IB zone id, e.g. US/Eastern. */
  readonly timeZoneId: string;
  readonly startPrice: number;
  readonly volatility: number;
  readonly seed: number;
  readonly minTick: number;
  readonly avgVolumePerMinute: number;
  readonly longName: string;
  readonly isin: string;
  /** First session date with history, `YYYY-MM-DD`. */
  readonly headDate: string;
  /** Minutes traded before the open and after the close when useRTH=0 (stocks: 330 / 240). */
  readonly preMarketMinutes: number;
  readonly postMarketMinutes: number;
  /** TRADES for stocks and futures, MIDPOINT for FX (where TRADES has no data). */
  readonly hasTrades: boolean;
  readonly replayFile: string | undefined;
}

/**
 * The built-in universe: what `ibpipe sim` serves with no config, and what the demo config
 * names. conIds are fixed so clients can cache them across runs.
 */
export const BUILTIN_INSTRUMENTS: readonly SimInstrumentConfig[] = [
  stock('AAPL', 265598, 'NASDAQ', 'APPLE INC', 190, 0.28, 'US0378331005'),
  stock('MSFT', 272093, 'NASDAQ', 'MICROSOFT CORP', 380, 0.25, 'US5949181045'),
  stock('SPY', 756733, 'ARCA', 'SPDR S&P 500 ETF TRUST', 470, 0.16, 'US78462F1030'),
  stock('NVDA', 4815747, 'NASDAQ', 'NVIDIA CORP', 480, 0.5, 'US67066G1040'),
  stock('JPM', 1520593, 'NYSE', 'JPMORGAN CHASE & CO', 170, 0.22, 'US46625H1005'),
  stock('AMZN', 3691937, 'NASDAQ', 'AMAZON.COM INC', 150, 0.32, 'US0231351067'),
  stock('QQQ', 320227571, 'NASDAQ', 'INVESCO QQQ TRUST SERIES 1', 400, 0.2, 'US46090E1038'),
  {
    key: 'ES-202503',
    sec_type: 'FUT',
    symbol: 'ES',
    exchange: 'CME',
    currency: 'USD',
    last_trade_date_or_contract_month: '20250321',
    local_symbol: 'ESH5',
    trading_class: 'ES',
    multiplier: '50',
    con_id: 620731015,
    calendar: 'CMES',
    time_zone_id: 'US/Central',
    start_price: 4800,
    volatility: 0.16,
    min_tick: 0.25,
    avg_volume_per_minute: 1500,
    long_name: 'E-mini S&P 500',
    head_date: '2024-03-15',
  },
  {
    key: 'ES-202506',
    sec_type: 'FUT',
    symbol: 'ES',
    exchange: 'CME',
    currency: 'USD',
    last_trade_date_or_contract_month: '20250620',
    local_symbol: 'ESM5',
    trading_class: 'ES',
    multiplier: '50',
    con_id: 637533641,
    calendar: 'CMES',
    time_zone_id: 'US/Central',
    start_price: 4850,
    volatility: 0.16,
    min_tick: 0.25,
    avg_volume_per_minute: 1500,
    long_name: 'E-mini S&P 500',
    head_date: '2024-06-21',
  },
  {
    key: 'EURUSD',
    sec_type: 'CASH',
    symbol: 'EUR',
    exchange: 'IDEALPRO',
    currency: 'USD',
    local_symbol: 'EUR.USD',
    trading_class: 'EUR.USD',
    con_id: 12087792,
    calendar: 'FX',
    time_zone_id: 'US/Eastern',
    start_price: 1.09,
    volatility: 0.07,
    min_tick: 0.00005,
    long_name: 'European Monetary Union Euro',
    head_date: '2005-01-03',
  },
].map((c) => simInstrumentSchema.parse(c));

function stock(
  symbol: string,
  conId: number,
  primary: string,
  longName: string,
  price: number,
  vol: number,
  isin: string,
): SimInstrumentConfig {
  return {
    key: symbol,
    sec_type: 'STK',
    symbol,
    exchange: 'SMART',
    primary_exchange: primary,
    currency: 'USD',
    con_id: conId,
    calendar: 'XNYS',
    time_zone_id: 'US/Eastern',
    start_price: price,
    volatility: vol,
    min_tick: 0.01,
    avg_volume_per_minute: 20_000,
    long_name: longName,
    isin,
    head_date: '2000-01-03',
  } as SimInstrumentConfig;
}

const DEFAULT_ZONE_ID: Readonly<Record<CalendarCode, string>> = {
  XNYS: 'US/Eastern',
  CMES: 'US/Central',
  FX: 'US/Eastern',
};

/** 32-bit FNV-1a of a string: default seeds and conIds derived from keys. */
export function hashString(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

/** Resolves config entries into served instruments; later entries replace earlier ones by key. */
export function resolveInstruments(
  configs: readonly SimInstrumentConfig[],
  extraClosures: Readonly<Partial<Record<CalendarCode, readonly string[]>>> = {},
): SimInstrument[] {
  const byKey = new Map<string, SimInstrumentConfig>();
  for (const c of configs) byKey.set(c.key, c);
  const out = [...byKey.values()].map((c) => resolveOne(c, extraClosures));
  const seen = new Map<number, string>();
  for (const inst of out) {
    const other = seen.get(inst.conId);
    if (other !== undefined) {
      throw new ConfigError(`sim instruments ${other} and ${inst.key} share con_id ${inst.conId}`, [
        `sim.instruments: ${inst.key}: con_id ${inst.conId} already used by ${other}`,
      ]);
    }
    seen.set(inst.conId, inst.key);
  }
  return out;
}

function resolveOne(
  c: SimInstrumentConfig,
  extraClosures: Readonly<Partial<Record<CalendarCode, readonly string[]>>>,
): SimInstrument {
  const ltd = c.last_trade_date_or_contract_month ?? '';
  const isStock = c.sec_type === 'STK' || c.sec_type === 'ETF';
  const isCash = c.sec_type === 'CASH';
  return {
    key: c.key,
    // Derived conIds stay clear of the small numbers real contracts use, and are stable per key.
    conId: c.con_id ?? 900_000_000 + (hashString(c.key) % 90_000_000),
    secType: c.sec_type,
    symbol: c.symbol,
    exchange: c.exchange,
    primaryExchange: c.primary_exchange ?? (isStock ? '' : c.exchange),
    currency: c.currency,
    lastTradeDate: ltd.length === 8 ? ltd : '',
    contractMonth: ltd.slice(0, 6),
    localSymbol: c.local_symbol ?? (isCash ? `${c.symbol}.${c.currency}` : c.symbol),
    tradingClass:
      c.trading_class ??
      (isCash
        ? `${c.symbol}.${c.currency}`
        : isStock
          ? c.primary_exchange === 'NASDAQ'
            ? 'NMS'
            : c.symbol
          : c.symbol),
    multiplier: c.multiplier ?? '',
    calendarCode: c.calendar,
    calendar: getCalendar(c.calendar, { extraClosures: extraClosures[c.calendar] ?? [] }),
    timeZoneId: c.time_zone_id ?? DEFAULT_ZONE_ID[c.calendar],
    startPrice: c.start_price,
    volatility: c.volatility,
    seed: c.seed ?? hashString(c.key),
    minTick: c.min_tick ?? (isCash ? 0.00005 : c.sec_type === 'FUT' ? 0.25 : 0.01),
    avgVolumePerMinute: c.avg_volume_per_minute ?? (isCash ? 0 : 5_000),
    longName: c.long_name ?? c.symbol,
    isin: c.isin ?? '',
    headDate: c.head_date ?? '2005-01-03',
    preMarketMinutes: (c.extended_hours ?? isStock) ? 330 : 0,
    postMarketMinutes: (c.extended_hours ?? isStock) ? 240 : 0,
    hasTrades: !isCash,
    replayFile: c.replay_file,
  };
}

/** The contract fields a client sent (REQ_CONTRACT_DATA / REQ_HISTORICAL_DATA / …). */
export interface ContractQuery {
  readonly conId: number;
  readonly symbol: string;
  readonly secType: string;
  readonly lastTradeDateOrContractMonth: string;
  readonly exchange: string;
  readonly primaryExch: string;
  readonly currency: string;
  readonly localSymbol: string;
  readonly tradingClass: string;
  readonly multiplier: string;
}

/**
 * Instruments matching a client's contract description, as IB matches them: by conId when one
 * is given, otherwise every non-empty field must agree (symbol, secType, currency, exchange —
 * SMART routes stocks, the primary exchange also matches —, contract month or date prefix,
 * local symbol, trading class).
 */
export function matchContract(instruments: readonly SimInstrument[], q: ContractQuery): SimInstrument[] {
  if (q.conId > 0) {
    return instruments.filter(
      (i) => i.conId === q.conId && (q.exchange === '' || exchangeMatches(i, q.exchange)),
    );
  }
  const eq = (a: string, b: string): boolean => a.toUpperCase() === b.toUpperCase();
  return instruments.filter((i) => {
    if (q.symbol === '' && q.localSymbol === '') return false;
    if (q.symbol !== '' && !eq(q.symbol, i.symbol)) return false;
    if (q.secType !== '' && !eq(q.secType, i.secType) && !(eq(q.secType, 'STK') && i.secType === 'ETF'))
      return false;
    if (q.currency !== '' && !eq(q.currency, i.currency)) return false;
    if (q.exchange !== '' && !exchangeMatches(i, q.exchange)) return false;
    if (q.primaryExch !== '' && i.primaryExchange !== '' && !eq(q.primaryExch, i.primaryExchange))
      return false;
    if (q.localSymbol !== '' && !eq(q.localSymbol, i.localSymbol)) return false;
    if (q.tradingClass !== '' && !eq(q.tradingClass, i.tradingClass)) return false;
    if (q.multiplier !== '' && i.multiplier !== '' && Number(q.multiplier) !== Number(i.multiplier))
      return false;
    const month = q.lastTradeDateOrContractMonth.trim();
    if (month !== '') {
      const ltd = i.lastTradeDate || i.contractMonth;
      if (ltd === '' || !(ltd.startsWith(month) || month.startsWith(ltd))) return false;
    }
    return true;
  });
}

function exchangeMatches(i: SimInstrument, exchange: string): boolean {
  const ex = exchange.toUpperCase();
  if (ex === i.exchange.toUpperCase()) return true;
  if (ex === 'SMART' && (i.secType === 'STK' || i.secType === 'ETF')) return true;
  if (i.primaryExchange !== '' && ex === i.primaryExchange.toUpperCase()) return true;
  // Futures are often requested on GLOBEX, the pre-2020 name of CME's electronic venue.
  return i.secType === 'FUT' && ex === 'GLOBEX' && i.exchange.toUpperCase() === 'CME';
}
