import { formatIsoDate } from '../calendar/civil-date.js';
import { tradingIntervals } from '../calendar/trading-intervals.js';
import { instantToLocal } from '../calendar/zoned-time.js';
import { formatIbDate } from './ib-request-time.js';
import type { SimInstrument } from './sim-instruments.js';
import type { ContractDataFields } from './tws-protocol.js';

/** Days of trading/liquid hours listed in contract details, as gateways do (about a week). */
const HOURS_DAYS = 7;

/**
 * CONTRACT_DATA fields for an instrument, shaped like a real gateway's (reference §2.4: TSLA
 * capture): trading and liquid hours for the coming week in IB's `yyyymmdd:hhmm-yyyymmdd:hhmm`
 * form in the contract's zone, one entry per traded interval (a session's breaks, such as
 * Globex's 16:00–17:00 halt, are left out), CLOSED on non-trading days.
 */
export function buildContractData(
  inst: SimInstrument,
  requestedExchange: string,
  now: number,
): ContractDataFields {
  const isStock = inst.secType === 'STK' || inst.secType === 'ETF';
  const isFut = inst.secType === 'FUT';
  const isCash = inst.secType === 'CASH';
  const exchange = requestedExchange.toUpperCase() === 'SMART' && isStock ? 'SMART' : inst.exchange;
  const { tradingHours, liquidHours } = hoursStrings(inst, now);
  return {
    symbol: inst.symbol,
    secType: inst.secType,
    lastTradeDateOrContractMonth: inst.lastTradeDate,
    lastTradeDate: inst.lastTradeDate,
    exchange,
    currency: inst.currency,
    localSymbol: inst.localSymbol,
    marketName: isStock ? (inst.primaryExchange === 'NASDAQ' ? 'NMS' : inst.symbol) : inst.tradingClass,
    tradingClass: inst.tradingClass,
    conId: inst.conId,
    minTick: inst.minTick,
    multiplier: inst.multiplier,
    orderTypes:
      'ACTIVETIM,AD,ADJUST,ALERT,ALLOC,AVGCOST,BASKET,DAY,DEACT,GAT,GTC,GTD,LIT,LMT,MIT,MKT,MTL,NONALGO,OCA,REL,STP,STPLMT,TRAIL,WHATIF',
    validExchanges: isStock ? `SMART,AMEX,NYSE,CBOE,ARCA,ISLAND,${inst.primaryExchange}` : inst.exchange,
    longName: inst.longName,
    primaryExch: inst.primaryExchange,
    contractMonth: inst.contractMonth,
    industry: isStock ? 'Simulated' : '',
    category: isStock ? 'Simulated' : '',
    subcategory: isStock ? 'Simulated' : '',
    timeZoneId: inst.timeZoneId,
    tradingHours,
    liquidHours,
    secIds: inst.isin !== '' ? [{ tag: 'ISIN', value: inst.isin }] : [],
    aggGroup: isStock ? 1 : isFut ? 2 : 4,
    underSymbol: isFut ? inst.symbol : '',
    underSecType: isFut ? 'IND' : '',
    marketRuleIds: isStock ? '26,26,26,26,26,26,26' : isFut ? '67' : '239',
    realExpirationDate: inst.lastTradeDate,
    stockType: isStock ? 'COMMON' : '',
    minSize: isCash ? '0.01' : '1',
    sizeIncrement: isCash ? '0.01' : '1',
    suggestedSizeIncrement: isStock ? '100' : '1',
  };
}

function hoursStrings(inst: SimInstrument, now: number): { tradingHours: string; liquidHours: string } {
  const zone = inst.timeZoneId;
  const today = instantToLocal(zone, now).day;
  const trading: string[] = [];
  const liquid: string[] = [];
  const sessions = inst.calendar.sessionsInRange(formatIsoDate(today), formatIsoDate(today + HOURS_DAYS - 1));
  for (let day = today; day < today + HOURS_DAYS; day++) {
    const s = sessions.find((x) => x.date === formatIsoDate(day));
    if (!s) {
      trading.push(`${formatIbDate(day)}:CLOSED`);
      liquid.push(`${formatIbDate(day)}:CLOSED`);
      continue;
    }
    const pre = inst.preMarketMinutes * 60_000;
    const post = inst.postMarketMinutes * 60_000;
    const intervals = tradingIntervals(s);
    intervals.forEach((iv, k) => {
      const from = k === 0 ? iv.start - pre : iv.start;
      const to = k === intervals.length - 1 ? iv.end + post : iv.end;
      trading.push(`${stamp(from, zone)}-${stamp(to, zone)}`);
      liquid.push(`${stamp(iv.start, zone)}-${stamp(iv.end, zone)}`);
    });
  }
  return { tradingHours: trading.join(';'), liquidHours: liquid.join(';') };
}

function stamp(instant: number, zone: string): string {
  const { day, msOfDay } = instantToLocal(zone, instant);
  const minutes = Math.floor(msOfDay / 60_000);
  const hhmm = `${String(Math.floor(minutes / 60)).padStart(2, '0')}${String(minutes % 60).padStart(2, '0')}`;
  return `${formatIbDate(day)}:${hhmm}`;
}
