import type { Clock } from '../../core/clock.js';
import type { BackoffPolicy } from '../../core/retry.js';
import type { ContractSpec } from '../../core/instruments.js';
import { silentLogger, type Logger } from '../../core/logger.js';
import { createIbApi, type IbApiFactory, type IbApiPort } from './ib-api-port.js';
import { HistoricalRequests } from './historical-requests.js';
import { LiveBarStream, type LiveBarStreamOptions } from './live-bar-stream.js';
import { type KeepUpToDateParams, type LiveRequestDeps, openKeepUpToDate } from './live-requests.js';
import { RequestMux } from './request-mux.js';
import { TwsConnection } from './tws-connection.js';
import type {
  ConnectivityEvent,
  HistoricalBarsResult,
  LiveBarSource,
  LiveRequestHandle,
  LiveRequestHandlers,
  ResolvedContract,
} from './tws-port.js';
import type { TwsConfig } from './tws-config.js';
import { HistoricalPacer } from './pacing.js';

export type { ConnectivityEvent, HistoricalBarsOptions, HistoricalBarsResult, LiveRequestHandle, LiveRequestHandlers, ResolvedContract } from './tws-port.js';

export interface TwsClientOptions {
  readonly host: string;
  readonly port: number;
  /** Fixed: never changed on reconnect, so the gateway sees the same client. */
  readonly clientId: number;
  readonly clock: Clock;
  readonly logger?: Logger;
  /** Shared by every caller of this client; built from `pacingTimeScale` when omitted. */
  readonly pacer?: HistoricalPacer;
  readonly pacingTimeScale?: number;
  /** Added to every pacing window when the pacer is built here (network jitter). */
  readonly pacingSafetyMarginMs?: number;
  readonly connectTimeoutMs?: number;
  readonly requestTimeoutMs?: number;
  /** Attempts for connect() before it gives up (later reconnects retry until disconnect()). */
  readonly connectAttempts?: number;
  readonly reconnectBackoff?: BackoffPolicy;
  /** Retries of one historical request after IB still reports a pacing violation. */
  readonly maxPacingRetries?: number;
  readonly apiFactory?: IbApiFactory;
  readonly random?: () => number;
  /**
   * How IB should write bar times: 2 = epoch seconds (default: no zone to interpret), 1 =
   * `yyyymmdd hh:mm:ss <zone>` in the instrument's zone. Both parse to the same UTC instants.
   */
  readonly formatDate?: 1 | 2;
}

const DEFAULT_CONNECT_TIMEOUT_MS = 10_000;
const DEFAULT_REQUEST_TIMEOUT_MS = 60_000;
const DEFAULT_RECONNECT_BACKOFF: BackoffPolicy = { initialMs: 500, maxMs: 30_000, factor: 2, jitter: 0.5 };

/**
 * One connection to TWS / IB Gateway (or the sim) through @stoqey/ib, in sections: the socket
 * and its reconnects (TwsConnection), request ids and the routing of answers (RequestMux),
 * contract / head / historical requests (HistoricalRequests), keepUpToDate requests
 * (openKeepUpToDate) and the pure IB↔bar mapping (ib-bar-mapping.ts). Every request passes the
 * shared HistoricalPacer; every IB message is classified once by classifyIbError.
 */
export class TwsClient implements LiveBarSource {
  readonly pacer: HistoricalPacer;
  readonly clock: Clock;
  readonly #connection: TwsConnection;
  readonly #historical: HistoricalRequests;
  readonly #live: LiveRequestDeps;

  constructor(options: TwsClientOptions) {
    this.clock = options.clock;
    const log = (options.logger ?? silentLogger()).child({ component: 'tws-client' });
    const pacer =
      options.pacer ??
      new HistoricalPacer(options.clock, { timeScale: options.pacingTimeScale ?? 1, safetyMarginMs: options.pacingSafetyMarginMs ?? 0 });
    this.pacer = pacer;
    const random = options.random ?? Math.random;
    const formatDate = options.formatDate ?? 2;
    const api = (): IbApiPort | undefined => this.#connection.readyApi();
    const mux = new RequestMux({
      clock: options.clock,
      logger: log,
      api,
      acquireMessage: (signal) => pacer.acquireMessage(signal),
      requestTimeoutMs: options.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS,
    });
    this.#connection = new TwsConnection({
      host: options.host,
      port: options.port,
      clientId: options.clientId,
      clock: options.clock,
      logger: log,
      apiFactory: options.apiFactory ?? createIbApi,
      random,
      connectTimeoutMs: options.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS,
      connectAttempts: options.connectAttempts ?? 5,
      reconnectBackoff: options.reconnectBackoff ?? DEFAULT_RECONNECT_BACKOFF,
      mux,
    });
    this.#historical = new HistoricalRequests({
      mux,
      pacer,
      logger: log,
      formatDate,
      maxPacingRetries: options.maxPacingRetries ?? 6,
      pacingTimeScale: options.pacingTimeScale ?? 1,
      random,
    });
    this.#live = { mux, pacer, logger: log, api, formatDate };
  }

  /** A client configured from the `tws:` slice. */
  static fromConfig(cfg: TwsConfig, deps: { clock: Clock; logger?: Logger; apiFactory?: IbApiFactory }): TwsClient {
    return new TwsClient({
      host: cfg.host,
      port: cfg.port,
      clientId: cfg.client_id,
      clock: deps.clock,
      ...(deps.logger ? { logger: deps.logger } : {}),
      ...(deps.apiFactory ? { apiFactory: deps.apiFactory } : {}),
      pacingTimeScale: cfg.pacing_time_scale,
      pacingSafetyMarginMs: cfg.pacing_safety_margin_ms,
      connectTimeoutMs: cfg.connect_timeout_ms,
      requestTimeoutMs: cfg.request_timeout_ms,
    });
  }

  isConnected(): boolean {
    return this.#connection.isConnected();
  }

  /** Subscribes to connectivity changes; returns the unsubscribe function. */
  onConnectivity(listener: (e: ConnectivityEvent) => void): () => void {
    return this.#connection.onConnectivity(listener);
  }

  /**
   * Connects (retrying transient failures with exponential backoff and jitter). After this
   * resolves the client keeps itself connected: a dropped socket is reconnected until
   * disconnect() is called.
   */
  connect(signal?: AbortSignal): Promise<void> {
    return this.#connection.connect(signal);
  }

  disconnect(): Promise<void> {
    return this.#connection.disconnect();
  }

  /** Resolves once connected (immediately if already). */
  waitUntilConnected(signal?: AbortSignal): Promise<void> {
    return this.#connection.waitUntilConnected(signal);
  }

  /** Resolves a contract to IB's conId, time zone and trading hours (cached per spec). */
  resolveContract(spec: ContractSpec, signal?: AbortSignal): Promise<ResolvedContract> {
    return this.#historical.resolveContract(spec, signal);
  }

  /** Earliest bar IB holds for the contract and tick type, or null when IB has none. */
  headTimestamp(contract: ResolvedContract, whatToShow: string, useRth: boolean, signal?: AbortSignal): Promise<number | null> {
    return this.#historical.headTimestamp(contract, whatToShow, useRth, signal);
  }

  /**
   * Historical bars whose start lies in [start, end), as normalised BarEvents (UTC bar starts).
   * The end date goes out in IB's UTC form, never zone-less. A pacing violation that IB still
   * reports holds new requests for a backoff and retries this window only; "no data" is an
   * empty, successful answer; other failures throw a classified IbError or TimeoutError.
   */
  requestHistoricalBars(...args: Parameters<HistoricalRequests['requestHistoricalBars']>): Promise<HistoricalBarsResult> {
    return this.#historical.requestHistoricalBars(...args);
  }

  /**
   * Live bars for a contract: a self-healing keepUpToDate subscription that passes on final bars
   * only and repairs what it missed after a disconnect, 1101, IB cancelling it, or silence.
   */
  subscribeMarketData(contract: ResolvedContract, options: LiveBarStreamOptions): LiveBarStream {
    return new LiveBarStream(this, contract, options);
  }

  /** Ends a subscription made with subscribeMarketData. */
  unsubscribe(stream: LiveBarStream): Promise<void> {
    return stream.close();
  }

  /**
   * Opens a keepUpToDate request (endDateTime "" as IB requires): the initial bars covering
   * `durationStr`, then updates of the bar being built until cancelled or ended by IB.
   */
  openKeepUpToDate(contract: ResolvedContract, params: KeepUpToDateParams, handlers: LiveRequestHandlers, signal?: AbortSignal): Promise<LiveRequestHandle> {
    return openKeepUpToDate(this.#live, contract, params, handlers, signal);
  }
}
