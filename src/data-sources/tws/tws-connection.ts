import type { Clock } from '../../core/clock.js';
import { IbpipeError } from '../../core/errors.js';
import type { Logger } from '../../core/logger.js';
import { retry, type BackoffPolicy } from '../../core/retry.js';
import type { IbApiFactory, IbApiPort, IbContractDetails } from './ib-api-port.js';
import { classifyIbError, IbConnectivityError, type IbError } from './ib-errors.js';
import type { RequestMux } from './request-mux.js';
import type { ConnectivityEvent } from './tws-port.js';

export interface TwsConnectionOptions {
  readonly host: string;
  readonly port: number;
  /** Fixed: never changed on reconnect, so the gateway sees the same client. */
  readonly clientId: number;
  readonly clock: Clock;
  readonly logger: Logger;
  readonly apiFactory: IbApiFactory;
  readonly random: () => number;
  readonly connectTimeoutMs: number;
  /** Attempts for connect() before it gives up (later reconnects retry until disconnect()). */
  readonly connectAttempts: number;
  readonly reconnectBackoff: BackoffPolicy;
  /** Where IB's answers and request errors go. */
  readonly mux: Pick<RequestMux, 'get' | 'deliverError' | 'dropAll'>;
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

/**
 * The socket to the gateway: connect with backoff and a fixed client id, the handshake, the
 * wiring of IB's events to the request mux, IB's link notices, and reconnecting after a drop
 * until disconnect(). Listeners hear connected / disconnected / reconnected and IB link states.
 */
export class TwsConnection {
  readonly #o: TwsConnectionOptions;
  readonly #log: Logger;
  #api: IbApiPort | undefined;
  #ready = false;
  #wanted = false;
  #reconnecting: Promise<void> | undefined;
  #connecting: Promise<void> | undefined;
  readonly #listeners = new Set<(e: ConnectivityEvent) => void>();
  #connectedWaiters: Array<() => void> = [];
  #stopReconnect: AbortController | undefined;

  constructor(options: TwsConnectionOptions) {
    this.#o = options;
    this.#log = options.logger;
  }

  isConnected(): boolean {
    return this.#ready;
  }

  /** The socket while the connection is ready; undefined otherwise. */
  readyApi(): IbApiPort | undefined {
    return this.#ready ? this.#api : undefined;
  }

  /** Subscribes to connectivity changes; returns the unsubscribe function. */
  onConnectivity(listener: (e: ConnectivityEvent) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** TwsClient.connect. */
  async connect(signal?: AbortSignal): Promise<void> {
    this.#wanted = true;
    if (this.#ready) return;
    // A reconnect already under way owns the socket: a second one would collide on the client id.
    if (this.#reconnecting) return this.waitUntilConnected(signal);
    this.#connecting ??= this.#connectWithRetry(this.#o.connectAttempts, signal)
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

  #connectWithRetry(maxAttempts: number, signal?: AbortSignal): Promise<void> {
    return retry(() => this.#connectOnce(signal), {
      clock: this.#o.clock,
      signal,
      policy: this.#o.reconnectBackoff,
      maxAttempts,
      random: this.#o.random,
      retryable: (err) => (!(err instanceof IbpipeError) || err.retryable) && this.#wanted,
      onRetry: ({ error, attempt, delayMs }) => this.#log.warn({ err: error, attempt, waitMs: delayMs }, 'connect failed; retrying'),
    });
  }

  #connectOnce(signal?: AbortSignal): Promise<void> {
    const { host, port, clientId, clock, mux } = this.#o;
    const api = this.#o.apiFactory(host, port);
    const timeoutMs = this.#o.connectTimeoutMs;
    return new Promise<void>((resolve, reject) => {
      let settled = false;
      const fail = (err: unknown): void => {
        if (settled) return;
        settled = true;
        clock.clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
        this.#discard(api);
        reject(err);
      };
      const onAbort = (): void => fail(signal?.reason ?? new Error('aborted'));
      const timer = clock.setTimeout(
        () => fail(new IbConnectivityError(`connect to ${host}:${port}: no handshake within ${timeoutMs} ms`, { ibCode: 502, state: 'lost' })),
        timeoutMs,
      );
      signal?.addEventListener('abort', onAbort, { once: true });
      api.on('nextValidId', () => {
        if (settled) return;
        settled = true;
        clock.clearTimeout(timer);
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
        mux.get(reqId)?.onHistoricalData?.(String(time), o, h, l, c, v, count, wap),
      );
      api.on('historicalDataUpdate', (reqId: number, time: string, o: number, h: number, l: number, c: number, v: number, count: number, wap: number) =>
        mux.get(reqId)?.onHistoricalUpdate?.(String(time), o, h, l, c, v, count, wap),
      );
      api.on('contractDetails', (reqId: number, details: IbContractDetails) => mux.get(reqId)?.onContractDetails?.(details));
      api.on('contractDetailsEnd', (reqId: number) => mux.get(reqId)?.onContractDetailsEnd?.());
      api.on('headTimestamp', (reqId: number, value: string) => mux.get(reqId)?.onHeadTimestamp?.(String(value)));
      try {
        api.connect(clientId);
      } catch (err) {
        fail(err);
      }
    });
  }

  #route(err: IbError): void {
    if (this.#o.mux.deliverError(err)) return;
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
    this.#o.mux.dropAll();
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
