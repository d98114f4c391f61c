import type { BarEvent, BarSize } from '../../core/bars.js';
import type { ContractSpec } from '../../core/instruments.js';
import type { IbContract, IbContractDetails } from './ib-api-port.js';
import { parseIbBarTime } from './ib-datetime.js';
import type { ResolvedContract } from './tws-port.js';

/**
 * The pure mapping between IB's payloads (as @stoqey/ib delivers them) and ibpipe's types: a bar
 * payload to a BarEvent, contract details to a ResolvedContract, and back to the contracts a
 * request carries. No I/O, no clock: tested on payloads recorded from the simulated gateway
 * (test/fixtures/ib-payloads/).
 */

/** One bar as @stoqey/ib's `historicalData` / `historicalDataUpdate` events deliver it (after the request id). */
export interface IbBarPayload {
  /** Bar start: epoch seconds (formatDate 2), `yyyymmdd hh:mm:ss <zone>` (formatDate 1) or `yyyymmdd` (daily bars). */
  readonly time: string;
  readonly open: number;
  readonly high: number;
  readonly low: number;
  readonly close: number;
  /** -1 for series without volume (MIDPOINT, BID, ASK …). */
  readonly volume: number;
  /** -1 where IB has no trade count. */
  readonly count: number;
  /** -1 where IB has no WAP. */
  readonly wap: number;
}

/** Where a bar came from, stamped on the BarEvent. */
export interface IbBarContext {
  readonly contract: Pick<ResolvedContract, 'conId' | 'timeZone'>;
  /** Instrument key (the `symbol` column). */
  readonly symbol: string;
  readonly barSize: BarSize;
  readonly whatToShow: string;
  readonly requestId: string;
}

function finite(v: unknown): number | null {
  return typeof v === 'number' && Number.isFinite(v) ? v : null;
}

/**
 * An IB bar as a BarEvent: its start as a UTC instant (a daily `yyyymmdd` is local midnight of the
 * contract's zone; the ingestor moves it to the session open), volume 0 and WAP / trade count
 * NULL where IB sends -1 ("not applicable"), the trade count a whole number.
 */
export function ibBarToBarEvent(r: IbBarPayload, ctx: IbBarContext): BarEvent {
  const volume = finite(r.volume);
  const wap = finite(r.wap);
  const count = finite(r.count);
  return {
    source: 'TWS',
    symbol: ctx.symbol,
    conId: ctx.contract.conId,
    barSize: ctx.barSize,
    whatToShow: ctx.whatToShow,
    ts: parseIbBarTime(r.time, ctx.contract.timeZone),
    open: r.open,
    high: r.high,
    low: r.low,
    close: r.close,
    // MIDPOINT/BID/ASK bars carry -1 for volume, WAP and count: "not applicable", not a value.
    volume: volume === null || volume < 0 ? 0 : volume,
    wap: wap === null || wap < 0 ? null : wap,
    tradeCount: count === null || count < 0 ? null : Math.round(count),
    requestId: ctx.requestId,
  };
}

/** The contract a contract-details request asks about, from the instrument's config. */
export function specToIbContract(spec: ContractSpec): IbContract {
  const c: IbContract = { symbol: spec.symbol, secType: spec.sec_type, exchange: spec.exchange, currency: spec.currency };
  if (spec.con_id !== undefined) c.conId = spec.con_id;
  if (spec.primary_exchange) c.primaryExch = spec.primary_exchange;
  if (spec.last_trade_date_or_contract_month) c.lastTradeDateOrContractMonth = spec.last_trade_date_or_contract_month;
  if (spec.local_symbol) c.localSymbol = spec.local_symbol;
  if (spec.multiplier) c.multiplier = Number(spec.multiplier);
  return c;
}

/** The contract a data request carries: the resolved conId with what identifies it. */
export function toRequestContract(c: ResolvedContract): IbContract {
  const out: IbContract = { conId: c.conId, symbol: c.symbol, secType: c.secType, exchange: c.exchange, currency: c.currency };
  if (c.primaryExchange) out.primaryExch = c.primaryExchange;
  if (c.localSymbol) out.localSymbol = c.localSymbol;
  if (c.lastTradeDateOrContractMonth) out.lastTradeDateOrContractMonth = c.lastTradeDateOrContractMonth;
  return out;
}

/**
 * The contract IB matched for a spec (its first details answer; callers warn when there are
 * several), the spec filling what IB left empty; no zone from IB means UTC. Null when IB's answer
 * names no conId.
 */
export function contractFromDetails(d: IbContractDetails, spec: ContractSpec): ResolvedContract | null {
  const c = d.contract;
  if (c.conId === undefined) return null;
  return {
    conId: c.conId,
    symbol: c.symbol ?? spec.symbol,
    secType: c.secType ?? spec.sec_type,
    exchange: spec.exchange,
    primaryExchange: c.primaryExch || spec.primary_exchange,
    currency: c.currency ?? spec.currency,
    localSymbol: c.localSymbol || spec.local_symbol,
    lastTradeDateOrContractMonth: c.lastTradeDateOrContractMonth || spec.last_trade_date_or_contract_month,
    timeZone: d.timeZoneId || 'UTC',
    tradingHours: d.tradingHours ?? '',
    liquidHours: d.liquidHours ?? '',
    longName: d.longName ?? '',
  };
}
