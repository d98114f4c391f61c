import { IBApi } from '@stoqey/ib';

/**
 * The part of @stoqey/ib's IBApi that ibpipe uses, declared here so the library's types stay
 * behind this file (kysely's `SqliteDatabase` pattern). The TwsClient talks only to this.
 */
export interface IbContract {
  conId?: number;
  symbol?: string;
  secType?: string;
  lastTradeDateOrContractMonth?: string;
  multiplier?: number;
  exchange?: string;
  primaryExch?: string;
  currency?: string;
  localSymbol?: string;
}

/** Fields of IB's ContractDetails that ibpipe reads. */
export interface IbContractDetails {
  contract: IbContract;
  timeZoneId?: string;
  tradingHours?: string;
  liquidHours?: string;
  longName?: string;
  minTick?: number;
}

type Listener = (...args: never[]) => void;

export interface IbApiPort {
  connect(clientId: number): unknown;
  disconnect(): unknown;
  on(event: string, listener: Listener): unknown;
  removeAllListeners(event?: string): unknown;
  reqContractDetails(reqId: number, contract: IbContract): unknown;
  reqHeadTimestamp(reqId: number, contract: IbContract, whatToShow: string, useRTH: boolean, formatDate: number): unknown;
  reqHistoricalData(
    reqId: number,
    contract: IbContract,
    endDateTime: string,
    durationStr: string,
    barSizeSetting: string,
    whatToShow: string,
    useRTH: number | boolean,
    formatDate: number,
    keepUpToDate: boolean,
  ): unknown;
  cancelHistoricalData(reqId: number): unknown;
  cancelHeadTimestamp(reqId: number): unknown;
}

/** Creates one IBApi per connection attempt; a dropped instance is never reused. */
export type IbApiFactory = (host: string, port: number) => IbApiPort;

/**
 * The library's own throttle sends at most rate/10 messages per 100 ms and queues the rest, so a
 * burst the HistoricalPacer granted at t would reach the gateway up to a second later, shifting
 * IB's pacing windows against ours. The pacer already enforces IB's 50 msg/s (as a sliding
 * window, recorded at the instant of sending), so the library's queue is opened wide.
 */
export const LIBRARY_MAX_REQ_PER_SEC = 10_000;

/** IBApi satisfies the port structurally: the compiler checks it at this return, no cast. */
export const createIbApi: IbApiFactory = (host, port): IbApiPort => new IBApi({ host, port, maxReqPerSec: LIBRARY_MAX_REQ_PER_SEC });
