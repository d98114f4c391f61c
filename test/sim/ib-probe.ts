import { EventName, IBApi, type Contract } from '@stoqey/ib';
import { LIBRARY_MAX_REQ_PER_SEC } from '../../src/data-sources/tws/ib-api-port.js';

/**
 * A thin recorder around the unmodified @stoqey/ib IBApi client: it captures every event the
 * client emits so tests can assert on exactly what a user of the library would see.
 */
export interface ClientError {
  readonly code: number;
  readonly reqId: number;
  readonly message: string;
}

export interface HistoricalRow {
  readonly date: string;
  readonly open: number;
  readonly high: number;
  readonly low: number;
  readonly close: number;
  readonly volume: number;
  readonly count: number;
  readonly wap: number;
}

export interface HistoricalResult {
  readonly bars: HistoricalRow[];
  readonly finished: string;
}

export const AAPL: Contract = {
  symbol: 'AAPL',
  secType: 'STK' as Contract['secType'],
  exchange: 'SMART',
  currency: 'USD',
};
export const EURUSD: Contract = {
  symbol: 'EUR',
  secType: 'CASH' as Contract['secType'],
  exchange: 'IDEALPRO',
  currency: 'USD',
};
export const ES_H5: Contract = {
  symbol: 'ES',
  secType: 'FUT' as Contract['secType'],
  exchange: 'CME',
  currency: 'USD',
  lastTradeDateOrContractMonth: '202503',
};

export class IbProbe {
  readonly api: IBApi;
  readonly errors: ClientError[] = [];
  readonly infos: { code: number; message: string }[] = [];
  disconnects = 0;
  #waiters: (() => void)[] = [];

  constructor(port: number, options: { maxReqPerSec?: number } = {}) {
    // The library's own send queue (40 msg/s by default) holds requests back on real timers,
    // where no frame counter sees them: a SimDriver could move the clock past a queued request
    // or cancel. Opened wide by default, as ibpipe's client opens it.
    this.api = new IBApi({ host: '127.0.0.1', port, maxReqPerSec: options.maxReqPerSec ?? LIBRARY_MAX_REQ_PER_SEC });
    this.api.on(EventName.error, (err: Error, code: number, reqId: number) => {
      this.errors.push({ code, reqId, message: err.message });
      this.#poke();
    });
    this.api.on(EventName.info, (message: string, code: number) => {
      this.infos.push({ code, message });
      this.#poke();
    });
    this.api.on(EventName.disconnected, () => {
      this.disconnects++;
      this.#poke();
    });

  }

  /** Connects and resolves once the gateway has sent nextValidId (the client is usable). */
  connect(clientId: number): Promise<number> {
    return new Promise((resolve, reject) => {
      // A bound on a hang, not a time budget: a busy machine may take seconds to connect.
      const timer = setTimeout(() => reject(new Error('no nextValidId within 60 s')), 60_000);
      this.api.once(EventName.nextValidId, (id: number) => {
        clearTimeout(timer);
        resolve(id);
      });
      this.api.connect(clientId);
    });
  }

  disconnect(): void {
    this.api.disconnect();
  }

  /** Codes of errors the decoder raised about the wire format (505 = boundary mismatch). */
  decodeErrors(): ClientError[] {
    return this.errors.filter(
      (e) => e.code === 505 || e.message.includes('Decoding error') || e.message.includes('Underrun'),
    );
  }

  /** Resolves when predicate holds (checked on every recorded event and every 10 ms). */
  waitUntil(predicate: () => boolean, timeoutMs = 60_000, what = 'condition'): Promise<void> {
    return new Promise((resolve, reject) => {
      if (predicate()) return resolve();
      const poll = setInterval(() => check(), 10);
      const timer = setTimeout(() => {
        clearInterval(poll);
        reject(new Error(`timeout waiting for ${what}; errors=${JSON.stringify(this.errors.slice(-5))}`));
      }, timeoutMs);
      const check = (): void => {
        if (predicate()) {
          clearTimeout(timer);
          clearInterval(poll);
          resolve();
        } else this.#waiters.push(check);
      };
      this.#waiters.push(check);
    });
  }

  /** The first error for reqId (any code), waiting for it. */
  async errorFor(reqId: number, timeoutMs = 60_000): Promise<ClientError> {
    await this.waitUntil(() => this.errors.some((e) => e.reqId === reqId), timeoutMs, `error for ${reqId}`);
    return this.errors.find((e) => e.reqId === reqId) as ClientError;
  }

  /** reqHistoricalData; resolves at the client's `finished-…` marker, rejects on a non-warning error. */
  historical(
    reqId: number,
    contract: Contract,
    end: string,
    duration: string,
    barSize: string,
    whatToShow: string,
    useRTH: number,
    formatDate: number,
    keepUpToDate = false,
  ): Promise<HistoricalResult> {
    return new Promise((resolve, reject) => {
      const bars: HistoricalRow[] = [];
      const timer = setTimeout(() => reject(new Error(`historical ${reqId}: no answer within 60 s`)), 60_000);
      const onBar = (
        id: number,
        date: string,
        open: number,
        high: number,
        low: number,
        close: number,
        volume: number,
        count: number | undefined,
        wap: number,
      ): void => {
        if (id !== reqId) return;
        if (date.startsWith('finished')) {
          cleanup();
          resolve({ bars, finished: date });
          return;
        }
        bars.push({ date, open, high, low, close, volume, count: count ?? Number.NaN, wap });
      };
      const onError = (err: Error, code: number, id: number): void => {
        if (id !== reqId || code === 2174) return;
        cleanup();
        reject(Object.assign(new Error(err.message), { code }));
      };
      const cleanup = (): void => {
        clearTimeout(timer);
        this.api.off(EventName.historicalData, onBar);
        this.api.off(EventName.error, onError);
      };
      this.api.on(EventName.historicalData, onBar);
      this.api.on(EventName.error, onError);
      this.api.reqHistoricalData(
        reqId,
        contract,
        end,
        duration,
        barSize as never,
        whatToShow as never,
        useRTH,
        formatDate,
        keepUpToDate,
      );
    });
  }

  #poke(): void {
    const waiters = this.#waiters;
    this.#waiters = [];
    for (const w of waiters) w();
  }
}

/** Epoch seconds of a UTC wall-clock time (expected values are computed by hand from these). */
export function utcSeconds(y: number, mo: number, d: number, h: number, mi: number): number {
  return Date.UTC(y, mo - 1, d, h, mi) / 1000;
}
