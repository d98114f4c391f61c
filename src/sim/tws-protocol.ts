import type { WireValue } from './wire-codec.js';

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
