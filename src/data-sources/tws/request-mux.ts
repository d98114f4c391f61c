import type { Clock, TimerHandle } from '../../core/clock.js';
import { TimeoutError } from '../../core/errors.js';
import type { Logger } from '../../core/logger.js';
import type { IbApiPort, IbContractDetails } from './ib-api-port.js';
import { IbConnectivityError, type IbError } from './ib-errors.js';

/** What a request in flight hears: its data events, its errors and the loss of the socket. */
export interface PendingRequest {
  onHistoricalData?(time: string, open: number, high: number, low: number, close: number, volume: number, count: number, wap: number): void;
  onHistoricalUpdate?(time: string, open: number, high: number, low: number, close: number, volume: number, count: number, wap: number): void;
  onContractDetails?(details: IbContractDetails): void;
  onContractDetailsEnd?(): void;
  onHeadTimestamp?(value: string): void;
  onError(err: IbError): void;
  onDisconnect(): void;
}

/** One request/answer exchange made through RequestMux.call. */
export interface CallSpec<T> {
  readonly what: string;
  readonly signal?: AbortSignal | undefined;
  /** The message slot came with a HistoricalPacer permit: send at once. */
  readonly paced?: boolean;
  send(api: IbApiPort, reqId: number): void;
  cancel?(api: IbApiPort, reqId: number): void;
  handlers(done: (v: T) => void): Omit<PendingRequest, 'onError' | 'onDisconnect'>;
}

export interface RequestMuxDeps {
  readonly clock: Clock;
  readonly logger: Logger;
  /** The connection's socket while it is ready; undefined otherwise. */
  readonly api: () => IbApiPort | undefined;
  /** Waits for a slot of IB's message rate (the shared pacer). */
  readonly acquireMessage: (signal?: AbortSignal) => Promise<void>;
  readonly requestTimeoutMs: number;
}

export function notConnected(message = 'not connected to the gateway'): IbConnectivityError {
  return new IbConnectivityError(message, { ibCode: 504, state: 'lost' });
}

/**
 * The request ids of one client and the requests in flight under them: every answer, error and
 * socket loss is routed to the request it belongs to. Ids only grow, across reconnects too, so a
 * late answer to a dropped request never reaches a new one.
 */
export class RequestMux {
  readonly #d: RequestMuxDeps;
  #nextReqId = 1_000;
  readonly #pending = new Map<number, PendingRequest>();

  constructor(deps: RequestMuxDeps) {
    this.#d = deps;
  }

  /** A fresh request id. */
  nextReqId(): number {
    return this.#nextReqId++;
  }

  /** The request in flight under `reqId`, if any (the connection routes IB's events through this). */
  get(reqId: number): PendingRequest | undefined {
    return this.#pending.get(reqId);
  }

  set(reqId: number, pending: PendingRequest): void {
    this.#pending.set(reqId, pending);
  }

  delete(reqId: number): void {
    this.#pending.delete(reqId);
  }

  /** Hands an error with a request id to its request; false when no request is in flight under it. */
  deliverError(err: IbError): boolean {
    if (err.reqId === undefined) return false;
    const p = this.#pending.get(err.reqId);
    if (!p) return false;
    p.onError(err);
    return true;
  }

  /** The socket is gone: every request in flight hears it, and none is left. */
  dropAll(): void {
    const pending = [...this.#pending.values()];
    this.#pending.clear();
    for (const p of pending) p.onDisconnect();
  }

  /**
   * Sends one request and resolves with its answer; rejects on a fatal IB error for it, the loss
   * of the socket, an abort (cancelling it at IB) or no answer within the request timeout.
   */
  async call<T>(spec: CallSpec<T>): Promise<T> {
    const { clock, logger } = this.#d;
    if (!spec.paced) await this.#d.acquireMessage(spec.signal);
    const api = this.#d.api();
    if (!api) throw notConnected();
    const reqId = this.nextReqId();
    const timeoutMs = this.#d.requestTimeoutMs;
    return new Promise<T>((resolve, reject) => {
      const timer: TimerHandle = clock.setTimeout(() => {
        settle();
        cancelRemote();
        reject(new TimeoutError(`${spec.what}: no answer within ${timeoutMs} ms`, { details: { reqId } }));
      }, timeoutMs);
      const settle = (): void => {
        this.#pending.delete(reqId);
        clock.clearTimeout(timer);
        spec.signal?.removeEventListener('abort', onAbort);
      };
      const cancelRemote = (): void => {
        if (spec.cancel && this.#d.api() === api) {
          try {
            spec.cancel(api, reqId);
          } catch (err) {
            logger.debug({ err, reqId }, 'cancel failed');
          }
        }
      };
      const onAbort = (): void => {
        settle();
        cancelRemote();
        reject(spec.signal?.reason ?? new Error('aborted'));
      };
      const pending: PendingRequest = {
        ...spec.handlers((v) => {
          settle();
          resolve(v);
        }),
        onError: (err) => {
          if (!err.fatal) {
            logger.info({ reqId, code: err.ibCode, msg: err.message }, `IB warning on ${spec.what}`);
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
}
