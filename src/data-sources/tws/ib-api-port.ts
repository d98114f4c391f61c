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

export const createIbApi: IbApiFactory = (host, port) =>
  // Our own HistoricalPacer enforces IB's 50 msg/s; the library's limiter is set to the same cap
  // so it never becomes a second, stricter throttle.
  new IBApi({ host, port, maxReqPerSec: 50 }) as unknown as IbApiPort;
