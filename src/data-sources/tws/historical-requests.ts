import type { BarEvent, BarSize } from '../../core/bars.js';
import type { ContractSpec } from '../../core/instruments.js';
import type { Logger } from '../../core/logger.js';
import { backoffDelay, type BackoffPolicy } from '../../core/retry.js';
import type { IbContractDetails } from './ib-api-port.js';
import { contractFromDetails, type IbBarPayload, ibBarToBarEvent, specToIbContract, toRequestContract } from './ib-bar-mapping.js';
import { assertExplicitZone, formatIbUtc, parseIbBarTime } from './ib-datetime.js';
import { IbInvalidRequestError, IbNoDataError, IbPacingError } from './ib-errors.js';
import type { HistoricalPacer, HistoricalRequestKey } from './pacing.js';
import type { RequestMux } from './request-mux.js';
import type { HistoricalBarsOptions, HistoricalBarsResult, ResolvedContract } from './tws-port.js';

export interface HistoricalRequestsDeps {
  readonly mux: RequestMux;
  readonly pacer: HistoricalPacer;
  readonly logger: Logger;
  /** How IB writes bar times (TwsClientOptions.formatDate). */
  readonly formatDate: 1 | 2;
  /** Retries of one historical request after IB still reports a pacing violation. */
  readonly maxPacingRetries: number;
  /** Scales the pacing backoff with the pacer's windows (tests and the accelerated sim). */
  readonly pacingTimeScale: number;
  readonly random: () => number;
}

const PACING_BACKOFF: BackoffPolicy = { initialMs: 15_000, maxMs: 600_000, factor: 2, jitter: 0.25 };

/**
 * One-shot requests of a client: contract details (cached per spec), head timestamps and pages
 * of historical bars, each through the shared pacer and the request mux.
 */
export class HistoricalRequests {
  readonly #d: HistoricalRequestsDeps;
  readonly #contracts = new Map<string, Promise<ResolvedContract>>();

  constructor(deps: HistoricalRequestsDeps) {
    this.#d = deps;
  }

  /** TwsClient.resolveContract. */
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
    const details = await this.#d.mux.call<IbContractDetails[]>({
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
    const resolved = d ? contractFromDetails(d, spec) : null;
    if (!resolved) throw new IbInvalidRequestError(`no contract found for ${spec.symbol}@${spec.exchange}`, { ibCode: 200 });
    if (details.length > 1) this.#d.logger.warn({ symbol: spec.symbol, matches: details.length }, 'contract is ambiguous; using the first match');
    return resolved;
  }

  /** TwsClient.headTimestamp. */
  async headTimestamp(contract: ResolvedContract, whatToShow: string, useRth: boolean, signal?: AbortSignal): Promise<number | null> {
    const key: HistoricalRequestKey = {
      contract: String(contract.conId),
      exchange: contract.exchange,
      whatToShow,
      request: `head|${contract.conId}|${whatToShow}|${useRth ? 1 : 0}`,
    };
    const permit = await this.#d.pacer.acquire(key, signal);
    try {
      const text = await this.#d.mux.call<string>({
        what: `head timestamp ${contract.symbol}`,
        signal,
        paced: true,
        send: (api, reqId) => api.reqHeadTimestamp(reqId, toRequestContract(contract), whatToShow, useRth, this.#d.formatDate),
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

  /** TwsClient.requestHistoricalBars. */
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
    const { pacer, mux, logger } = this.#d;
    const endDateTime = assertExplicitZone(formatIbUtc(end));
    const durationStr = options.durationStr ?? `${Math.ceil((end - start) / 1000)} S`;
    const requestId = `hist:${contract.conId}:${endDateTime}:${durationStr.replace(' ', '')}:${barSize.replace(' ', '')}:${whatToShow}:${useRth ? 1 : 0}`;
    const key: HistoricalRequestKey = {
      contract: String(contract.conId),
      exchange: contract.exchange,
      whatToShow,
      request: requestId,
    };
    const maxRetries = this.#d.maxPacingRetries;
    const scale = this.#d.pacingTimeScale;
    for (let attempt = 1; ; attempt++) {
      const permit = await pacer.acquire(key, options.signal);
      let raw: IbBarPayload[];
      try {
        options.onSend?.();
        raw = await mux.call<IbBarPayload[]>({
          what: `historical ${contract.symbol} ${endDateTime} ${durationStr}`,
          signal: options.signal,
          paced: true,
          send: (api, reqId) =>
            api.reqHistoricalData(reqId, toRequestContract(contract), endDateTime, durationStr, barSize, whatToShow, useRth ? 1 : 0, this.#d.formatDate, false),
          cancel: (api, reqId) => api.cancelHistoricalData(reqId),
          handlers: (done) => {
            const bars: IbBarPayload[] = [];
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
          const wait = backoffDelay(attempt, { ...PACING_BACKOFF, initialMs: PACING_BACKOFF.initialMs * scale, maxMs: PACING_BACKOFF.maxMs * scale }, this.#d.random);
          logger.warn({ requestId, attempt, waitMs: wait }, 'IB reported a pacing violation; backing off and retrying this window');
          pacer.pause(wait);
          continue;
        }
        throw err;
      } finally {
        permit.release();
      }
      const bars: BarEvent[] = [];
      let dropped = 0;
      const ctx = { contract, symbol: options.symbol ?? contract.symbol, barSize, whatToShow, requestId };
      for (const r of raw) {
        const bar = ibBarToBarEvent(r, ctx);
        if (bar.ts >= start && bar.ts < end) bars.push(bar);
        else dropped++;
      }
      bars.sort((a, b) => a.ts - b.ts);
      return { bars, requestId, endDateTime, durationStr, noData: false, attempts: attempt, dropped };
    }
  }
}
