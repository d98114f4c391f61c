import type { WireValue } from './wire-codec.js';
import type { ContractQuery } from './sim-instruments.js';

/**
 * Message ids, field layouts and error texts of the TWS API at server version 193, the version
 * a current IB Gateway announces to `@stoqey/ib` 1.6.10 (facts: shared/reference/tws-protocol.md
 * §1–3). Layouts are gated on that single constant; changing it means re-checking every builder
 * against the client's decoder.
 */
export const SERVER_VERSION = 193;
/** The lowest client range the sim accepts (V100+ framing). */
export const MIN_CLIENT_VERSION = 100;

/** Client → server message ids. */
export const REQ = {
  REQ_MKT_DATA: 1,
  CANCEL_MKT_DATA: 2,
  REQ_IDS: 8,
  REQ_CONTRACT_DATA: 9,
  REQ_MANAGED_ACCTS: 17,
  REQ_HISTORICAL_DATA: 20,
  CANCEL_HISTORICAL_DATA: 25,
  REQ_CURRENT_TIME: 49,
  REQ_REAL_TIME_BARS: 50,
  CANCEL_REAL_TIME_BARS: 51,
  REQ_MARKET_DATA_TYPE: 59,
  START_API: 71,
  REQ_HEAD_TIMESTAMP: 87,
  CANCEL_HEAD_TIMESTAMP: 90,
} as const;

/** Server → client message ids. */
export const MSG = {
  ERR_MSG: 4,
  NEXT_VALID_ID: 9,
  CONTRACT_DATA: 10,
  MANAGED_ACCTS: 15,
  HISTORICAL_DATA: 17,
  CURRENT_TIME: 49,
  REAL_TIME_BARS: 50,
  CONTRACT_DATA_END: 52,
  HEAD_TIMESTAMP: 88,
  HISTORICAL_DATA_UPDATE: 90,
} as const;

/** Id used by ERR_MSG for notices not tied to a request (the client emits `info`). */
export const NO_VALID_ID = -1;

/** IB message codes the sim sends. */
export const CODE = {
  MAX_RATE_EXCEEDED: 100,
  HMDS_ERROR: 162,
  NO_SECURITY_DEFINITION: 200,
  VALIDATION: 321,
  CLIENT_ID_IN_USE: 326,
  NO_QUERY_FOR_TICKER: 366,
  INVALID_REALTIME_QUERY: 420,
  CONNECTIVITY_LOST: 1100,
  CONNECTIVITY_RESTORED_DATA_LOST: 1101,
  CONNECTIVITY_RESTORED_DATA_MAINTAINED: 1102,
  MARKET_FARM_BROKEN: 2103,
  MARKET_FARM_OK: 2104,
  HMDS_FARM_BROKEN: 2105,
  HMDS_FARM_OK: 2106,
  SECDEF_FARM_OK: 2158,
  IMPLIED_ZONE_WARNING: 2174,
  INVALID_END_DATE: 10314,
} as const;

const HMDS_PREFIX = 'Historical Market Data Service error message:';

/** Error texts as real gateways send them (see the reference's §3.3 for sources). */
export const TEXT = {
  maxRate: (received: number, max: number): string =>
    `Max rate of messages per second has been exceeded:max=${max} rec=${received} (1)`,
  pacingViolation: `${HMDS_PREFIX}Historical data request pacing violation`,
  noData: (symbol: string, exchange: string, whatToShow: string): string =>
    `${HMDS_PREFIX}HMDS query returned no data: ${symbol}@${exchange} ${labelOf(whatToShow)}`,
  queryCancelled: (reqId: number): string => `${HMDS_PREFIX}API historical data query cancelled: ${reqId}`,
  timeLengthExceedMax: `${HMDS_PREFIX}Time length exceed max.`,
  noSecurityDefinition: 'No security definition has been found for the request',
  ambiguous: (symbol: string): string => `The contract description specified for ${symbol} is ambiguous.`,
  validation: (cause: string): string => `Error validating request.-'bM' : cause - ${cause}`,
  clientIdInUse: 'Unable to connect as the client id is already in use. Retry with a unique client id.',
  noQueryForTicker: (reqId: number): string => `No historical data query found for ticker id:${reqId}`,
  invalidRealtimeQuery: (cause: string): string => `Invalid real-time query:${cause}`,
  connectivityLost: 'Connectivity between IB and the TWS has been lost.',
  connectivityRestoredDataLost: 'Connectivity between IB and TWS has been restored- data lost.',
  connectivityRestoredDataMaintained: 'Connectivity between IB and TWS has been restored- data maintained.',
  marketFarmBroken: (farm: string): string => `Market data farm connection is broken:${farm}`,
  marketFarmOk: (farm: string): string => `Market data farm connection is OK:${farm}`,
  hmdsFarmBroken: (farm: string): string => `HMDS data farm connection is broken:${farm}`,
  hmdsFarmOk: (farm: string): string => `HMDS data farm connection is OK:${farm}`,
  secdefFarmOk: (farm: string): string => `Sec-def data farm connection is OK:${farm}`,
  impliedZone:
    'Warning: You submitted request with date-time attributes without explicit time zone. Please switch to use ' +
    'yyyymmdd-hh:mm:ss in UTC or use instrument time zone, like US/Eastern. Implied time zone functionality will be ' +
    'removed in the next API release',
  invalidEndDate:
    'End Date/Time: The date, time, or time-zone entered is invalid.\nThe correct format is yyyymmdd hh:mm:ss xx/xxxx\n' +
    'where yyyymmdd and xx/xxxx are optional.\nE.g.: 20031126 15:59:00 US/Eastern\n\nNote that there is a space between ' +
    'the date and time,\nand between the time and time-zone.\n\nIf no date is specified, current date is assumed.\n' +
    'If no time-zone is specified, local time-zone is assumed(deprecated).\n\nYou can also provide yyyymmddd-hh:mm:ss ' +
    'time is in UTC.\nNote that there is a dash between the date and time in UTC notation.',
} as const;

/** `TRADES` → `Trades`, the label IB puts in chart names such as `AAPL@SMART Trades`. */
function labelOf(whatToShow: string): string {
  const lower = whatToShow.toLowerCase();
  return lower.charAt(0).toUpperCase() + lower.slice(1);
}

/** The contract fields of CONTRACT_DATA, already in IB's spelling. */
export interface ContractDataFields {
  readonly symbol: string;
  readonly secType: string;
  readonly lastTradeDateOrContractMonth: string;
  readonly lastTradeDate: string;
  readonly exchange: string;
  readonly currency: string;
  readonly localSymbol: string;
  readonly marketName: string;
  readonly tradingClass: string;
  readonly conId: number;
  readonly minTick: number;
  readonly multiplier: string;
  readonly orderTypes: string;
  readonly validExchanges: string;
  readonly longName: string;
  readonly primaryExch: string;
  readonly contractMonth: string;
  readonly industry: string;
  readonly category: string;
  readonly subcategory: string;
  readonly timeZoneId: string;
  readonly tradingHours: string;
  readonly liquidHours: string;
  readonly secIds: readonly { tag: string; value: string }[];
  readonly aggGroup: number;
  readonly underSymbol: string;
  readonly underSecType: string;
  readonly marketRuleIds: string;
  readonly realExpirationDate: string;
  readonly stockType: string;
  readonly minSize: string;
  readonly sizeIncrement: string;
  readonly suggestedSizeIncrement: string;
}

/** One bar as HISTORICAL_DATA / HISTORICAL_DATA_UPDATE carry it; `date` is already formatted. */
export interface WireBar {
  readonly date: string;
  readonly open: number;
  readonly high: number;
  readonly low: number;
  readonly close: number;
  readonly volume: number;
  readonly wap: number;
  readonly count: number;
}

export type Frame = WireValue[];

/** Builders for every server → client message the sim sends, in the 193 layouts. */
export const build = {
  serverVersion: (connectionTime: string): Frame => [SERVER_VERSION, connectionTime],
  error: (id: number, code: number, text: string): Frame => [MSG.ERR_MSG, 2, id, code, text, ''],
  nextValidId: (orderId: number): Frame => [MSG.NEXT_VALID_ID, 1, orderId],
  managedAccounts: (accounts: readonly string[]): Frame => [MSG.MANAGED_ACCTS, 1, accounts.join(',')],
  currentTime: (epochSeconds: number): Frame => [MSG.CURRENT_TIME, 1, epochSeconds],
  contractDataEnd: (reqId: number): Frame => [MSG.CONTRACT_DATA_END, 1, reqId],
  headTimestamp: (reqId: number, value: string): Frame => [MSG.HEAD_TIMESTAMP, reqId, value],
  contractData: (reqId: number, c: ContractDataFields): Frame => [
    MSG.CONTRACT_DATA,
    reqId,
    c.symbol,
    c.secType,
    c.lastTradeDateOrContractMonth,
    c.lastTradeDate,
    0, // strike
    '', // right
    c.exchange,
    c.currency,
    c.localSymbol,
    c.marketName,
    c.tradingClass,
    c.conId,
    c.minTick,
    c.multiplier,
    c.orderTypes,
    c.validExchanges,
    1, // priceMagnifier
    0, // underConId
    c.longName,
    c.primaryExch,
    c.contractMonth,
    c.industry,
    c.category,
    c.subcategory,
    c.timeZoneId,
    c.tradingHours,
    c.liquidHours,
    '', // evRule
    '', // evMultiplier
    c.secIds.length,
    ...c.secIds.flatMap((s) => [s.tag, s.value]),
    c.aggGroup,
    c.underSymbol,
    c.underSecType,
    c.marketRuleIds,
    c.realExpirationDate,
    c.stockType,
    c.minSize,
    c.sizeIncrement,
    c.suggestedSizeIncrement,
    0, // ineligibility reason count
  ],
  historicalData: (reqId: number, start: string, end: string, bars: readonly WireBar[]): Frame => {
    const out: Frame = [MSG.HISTORICAL_DATA, reqId, start, end, bars.length];
    for (const b of bars) out.push(b.date, b.open, b.high, b.low, b.close, b.volume, b.wap, b.count);
    return out;
  },
  // The update carries open, close, high, low (IB's own order), then WAP before volume.
  historicalDataUpdate: (reqId: number, b: WireBar): Frame => [
    MSG.HISTORICAL_DATA_UPDATE,
    reqId,
    b.count,
    b.date,
    b.open,
    b.close,
    b.high,
    b.low,
    b.wap,
    b.volume,
  ],
  realTimeBar: (reqId: number, epochSeconds: number, b: Omit<WireBar, 'date'>): Frame => [
    MSG.REAL_TIME_BARS,
    3,
    reqId,
    epochSeconds,
    b.open,
    b.high,
    b.low,
    b.close,
    b.volume,
    b.wap,
    b.count,
  ],
} as const;

// ---- client requests ------------------------------------------------------------------------

/** The contract block of a request (12 fields; strike and right are read past, as the sim ignores them). */
export type RequestContract = ContractQuery;

/**
 * A client message decoded by its id into a typed record (field layouts at SERVER_VERSION:
 * shared/reference/tws-protocol.md §3). Fields keep the gateway's leniency: a missing number is
 * NaN or its default, a missing text is empty; validating values is the session's job.
 */
export type ClientRequest =
  | { readonly type: 'startApi'; readonly clientId: number }
  | { readonly type: 'currentTime' }
  | { readonly type: 'ids' }
  | { readonly type: 'managedAccounts' }
  | { readonly type: 'marketDataType' }
  | { readonly type: 'contractDetails'; readonly reqId: number; readonly contract: RequestContract }
  | {
      readonly type: 'headTimestamp';
      readonly reqId: number;
      readonly contract: RequestContract;
      readonly rth: boolean;
      /** Upper-cased, as the gateway compares it. */
      readonly whatToShow: string;
      readonly formatDate: number;
    }
  | { readonly type: 'cancelHeadTimestamp'; readonly reqId: number }
  | {
      readonly type: 'historicalData';
      readonly reqId: number;
      readonly contract: RequestContract;
      /** As sent: `yyyymmdd hh:mm:ss[ zone]`, `yyyymmdd-hh:mm:ss` or "" (now). */
      readonly endDateTime: string;
      readonly barSize: string;
      readonly duration: string;
      readonly rth: boolean;
      /** Upper-cased, as the gateway compares it. */
      readonly whatToShow: string;
      readonly formatDate: number;
      readonly keepUpToDate: boolean;
    }
  | { readonly type: 'cancelHistoricalData'; readonly reqId: number }
  | { readonly type: 'realTimeBars'; readonly reqId: number; readonly contract: RequestContract; readonly whatToShow: string; readonly rth: boolean }
  | { readonly type: 'cancelRealTimeBars'; readonly reqId: number }
  | { readonly type: 'mktData'; readonly reqId: number }
  | { readonly type: 'cancelMktData'; readonly reqId: number }
  | { readonly type: 'unsupported'; readonly msgId: number };

function truthy(v: string | undefined): boolean {
  return v === '1' || v === 'true';
}

/**
 * Reads the 12-field contract block: conId, symbol, secType, lastTradeDateOrContractMonth,
 * strike, right, multiplier, exchange, primaryExch, currency, localSymbol, tradingClass.
 */
function contractAt(f: readonly string[], at: number): RequestContract {
  const s = (k: number): string => f[at + k] ?? '';
  return {
    conId: Number(s(0) || 0),
    symbol: s(1),
    secType: s(2),
    lastTradeDateOrContractMonth: s(3),
    multiplier: s(6),
    exchange: s(7),
    primaryExch: s(8),
    currency: s(9),
    localSymbol: s(10),
    tradingClass: s(11),
  };
}

/** Decodes one client message (the fields of a frame, its id first). */
export function decodeRequest(f: readonly string[]): ClientRequest {
  const msgId = Number(f[0]);
  switch (msgId) {
    case REQ.START_API:
      return { type: 'startApi', clientId: Number(f[2] || 0) };
    case REQ.REQ_CURRENT_TIME:
      return { type: 'currentTime' };
    case REQ.REQ_IDS:
      return { type: 'ids' };
    case REQ.REQ_MANAGED_ACCTS:
      return { type: 'managedAccounts' };
    case REQ.REQ_MARKET_DATA_TYPE:
      return { type: 'marketDataType' };
    // id, version, reqId, contract (12), …
    case REQ.REQ_CONTRACT_DATA:
      return { type: 'contractDetails', reqId: Number(f[2]), contract: contractAt(f, 3) };
    // id, reqId, contract (12), includeExpired, useRTH, whatToShow, formatDate
    case REQ.REQ_HEAD_TIMESTAMP:
      return { type: 'headTimestamp', reqId: Number(f[1]), contract: contractAt(f, 2), rth: truthy(f[15]), whatToShow: (f[16] ?? '').toUpperCase(), formatDate: Number(f[17] || 1) };
    case REQ.CANCEL_HEAD_TIMESTAMP:
      return { type: 'cancelHeadTimestamp', reqId: Number(f[1]) };
    // id, reqId, contract (12), includeExpired, endDateTime, barSize, duration, useRTH, whatToShow,
    // formatDate, [BAG: legs count + 4 fields per leg], keepUpToDate, chartOptions
    case REQ.REQ_HISTORICAL_DATA: {
      const contract = contractAt(f, 2);
      let i = 21;
      if (contract.secType.toUpperCase() === 'BAG') i += 1 + 4 * Number(f[21] || 0);
      return {
        type: 'historicalData',
        reqId: Number(f[1]),
        contract,
        endDateTime: f[15] ?? '',
        barSize: f[16] ?? '',
        duration: f[17] ?? '',
        rth: truthy(f[18]),
        whatToShow: (f[19] ?? '').toUpperCase(),
        formatDate: Number(f[20] || 1),
        keepUpToDate: truthy(f[i]),
      };
    }
    // id, version, reqId
    case REQ.CANCEL_HISTORICAL_DATA:
      return { type: 'cancelHistoricalData', reqId: Number(f[2]) };
    // id, version, reqId, contract (12), barSize, whatToShow, useRTH, options
    case REQ.REQ_REAL_TIME_BARS:
      return { type: 'realTimeBars', reqId: Number(f[2]), contract: contractAt(f, 3), whatToShow: (f[16] ?? '').toUpperCase(), rth: truthy(f[17]) };
    case REQ.CANCEL_REAL_TIME_BARS:
      return { type: 'cancelRealTimeBars', reqId: Number(f[2]) };
    case REQ.REQ_MKT_DATA:
      return { type: 'mktData', reqId: Number(f[2]) };
    case REQ.CANCEL_MKT_DATA:
      return { type: 'cancelMktData', reqId: Number(f[2]) };
    default:
      return { type: 'unsupported', msgId };
  }
}
