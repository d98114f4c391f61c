import type { Clock } from '../../core/clock.js';
import type { BarEvent, BarSize } from '../../core/bars.js';
import type { ConnectivityState } from './ib-errors.js';

/*
 * What the TWS client offers the code that uses it: resolved contracts, historical and live
 * requests, connectivity events. Declared apart from the client (tws-client.ts) so a user such
 * as the live bar stream depends on this contract, not on the connection's implementation.
 */

/** A contract as IB resolved it (reqContractDetails). */
export interface ResolvedContract {
  readonly conId: number;
  readonly symbol: string;
  readonly secType: string;
  readonly exchange: string;
  readonly primaryExchange: string | undefined;
  readonly currency: string;
  readonly localSymbol: string | undefined;
  readonly lastTradeDateOrContractMonth: string | undefined;
  /** IANA zone IB reports for the instrument (IB spells some as aliases, e.g. US/Eastern). */
  readonly timeZone: string;
  /** IB's trading / liquid hours strings, e.g. `20241125:0400-20241125:2000;…`. */
  readonly tradingHours: string;
  readonly liquidHours: string;
  readonly longName: string;
}

export type ConnectivityEvent =
  | { readonly type: 'connected' }
  | { readonly type: 'disconnected'; readonly reason: string }
  | { readonly type: 'reconnected' }
  /** The gateway's own link to IB (1100 / 1101 / 1102 and farm codes); the socket stays open. */
  | { readonly type: 'ib-link'; readonly state: ConnectivityState; readonly code: number; readonly text: string };

export interface HistoricalBarsOptions {
  /** Instrument key written as the bar's symbol (defaults to the IB symbol). */
  readonly symbol?: string;
  /** Overrides the `<seconds> S` duration derived from [start, end). */
  readonly durationStr?: string;
  readonly signal?: AbortSignal;
  /** Called as each attempt is sent (after the pacer's permit), e.g. to note it for a restart. */
  readonly onSend?: () => void;
}

export interface HistoricalBarsResult {
  /** Bars with start in [start, end), ascending, UTC bar starts. */
  readonly bars: BarEvent[];
  /** Stable name of the request, stored with every bar. */
  readonly requestId: string;
  readonly endDateTime: string;
  readonly durationStr: string;
  /** IB answered "no data" for the window (a valid, empty answer). */
  readonly noData: boolean;
  /** Requests sent for this window (1 + pacing retries). */
  readonly attempts: number;
  /** Bars IB returned outside [start, end) and that were dropped. */
  readonly dropped: number;
}

/** Callbacks of an open keepUpToDate request. */
export interface LiveRequestHandlers {
  /** Every bar of the initial answer, then every update, in arrival order. */
  onBar(bar: BarEvent, phase: 'initial' | 'update'): void;
  /** The initial answer is complete. */
  onInitialEnd(): void;
  /** The request ended: IB cancelled it, the socket dropped, or it failed. */
  onEnd(err: unknown): void;
}

export interface LiveRequestHandle {
  readonly reqId: number;
  cancel(): void;
}

/** What a live bar stream needs from the client: its clock, connectivity, and historical / keepUpToDate requests. */
export interface LiveBarSource {
  readonly clock: Clock;
  onConnectivity(listener: (e: ConnectivityEvent) => void): () => void;
  waitUntilConnected(signal?: AbortSignal): Promise<void>;
  requestHistoricalBars(
    contract: ResolvedContract,
    start: number,
    end: number,
    barSize: BarSize,
    whatToShow: string,
    useRth: boolean,
    options?: HistoricalBarsOptions,
  ): Promise<HistoricalBarsResult>;
  openKeepUpToDate(
    contract: ResolvedContract,
    params: { symbol: string; barSize: BarSize; whatToShow: string; useRth: boolean; durationStr: string },
    handlers: LiveRequestHandlers,
    signal?: AbortSignal,
  ): Promise<LiveRequestHandle>;
}
