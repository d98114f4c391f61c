import { createHash } from 'node:crypto';
import type { TradingCalendar } from '../../calendar/trading-calendar.js';
import type { Clock, TimerHandle } from '../../core/clock.js';
import { type BarEvent, type BarSize, barSizeMs, rawPartitionToken } from '../../core/bars.js';
import { InputError } from '../../core/errors.js';
import type { Instrument } from '../../core/instruments.js';
import type { Logger } from '../../core/logger.js';
import type { RawStore } from '../../storage/raw-store.js';
import { LIVE_GAP_LEDGER, type LiveGapRecord } from '../../storage/state-ledgers.js';
import { JsonlLedger } from '../../storage/state-store.js';
import type { LiveBarStream, LiveGap, LiveStreamEvent } from './live-bar-stream.js';
import { barFinalEverywhere, type StreamProgress } from './live-flush-policy.js';
import type { TwsClient } from './tws-client.js';
import type { TwsConfig } from './tws-config.js';
import type { BackfillDataset } from './tws-dataset.js';
import { withReconnect } from './with-reconnect.js';

/** The ledger's record type is owned by storage/state-ledgers.ts. */
export type { LiveGapRecord } from '../../storage/state-ledgers.js';

/** File name under state/ (the `live_gaps` view of `ibpipe sql` reads it). */
export { LIVE_GAP_LEDGER };

/** An intraday bar dataset streamed live: one keepUpToDate stream per instrument of it, flushed into its raw partition. */
export interface LiveDataset extends BackfillDataset {
  /** Dataset name (`bars_1min_bid`): tags the events and keys of its streams (see liveStreamKey). */
  readonly name: string;
}

/**
 * Key of one live stream wherever state is kept per stream: the instrument key for the classic
 * dataset (`tws.historical_bar_size`, each instrument's own series), `<key>@<dataset>` for every
 * other, so two series of one instrument never share a buffer, watermark, gap or hold.
 */
export function liveStreamKey(symbol: string, dataset?: string): string {
  return dataset === undefined ? symbol : `${symbol}@${dataset}`;
}

/** The dataset tag of a classic-or-not live dataset: undefined for the classic one. */
export function liveDatasetTag(ds: LiveDataset, classicBarSize: BarSize): string | undefined {
  return ds.series === null && ds.barSize === classicBarSize ? undefined : ds.name;
}

export interface LiveRunOptions {
  readonly signal: AbortSignal;
  /** Events of every stream; those of a non-classic dataset's stream carry its `dataset`. */
  readonly onEvent?: (e: LiveStreamEvent) => void;
  /**
   * The intraday datasets to stream (daily ones are refused); absent: the classic one only
   * (`tws.historical_bar_size`, each instrument's what_to_show, every instrument).
   */
  readonly datasets?: readonly LiveDataset[];
  /**
   * Per stream (liveStreamKey), the start of the first bar it answers for (LiveBarStreamOptions.from):
   * the bars before it are caught up elsewhere.
   */
  readonly from?: ReadonlyMap<string, number>;
  /** Called after every raw batch written. */
  readonly onFlush?: (info: { batchId: string; bars: number }) => void;
}

export interface LiveRunSummary {
  readonly barsWritten: number;
  readonly batchesWritten: number;
  readonly flushFailures: number;
  /** Per stream (liveStreamKey), the start of the last final bar it passed on (all of them flushed unless flushFailures). */
  readonly lastFinalTs: Readonly<Record<string, number | null>>;
}

export interface LiveIngestDeps {
  readonly client: TwsClient;
  readonly rawStore: RawStore;
  /** Folder of the lake's ledgers (`<lake>/state`): the live gap ledger goes there. */
  readonly stateDir: string;
  /** Trading calendar of an instrument key. */
  readonly calendarFor: (symbol: string) => TradingCalendar;
  readonly clock: Clock;
  readonly config: TwsConfig;
  readonly logger: Logger;
}

/**
 * Live ingest: one keepUpToDate stream per intraday dataset and instrument, its final bars
 * buffered per dataset and flushed into the dataset's raw partition, each live gap's repair
 * outcome recorded in state/live_gaps.jsonl.
 */
export class LiveIngest {
  readonly #d: LiveIngestDeps;
  readonly #log: Logger;
  /** Live streams of the running `runLiveStream`, for their gaps. */
  #liveStreams: readonly { readonly key: string; readonly stream: LiveBarStream }[] = [];
  readonly #gapLedger: JsonlLedger<LiveGapRecord>;

  constructor(deps: LiveIngestDeps) {
    this.#d = deps;
    this.#log = deps.logger;
    this.#gapLedger = new JsonlLedger<LiveGapRecord>(`${deps.stateDir}/${LIVE_GAP_LEDGER}`);
  }

  /** Gaps of the live streams not yet repaired, per stream (liveStreamKey; streams without any left out). */
  liveGaps(): Record<string, LiveGap[]> {
    const out: Record<string, LiveGap[]> = {};
    for (const { key, stream } of this.#liveStreams) {
      const gaps = stream.gaps;
      if (gaps.length > 0) out[key] = gaps;
    }
    return out;
  }

  /** Start of the last final bar each live stream (liveStreamKey) passed on (stored, or buffered until the next flush). */
  liveLastFinal(): Record<string, number | null> {
    return Object.fromEntries(this.#liveStreams.map(({ key, stream }) => [key, stream.lastFinalTs ?? null]));
  }

  /** Records how a repair ended, so `ibpipe status` (another process) can list what stays missing. */
  #recordGapOutcome(e: LiveStreamEvent): void {
    const now = this.#d.clock.now();
    const ds = e.dataset === undefined ? {} : { dataset: e.dataset };
    if (e.type === 'gap-repaired') {
      this.#gapLedger.append({ type: 'live_gap', symbol: e.symbol, ...ds, from: e.from, to: e.to, status: 'repaired', bars: e.bars, expected: e.expected, attempts: 0, recorded_at: now });
    } else if (e.type === 'repair-failed' && e.final) {
      this.#gapLedger.append({ type: 'live_gap', symbol: e.symbol, ...ds, from: e.from, to: e.to, status: 'failed', bars: null, expected: null, attempts: e.attempts, error: e.error, recorded_at: now });
    }
  }

  /**
   * Streams live bars for the instruments until `signal` aborts: one stream per intraday dataset
   * and instrument of it, only final bars, batched to each dataset's raw partition on size, on
   * interval and at shutdown. Each stream resubscribes and repairs its gap by itself after
   * disconnects, 1101, IB cancellations or silence.
   */
  async run(instruments: readonly Instrument[], options: LiveRunOptions): Promise<LiveRunSummary> {
    const { client, rawStore, clock, config } = this.#d;
    const { signal } = options;
    const classicSize = config.historical_bar_size;
    const datasets: readonly LiveDataset[] = options.datasets ?? [{ name: 'classic', barSize: classicSize, series: null, instruments: null }];
    const daily = datasets.find((d) => d.barSize === '1 day');
    if (daily) throw new InputError(`live: dataset ${daily.name} has daily bars, which are backfilled after the close, not streamed`);
    /** One group commit lane per dataset: its raw partition, buffer and flush-on-final progress. */
    interface Lane {
      readonly ds: LiveDataset;
      readonly tag: string | undefined;
      readonly partition: string;
      readonly barMs: number;
      readonly buffer: BarEvent[];
      readonly progress: StreamProgress[];
      /** Newest bar start passed on as final by a stream of the lane: only its completion triggers an early flush. */
      newestFinal: number;
    }
    const lanes: Lane[] = datasets.map((ds) => ({
      ds,
      tag: liveDatasetTag(ds, classicSize),
      partition: rawPartitionToken(ds.barSize, ds.series),
      barMs: barSizeMs(ds.barSize),
      buffer: [],
      progress: [],
      newestFinal: Number.NEGATIVE_INFINITY,
    }));
    const buffered = (): number => lanes.reduce((n, l) => n + l.buffer.length, 0);
    let barsWritten = 0;
    let batchesWritten = 0;
    let flushFailures = 0;
    let flushing: Promise<void> = Promise.resolve();

    const flushLane = async (lane: Lane): Promise<void> => {
      const { buffer } = lane;
      if (buffer.length === 0) return;
      // A correction of a bar still in the buffer replaces it: only the latest version is written.
      const latest = new Map<string, BarEvent>();
      for (const bar of buffer.splice(0, buffer.length)) {
        const key = `${bar.symbol}|${bar.ts}`;
        latest.delete(key);
        latest.set(key, bar);
      }
      const bars = [...latest.values()];
      // The classic lane keeps its ids; another lane's id names its partition, so equal bars of two series never share an id.
      const batchId = liveBatchId(bars, lane.tag === undefined ? null : lane.partition);
      try {
        const res = await rawStore.writeTwsBars(bars, batchId, clock.now(), lane.ds.series);
        barsWritten += res.rows;
        batchesWritten += res.written ? 1 : 0;
        this.#log.info({ event: 'live_flush', batch_id: batchId, bars: bars.length, ...(lane.tag === undefined ? {} : { dataset: lane.tag }) });
        options.onFlush?.({ batchId, bars: bars.length });
      } catch (err) {
        // Keep them for the next flush: nothing acknowledged by a stream is dropped.
        buffer.unshift(...bars);
        flushFailures++;
        this.#log.error({ err, batch_id: batchId, bars: bars.length }, 'live flush failed; will retry');
      }
    };
    const flush = (): Promise<void> => {
      flushing = flushing.then(async () => {
        for (const lane of lanes) await flushLane(lane);
      });
      return flushing;
    };

    const streams: { key: string; stream: LiveBarStream }[] = [];
    let timer: TimerHandle | undefined;
    const flushNow = (): void => {
      clock.clearTimeout(timer);
      timer = undefined;
      void flush().finally(() => {
        // Bars that came while the flush ran (or that it failed to write) wait at most the interval too.
        if (buffered() > 0 && timer === undefined && !signal.aborted) timer = clock.setTimeout(flushNow, config.live.flush_interval_ms);
      });
    };
    const onFinalBar = (lane: Lane, bar: BarEvent): void => {
      lane.buffer.push(bar);
      if (lane.buffer.length >= config.live.flush_max_bars) return flushNow();
      // Group commit with the shortest wait: the newest bar of a lane is committed (one file for
      // every instrument) as soon as each stream of the lane that owes it has passed it on as
      // final; a laggard or a repaired bar waits at most flush_interval_ms.
      if (config.live.flush_on_final && bar.ts >= lane.newestFinal) {
        lane.newestFinal = bar.ts;
        if (barFinalEverywhere(bar.ts, lane.barMs, lane.progress)) return flushNow();
      }
      if (timer === undefined && !signal.aborted) timer = clock.setTimeout(flushNow, config.live.flush_interval_ms);
    };
    try {
      for (const inst of instruments) {
        if (signal.aborted) break;
        const mine = lanes.filter((l) => !l.ds.instruments || l.ds.instruments.includes(inst.key));
        if (mine.length === 0) continue;
        const contract = await withReconnect(client, config.max_window_attempts, () => client.resolveContract(inst, signal), signal);
        const calendar = this.#d.calendarFor(inst.key);
        // Each stream is one keepUpToDate request through the client's shared pacer (its request
        // key names the bar size and series), so every extra series counts against the same limits.
        for (const lane of mine) {
          if (signal.aborted) break;
          const key = liveStreamKey(inst.key, lane.tag);
          const tag = lane.tag;
          const stream = client.subscribeMarketData(contract, {
            symbol: inst.key,
            barSize: lane.ds.barSize,
            whatToShow: lane.ds.series ?? inst.what_to_show,
            useRth: inst.use_rth,
            calendar,
            ...(options.from?.has(key) ? { from: options.from.get(key) } : {}),
            finalizeGraceMs: config.live.finalize_grace_ms,
            silenceTimeoutMs: config.live.silence_timeout_ms,
            repairAttempts: config.max_window_attempts,
            logger: this.#log,
            onBar: (bar) => onFinalBar(lane, bar),
            onEvent: (raw) => {
              const e: LiveStreamEvent = tag === undefined ? raw : { ...raw, dataset: tag };
              try {
                this.#recordGapOutcome(e);
              } catch (err) {
                this.#log.error({ err, event: e }, 'cannot record a live gap outcome');
              }
              options.onEvent?.(e);
            },
          });
          streams.push({ key, stream });
          lane.progress.push({
            get lastFinalTs() {
              return stream.lastFinalTs;
            },
            calendar,
          });
          this.#liveStreams = [...streams];
        }
      }
      if (!signal.aborted) await new Promise<void>((resolve) => signal.addEventListener('abort', () => resolve(), { once: true }));
    } finally {
      clock.clearTimeout(timer);
      await Promise.all(streams.map((s) => client.unsubscribe(s.stream)));
      this.#liveStreams = [];
      await flush();
      clock.clearTimeout(timer);
    }
    const lastFinalTs = Object.fromEntries(streams.map((s) => [s.key, s.stream.lastFinalTs ?? null]));
    return { barsWritten, batchesWritten, flushFailures, lastFinalTs };
  }
}

/** Content-derived id of a live flush (of a non-classic dataset's `partition`): writing the same bars again is a no-op. */
export function liveBatchId(bars: readonly BarEvent[], partition: string | null = null): string {
  const h = createHash('sha256');
  if (partition !== null) h.update(`bar_size=${partition}\n`);
  for (const b of bars) h.update(`${b.symbol}|${b.ts}|${b.open}|${b.high}|${b.low}|${b.close}|${b.volume}\n`);
  return `${LIVE_BATCH_PREFIX}${h.digest('hex').slice(0, 32)}`;
}

const LIVE_BATCH_PREFIX = 'live-';

/** True for the batch id of a live flush (liveBatchId). */
export function isLiveBatchId(batchId: string): boolean {
  return batchId.startsWith(LIVE_BATCH_PREFIX);
}
