import type { Clock, TimerHandle } from '../../core/clock.js';
import type { BarEvent, BarSize } from '../../core/bars.js';
import { IbpipeError, TimeoutError } from '../../core/errors.js';
import { backoffDelay, retry, type BackoffPolicy } from '../../core/retry.js';
import type { ContractSpec } from '../../core/instruments.js';
import { silentLogger, type Logger } from '../../core/logger.js';
import { assertExplicitZone, formatIbUtc, parseIbBarTime } from './ib-datetime.js';
import { createIbApi, type IbApiFactory, type IbApiPort, type IbContract, type IbContractDetails } from './ib-api-port.js';
import {
  classifyIbError,
  IbConnectivityError,
  type IbError,
  IbInvalidRequestError,
  IbNoDataError,
  IbPacingError,
} from './ib-errors.js';
import { LiveBarStream, type LiveBarStreamOptions } from './live-bar-stream.js';
import type {
  ConnectivityEvent,
  HistoricalBarsOptions,
  HistoricalBarsResult,
  LiveBarSource,
  LiveRequestHandle,
  LiveRequestHandlers,
  ResolvedContract,
} from './tws-port.js';
import type { TwsConfig } from './tws-config.js';
import { HistoricalPacer, type HistoricalRequestKey, type PacingPermit } from './pacing.js';

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

interface Pending {
  onHistoricalData?(time: string, open: number, high: number, low: number, close: number, volume: number, count: number, wap: number): void;
  onHistoricalUpdate?(time: string, open: number, high: number, low: number, close: number, volume: number, count: number, wap: number): void;
  onContractDetails?(details: IbContractDetails): void;
  onContractDetailsEnd?(): void;
  onHeadTimestamp?(value: string): void;
  onError(err: IbError): void;
  onDisconnect(): void;
}

const DEFAULT_CONNECT_TIMEOUT_MS = 10_000;
const DEFAULT_REQUEST_TIMEOUT_MS = 60_000;
const DEFAULT_RECONNECT_BACKOFF: BackoffPolicy = { initialMs: 500, maxMs: 30_000, factor: 2, jitter: 0.5 };
const PACING_BACKOFF: BackoffPolicy = { initialMs: 15_000, maxMs: 600_000, factor: 2, jitter: 0.25 };

function finite(v: unknown): number | null {
  return typeof v === 'number' && Number.isFinite(v) ? v : null;
}

/** IB's "client id already in use" (tws-protocol.md §1.3): the gateway then closes the socket. */
const CLIENT_ID_IN_USE = 326;

/**
 * Retryable: after a restart the gateway may hold the old session for a moment. When another
 * live process owns the id the retries fail the same way, so the message says what to do.
 */
function clientIdInUse(host: string, port: number, clientId: number, ibText: string): IbConnectivityError {
  return new IbConnectivityError(
    `client id ${clientId} is already in use at ${host}:${port} (IB error 326: ${ibText.trim()}): another process is connected with tws.client_id ${clientId}; set a different tws.client_id in the config or stop the other process`,
    { ibCode: CLIENT_ID_IN_USE, state: 'lost', details: { clientId } },
  );
}

function notConnected(message = 'not connected to the gateway'): IbConnectivityError {
  return new IbConnectivityError(message, { ibCode: 504, state: 'lost' });
}

/**
 * One connection to TWS / IB Gateway (or the sim) through @stoqey/ib: connection lifecycle with
 * backoff and a fixed client id, contract resolution, head timestamps, paced historical bars
 * and keepUpToDate requests. Every request passes the shared HistoricalPacer; every IB message
 * is classified once by classifyIbError.
 */
export class TwsClient implements LiveBarSource {
  readonly pacer: HistoricalPacer;
  readonly clock: Clock;
  readonly #opts: TwsClientOptions;
  readonly #log: Logger;
  readonly #factory: IbApiFactory;
  readonly #random: () => number;
  readonly #formatDate: 1 | 2;
  #api: IbApiPort | undefined;
  #ready = false;
  #wanted = false;
  #reconnecting: Promise<void> | undefined;
  #connecting: Promise<void> | undefined;
  #nextReqId = 1_000;
  readonly #pending = new Map<number, Pending>();
  readonly #listeners = new Set<(e: ConnectivityEvent) => void>();
  #connectedWaiters: Array<() => void> = [];
  readonly #contracts = new Map<string, Promise<ResolvedContract>>();
  #stopReconnect: AbortController | undefined;

  constructor(options: TwsClientOptions) {
    this.#opts = options;
    this.clock = options.clock;
    this.#log = (options.logger ?? silentLogger()).child({ component: 'tws-client' });
    this.pacer =
      options.pacer ??
      new HistoricalPacer(options.clock, { timeScale: options.pacingTimeScale ?? 1, safetyMarginMs: options.pacingSafetyMarginMs ?? 0 });
    this.#factory = options.apiFactory ?? createIbApi;
    this.#random = options.random ?? Math.random;
    this.#formatDate = options.formatDate ?? 2;
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
    return this.#ready;
  }

  /** Subscribes to connectivity changes; returns the unsubscribe function. */
  onConnectivity(listener: (e: ConnectivityEvent) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /**
   * Connects (retrying transient failures with exponential backoff and jitter). After this
   * resolves the client keeps itself connected: a dropped socket is reconnected until
   * disconnect() is called.
   */
  async connect(signal?: AbortSignal): Promise<void> {
    this.#wanted = true;
    if (this.#ready) return;
    // A reconnect already under way owns the socket: a second one would collide on the client id.
    if (this.#reconnecting) return this.waitUntilConnected(signal);
    this.#connecting ??= this.#connectWithRetry(this.#opts.connectAttempts ?? 5, signal)
      .then(() => this.#announce({ type: 'connected' }))
      .finally(() => {
        this.#connecting = undefined;
      });
    return this.#connecting;
  }

  async disconnect(): Promise<void> {
    this.#wanted = false;
    this.#stopReconnect?.abort(new Error('disconnect requested'));
    const api = this.#api;
    this.#dropConnection('disconnect requested');
    if (api) this.#discard(api);
    await this.#reconnecting?.catch(() => undefined);
  }

  /** Resolves once connected (immediately if already). */
  waitUntilConnected(signal?: AbortSignal): Promise<void> {
    if (this.#ready) return Promise.resolve();
    if (signal?.aborted) return Promise.reject(signal.reason);
    return new Promise((resolve, reject) => {
      const done = (): void => {
        signal?.removeEventListener('abort', onAbort);
        resolve();
      };
      const onAbort = (): void => {
        this.#connectedWaiters = this.#connectedWaiters.filter((w) => w !== done);
        reject(signal?.reason);
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      this.#connectedWaiters.push(done);
    });
  }

  /** Resolves a contract to IB's conId, time zone and trading hours (cached per spec). */
  resolveContract(spec: ContractSpec, signal?: AbortSignal): Promise<ResolvedContract> {
    const cacheKey = JSON.stringify(spec);
    let p = this.#contracts.get(cacheKey);
    if (!p) {
      p = this.#resolveContract(spec, signal);
      this.#contracts.set(cacheKey, p);
      p.catch(() => this.#contracts.delete(cacheKey));
    }
    return p;
  }

  async #resolveContract(spec: ContractSpec, signal?: AbortSignal): Promise<ResolvedContract> {
    const contract = specToIbContract(spec);
    const details = await this.#call<IbContractDetails[]>({
      what: `contract details ${spec.symbol}`,
      signal,
      send: (api, reqId) => api.reqContractDetails(reqId, contract),
      handlers: (done) => {
        const all: IbContractDetails[] = [];
        return {
          onContractDetails: (d) => all.push(d),
          onContractDetailsEnd: () => done(all),
        };
      },
    });
    const d = details[0];
    if (!d || d.contract.conId === undefined) {
      throw new IbInvalidRequestError(`no contract found for ${spec.symbol}@${spec.exchange}`, { ibCode: 200 });
    }
    if (details.length > 1) this.#log.warn({ symbol: spec.symbol, matches: details.length }, 'contract is ambiguous; using the first match');
    const c = d.contract;
    return {
      conId: c.conId as number,
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

  /** Earliest bar IB holds for the contract and tick type, or null when IB has none. */
  async headTimestamp(contract: ResolvedContract, whatToShow: string, useRth: boolean, signal?: AbortSignal): Promise<number | null> {
    const key: HistoricalRequestKey = {
      contract: String(contract.conId),
      exchange: contract.exchange,
      whatToShow,
      request: `head|${contract.conId}|${whatToShow}|${useRth ? 1 : 0}`,
    };
    const permit = await this.pacer.acquire(key, signal);
    try {
      const text = await this.#call<string>({
        what: `head timestamp ${contract.symbol}`,
        signal,
        paced: true,
        send: (api, reqId) => api.reqHeadTimestamp(reqId, toRequestContract(contract), whatToShow, useRth, this.#formatDate),
        cancel: (api, reqId) => api.cancelHeadTimestamp(reqId),
        handlers: (done) => ({ onHeadTimestamp: (v) => done(v) }),
      });
      return parseIbBarTime(text, contract.timeZone);
    } catch (err) {
      if (err instanceof IbNoDataError) return null;
      throw err;
    } finally {
      permit.release();
    }
  }

  /**
   * Historical bars whose start lies in [start, end), as normalised BarEvents (UTC bar starts).
   * The end date goes out in IB's UTC form, never zone-less. A pacing violation that IB still
   * reports holds new requests for a backoff and retries this window only; "no data" is an
   * empty, successful answer; other failures throw a classified IbError or TimeoutError.
   */
  async requestHistoricalBars(
    contract: ResolvedContract,
    start: number,
    end: number,
    barSize: BarSize,
    whatToShow: string,
    useRth: boolean,
    options: HistoricalBarsOptions = {},
  ): Promise<HistoricalBarsResult> {
    if (!(end > start)) throw new RangeError(`empty window [${start}, ${end})`);
    const endDateTime = assertExplicitZone(formatIbUtc(end));
    const durationStr = options.durationStr ?? `${Math.ceil((end - start) / 1000)} S`;
    const requestId = `hist:${contract.conId}:${endDateTime}:${durationStr.replace(' ', '')}:${barSize.replace(' ', '')}:${whatToShow}:${useRth ? 1 : 0}`;
    const key: HistoricalRequestKey = {
      contract: String(contract.conId),
      exchange: contract.exchange,
      whatToShow,
      request: requestId,
    };
    const maxRetries = this.#opts.maxPacingRetries ?? 6;
    const scale = this.#opts.pacingTimeScale ?? 1;
    for (let attempt = 1; ; attempt++) {
      const permit = await this.pacer.acquire(key, options.signal);
      let raw: RawBar[];
      try {
        options.onSend?.();
        raw = await this.#call<RawBar[]>({
          what: `historical ${contract.symbol} ${endDateTime} ${durationStr}`,
          signal: options.signal,
          paced: true,
          send: (api, reqId) =>
            api.reqHistoricalData(reqId, toRequestContract(contract), endDateTime, durationStr, barSize, whatToShow, useRth ? 1 : 0, this.#formatDate, false),
          cancel: (api, reqId) => api.cancelHistoricalData(reqId),
          handlers: (done) => {
            const bars: RawBar[] = [];
            return {
              onHistoricalData: (time, open, high, low, close, volume, count, wap) => {
                if (time.startsWith('finished')) done(bars);
                else bars.push({ time, open, high, low, close, volume, count, wap });
              },
            };
          },
        });
      } catch (err) {
        if (err instanceof IbNoDataError) {
          return { bars: [], requestId, endDateTime, durationStr, noData: true, attempts: attempt, dropped: 0 };
        }
        if (err instanceof IbPacingError && attempt <= maxRetries) {
          const wait = backoffDelay(attempt, { ...PACING_BACKOFF, initialMs: PACING_BACKOFF.initialMs * scale, maxMs: PACING_BACKOFF.maxMs * scale }, this.#random);
          this.#log.warn({ requestId, attempt, waitMs: wait }, 'IB reported a pacing violation; backing off and retrying this window');
          this.pacer.pause(wait);
          continue;
        }
        throw err;
      } finally {
        permit.release();
      }
      const bars: BarEvent[] = [];
      let dropped = 0;
      for (const r of raw) {
        const bar = toBarEvent(r, contract, options.symbol ?? contract.symbol, barSize, whatToShow, requestId);
        if (bar.ts >= start && bar.ts < end) bars.push(bar);
        else dropped++;
      }
      bars.sort((a, b) => a.ts - b.ts);
      return { bars, requestId, endDateTime, durationStr, noData: false, attempts: attempt, dropped };
    }
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
  async openKeepUpToDate(
    contract: ResolvedContract,
    params: { symbol: string; barSize: BarSize; whatToShow: string; useRth: boolean; durationStr: string },
    handlers: LiveRequestHandlers,
    signal?: AbortSignal,
  ): Promise<LiveRequestHandle> {
    const { symbol, barSize, whatToShow, useRth, durationStr } = params;
    const requestId = `live:${contract.conId}:${barSize.replace(' ', '')}:${whatToShow}:${useRth ? 1 : 0}`;
    const key: HistoricalRequestKey = {
      contract: String(contract.conId),
      exchange: contract.exchange,
      whatToShow,
      request: `${requestId}:${durationStr}`,
    };
    let permit: PacingPermit | undefined = await this.pacer.acquire(key, signal);
    const releasePermit = (): void => {
      permit?.release();
      permit = undefined;
    };
    const api = this.#api;
    if (!api || !this.#ready) {
      releasePermit();
      throw notConnected();
    }
    const reqId = this.#nextReqId++;
    let ended = false;
    const end = (err: unknown): void => {
      if (ended) return;
      ended = true;
      this.#pending.delete(reqId);
      releasePermit();
      handlers.onEnd(err);
    };
    const emit = (phase: 'initial' | 'update', r: RawBar): void => {
      let bar: BarEvent;
      try {
        bar = toBarEvent(r, contract, symbol, barSize, whatToShow, requestId);
      } catch (err) {
        this.#log.warn({ err, reqId }, 'unparseable live bar dropped');
        return;
      }
      handlers.onBar(bar, phase);
    };
    this.#pending.set(reqId, {
      onHistoricalData: (time, open, high, low, close, volume, count, wap) => {
        if (time.startsWith('finished')) {
          releasePermit();
          handlers.onInitialEnd();
        } else emit('initial', { time, open, high, low, close, volume, count, wap });
      },
      onHistoricalUpdate: (time, open, high, low, close, volume, count, wap) => emit('update', { time, open, high, low, close, volume, count, wap }),
      onError: (err) => {
        if (err.fatal) end(err);
        else this.#log.info({ reqId, code: err.ibCode, msg: err.message }, 'IB warning on live request');
      },
      onDisconnect: () => end(notConnected('socket dropped')),
    });
    api.reqHistoricalData(reqId, toRequestContract(contract), '', durationStr, barSize, whatToShow, useRth ? 1 : 0, this.#formatDate, true);
    return {
      reqId,
      cancel: () => {
        if (ended) return;
        ended = true;
        this.#pending.delete(reqId);
        releasePermit();
        const live = this.#api;
        if (live && this.#ready) {
          void this.pacer.acquireMessage().then(() => {
            if (this.#api === live) live.cancelHistoricalData(reqId);
          });
        }
      },
    };
  }

  // ---- request plumbing --------------------------------------------------------------------

  async #call<T>(spec: {
    what: string;
    signal?: AbortSignal | undefined;
    /** The message slot came with a HistoricalPacer permit: send at once. */
    paced?: boolean;
    send: (api: IbApiPort, reqId: number) => void;
    cancel?: (api: IbApiPort, reqId: number) => void;
    handlers: (done: (v: T) => void) => Omit<Pending, 'onError' | 'onDisconnect'>;
  }): Promise<T> {
    if (!spec.paced) await this.pacer.acquireMessage(spec.signal);
    const api = this.#api;
    if (!api || !this.#ready) throw notConnected();
    const reqId = this.#nextReqId++;
    const timeoutMs = this.#opts.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS;
    return new Promise<T>((resolve, reject) => {
      const timer: TimerHandle = this.clock.setTimeout(() => {
        settle();
        cancelRemote();
        reject(new TimeoutError(`${spec.what}: no answer within ${timeoutMs} ms`, { details: { reqId } }));
      }, timeoutMs);
      const settle = (): void => {
        this.#pending.delete(reqId);
        this.clock.clearTimeout(timer);
        spec.signal?.removeEventListener('abort', onAbort);
      };
      const cancelRemote = (): void => {
        if (spec.cancel && this.#api === api && this.#ready) {
          try {
            spec.cancel(api, reqId);
          } catch (err) {
            this.#log.debug({ err, reqId }, 'cancel failed');
          }
        }
      };
      const onAbort = (): void => {
        settle();
        cancelRemote();
        reject(spec.signal?.reason ?? new Error('aborted'));
      };
      const pending: Pending = {
        ...spec.handlers((v) => {
          settle();
          resolve(v);
        }),
        onError: (err) => {
          if (!err.fatal) {
            this.#log.info({ reqId, code: err.ibCode, msg: err.message }, `IB warning on ${spec.what}`);
            return;
          }
          settle();
          reject(err);
        },
        onDisconnect: () => {
          settle();
          reject(notConnected(`socket dropped during ${spec.what}`));
        },
      };
      this.#pending.set(reqId, pending);
      spec.signal?.addEventListener('abort', onAbort, { once: true });
      try {
        spec.send(api, reqId);
      } catch (err) {
        settle();
        reject(err);
      }
    });
  }

  // ---- connection lifecycle ----------------------------------------------------------------

  #connectWithRetry(maxAttempts: number, signal?: AbortSignal): Promise<void> {
    return retry(() => this.#connectOnce(signal), {
      clock: this.clock,
      signal,
      policy: this.#opts.reconnectBackoff ?? DEFAULT_RECONNECT_BACKOFF,
      maxAttempts,
      random: this.#random,
      retryable: (err) => (!(err instanceof IbpipeError) || err.retryable) && this.#wanted,
      onRetry: ({ error, attempt, delayMs }) => this.#log.warn({ err: error, attempt, waitMs: delayMs }, 'connect failed; retrying'),
    });
  }

  #connectOnce(signal?: AbortSignal): Promise<void> {
    const { host, port, clientId } = this.#opts;
    const api = this.#factory(host, port);
    const timeoutMs = this.#opts.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS;
    return new Promise<void>((resolve, reject) => {
      let settled = false;
      const fail = (err: unknown): void => {
        if (settled) return;
        settled = true;
        this.clock.clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
        this.#discard(api);
        reject(err);
      };
      const onAbort = (): void => fail(signal?.reason ?? new Error('aborted'));
      const timer = this.clock.setTimeout(
        () => fail(new IbConnectivityError(`connect to ${host}:${port}: no handshake within ${timeoutMs} ms`, { ibCode: 502, state: 'lost' })),
        timeoutMs,
      );
      signal?.addEventListener('abort', onAbort, { once: true });
      api.on('nextValidId', () => {
        if (settled) return;
        settled = true;
        this.clock.clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
        this.#api = api;
        this.#ready = true;
        this.#log.info({ host, port, clientId }, 'connected to gateway');
        resolve();
      });
      api.on('disconnected', () => {
        if (!settled) fail(new IbConnectivityError(`connect to ${host}:${port}: socket closed during handshake`, { ibCode: 502, state: 'lost' }));
        else if (this.#api === api) this.#onSocketLost(api, 'socket closed');
      });
      api.on('error', (err: Error, code: number, reqId: number) => {
        const classified = classifyIbError(code, err?.message ?? String(err), reqId);
        if (!settled) {
          if (classified.ibCode === CLIENT_ID_IN_USE) fail(clientIdInUse(host, port, clientId, classified.message));
          else if (classified.kind === 'connectivity') fail(classified);
          return;
        }
        if (this.#api !== api) return;
        this.#route(classified);
      });
      api.on('info', (message: string, code: number) => {
        // 326 comes with no request id, so the library reports it as info; the gateway then
        // closes the socket, which alone would read as a mere "socket closed during handshake".
        if (!settled && code === CLIENT_ID_IN_USE) {
          fail(clientIdInUse(host, port, clientId, message));
          return;
        }
        if (this.#api !== api) return;
        this.#route(classifyIbError(code, message));
      });
      api.on('historicalData', (reqId: number, time: string, o: number, h: number, l: number, c: number, v: number, count: number, wap: number) =>
        this.#pending.get(reqId)?.onHistoricalData?.(String(time), o, h, l, c, v, count, wap),
      );
      api.on('historicalDataUpdate', (reqId: number, time: string, o: number, h: number, l: number, c: number, v: number, count: number, wap: number) =>
        this.#pending.get(reqId)?.onHistoricalUpdate?.(String(time), o, h, l, c, v, count, wap),
      );
      api.on('contractDetails', (reqId: number, details: IbContractDetails) => this.#pending.get(reqId)?.onContractDetails?.(details));
      api.on('contractDetailsEnd', (reqId: number) => this.#pending.get(reqId)?.onContractDetailsEnd?.());
      api.on('headTimestamp', (reqId: number, value: string) => this.#pending.get(reqId)?.onHeadTimestamp?.(String(value)));
      try {
        api.connect(clientId);
      } catch (err) {
        fail(err);
      }
    });
  }

  #route(err: IbError): void {
    if (err.reqId !== undefined) {
      const p = this.#pending.get(err.reqId);
      if (p) {
        p.onError(err);
        return;
      }
    }
    if (err instanceof IbConnectivityError) {
      const text = String(err.details['text'] ?? err.message);
      this.#log.warn({ code: err.ibCode, state: err.state, text }, 'gateway connectivity notice');
      // Client-side codes (502/504/505/507/509, 326) describe our socket, which 'disconnected' covers.
      if (err.ibCode < 1000) return;
      this.#emit({ type: 'ib-link', state: err.state, code: err.ibCode, text });
      return;
    }
    if (err.kind === 'notice' || err.kind === 'subscription') this.#log.debug({ code: err.ibCode, msg: err.message }, 'IB notice');
    else this.#log.warn({ code: err.ibCode, reqId: err.reqId, msg: err.message }, 'IB error');
  }

  #onSocketLost(api: IbApiPort, reason: string): void {
    this.#discard(api);
    this.#dropConnection(reason);
    if (this.#wanted && !this.#reconnecting) this.#reconnecting = this.#reconnectLoop();
  }

  #dropConnection(reason: string): void {
    const wasReady = this.#ready;
    this.#api = undefined;
    this.#ready = false;
    const pending = [...this.#pending.values()];
    this.#pending.clear();
    for (const p of pending) p.onDisconnect();
    if (wasReady) {
      this.#log.warn({ reason }, 'disconnected from gateway');
      this.#emit({ type: 'disconnected', reason });
    }
  }

  async #reconnectLoop(): Promise<void> {
    const ac = new AbortController();
    this.#stopReconnect = ac;
    try {
      await this.#connectWithRetry(Number.POSITIVE_INFINITY, ac.signal);
      this.#announce({ type: 'reconnected' });
    } catch (err) {
      if (this.#wanted) this.#log.error({ err }, 'reconnect gave up');
    } finally {
      this.#reconnecting = undefined;
      this.#stopReconnect = undefined;
    }
  }

  #discard(api: IbApiPort): void {
    api.removeAllListeners();
    // A late socket error on a discarded instance must not become an unhandled 'error' event.
    api.on('error', () => undefined);
    try {
      api.disconnect();
    } catch {
      // already closed
    }
  }

  /** Listeners hear of a (re)connection before anyone waiting in waitUntilConnected resumes. */
  #announce(e: ConnectivityEvent): void {
    this.#emit(e);
    const waiters = this.#connectedWaiters;
    this.#connectedWaiters = [];
    for (const w of waiters) w();
  }

  #emit(e: ConnectivityEvent): void {
    for (const l of [...this.#listeners]) {
      try {
        l(e);
      } catch (err) {
        this.#log.error({ err }, 'connectivity listener failed');
      }
    }
  }
}

interface RawBar {
  time: string;
  open: number;
  high: number;
  low: number;
  close: number;
  volume: number;
  count: number;
  wap: number;
}

function toBarEvent(r: RawBar, contract: ResolvedContract, symbol: string, barSize: BarSize, whatToShow: string, requestId: string): BarEvent {
  const volume = finite(r.volume);
  const wap = finite(r.wap);
  const count = finite(r.count);
  return {
    source: 'TWS',
    symbol,
    conId: contract.conId,
    barSize,
    whatToShow,
    ts: parseIbBarTime(r.time, contract.timeZone),
    open: r.open,
    high: r.high,
    low: r.low,
    close: r.close,
    // MIDPOINT/BID/ASK bars carry -1 for volume, WAP and count: "not applicable", not a value.
    volume: volume === null || volume < 0 ? 0 : volume,
    wap: wap === null || wap < 0 ? null : wap,
    tradeCount: count === null || count < 0 ? null : Math.round(count),
    requestId,
  };
}

function specToIbContract(spec: ContractSpec): IbContract {
  const c: IbContract = { symbol: spec.symbol, secType: spec.sec_type, exchange: spec.exchange, currency: spec.currency };
  if (spec.con_id !== undefined) c.conId = spec.con_id;
  if (spec.primary_exchange) c.primaryExch = spec.primary_exchange;
  if (spec.last_trade_date_or_contract_month) c.lastTradeDateOrContractMonth = spec.last_trade_date_or_contract_month;
  if (spec.local_symbol) c.localSymbol = spec.local_symbol;
  if (spec.multiplier) c.multiplier = Number(spec.multiplier);
  return c;
}

function toRequestContract(c: ResolvedContract): IbContract {
  const out: IbContract = { conId: c.conId, symbol: c.symbol, secType: c.secType, exchange: c.exchange, currency: c.currency };
  if (c.primaryExchange) out.primaryExch = c.primaryExchange;
  if (c.localSymbol) out.localSymbol = c.localSymbol;
  if (c.lastTradeDateOrContractMonth) out.lastTradeDateOrContractMonth = c.lastTradeDateOrContractMonth;
  return out;
}
