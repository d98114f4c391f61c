import type { BarEvent, BarSize } from '../../core/bars.js';
import type { Logger } from '../../core/logger.js';
import type { IbApiPort } from './ib-api-port.js';
import { type IbBarPayload, ibBarToBarEvent, toRequestContract } from './ib-bar-mapping.js';
import type { HistoricalPacer, HistoricalRequestKey, PacingPermit } from './pacing.js';
import { notConnected, type RequestMux } from './request-mux.js';
import type { LiveRequestHandle, LiveRequestHandlers, ResolvedContract } from './tws-port.js';

export interface LiveRequestDeps {
  readonly mux: RequestMux;
  readonly pacer: HistoricalPacer;
  readonly logger: Logger;
  /** The connection's socket while it is ready; undefined otherwise. */
  readonly api: () => IbApiPort | undefined;
  /** How IB writes bar times (TwsClientOptions.formatDate). */
  readonly formatDate: 1 | 2;
}

export interface KeepUpToDateParams {
  readonly symbol: string;
  readonly barSize: BarSize;
  readonly whatToShow: string;
  readonly useRth: boolean;
  readonly durationStr: string;
}

/**
 * Opens a keepUpToDate request (endDateTime "" as IB requires): the initial bars covering
 * `durationStr`, then updates of the bar being built until cancelled or ended by IB. Its pacing
 * permit is held until the initial bars end (or the request does).
 */
export async function openKeepUpToDate(
  deps: LiveRequestDeps,
  contract: ResolvedContract,
  params: KeepUpToDateParams,
  handlers: LiveRequestHandlers,
  signal?: AbortSignal,
): Promise<LiveRequestHandle> {
  const { mux, pacer, logger } = deps;
  const { symbol, barSize, whatToShow, useRth, durationStr } = params;
  const requestId = `live:${contract.conId}:${barSize.replace(' ', '')}:${whatToShow}:${useRth ? 1 : 0}`;
  const key: HistoricalRequestKey = {
    contract: String(contract.conId),
    exchange: contract.exchange,
    whatToShow,
    request: `${requestId}:${durationStr}`,
  };
  let permit: PacingPermit | undefined = await pacer.acquire(key, signal);
  const releasePermit = (): void => {
    permit?.release();
    permit = undefined;
  };
  const api = deps.api();
  if (!api) {
    releasePermit();
    throw notConnected();
  }
  const reqId = mux.nextReqId();
  let ended = false;
  const end = (err: unknown): void => {
    if (ended) return;
    ended = true;
    mux.delete(reqId);
    releasePermit();
    handlers.onEnd(err);
  };
  const ctx = { contract, symbol, barSize, whatToShow, requestId };
  const emit = (phase: 'initial' | 'update', r: IbBarPayload): void => {
    let bar: BarEvent;
    try {
      bar = ibBarToBarEvent(r, ctx);
    } catch (err) {
      logger.warn({ err, reqId }, 'unparseable live bar dropped');
      return;
    }
    handlers.onBar(bar, phase);
  };
  mux.set(reqId, {
    onHistoricalData: (time, open, high, low, close, volume, count, wap) => {
      if (time.startsWith('finished')) {
        releasePermit();
        handlers.onInitialEnd();
      } else emit('initial', { time, open, high, low, close, volume, count, wap });
    },
    onHistoricalUpdate: (time, open, high, low, close, volume, count, wap) => emit('update', { time, open, high, low, close, volume, count, wap }),
    onError: (err) => {
      if (err.fatal) end(err);
      else logger.info({ reqId, code: err.ibCode, msg: err.message }, 'IB warning on live request');
    },
    onDisconnect: () => end(notConnected('socket dropped')),
  });
  api.reqHistoricalData(reqId, toRequestContract(contract), '', durationStr, barSize, whatToShow, useRth ? 1 : 0, deps.formatDate, true);
  return {
    reqId,
    cancel: () => {
      if (ended) return;
      ended = true;
      mux.delete(reqId);
      releasePermit();
      const live = deps.api();
      if (live) {
        void pacer.acquireMessage().then(() => {
          if (deps.api() === live) live.cancelHistoricalData(reqId);
        });
      }
    },
  };
}
