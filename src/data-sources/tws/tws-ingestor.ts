import { createHash } from 'node:crypto';
import type { TradingCalendar } from '../../calendar/trading-calendar.js';
import type { BarEvent, BarSize } from '../../core/bars.js';
import { IbpipeError, InputError, StorageWriteError, TimeoutError } from '../../core/errors.js';
import type { Instrument, WhatToShow } from '../../core/instruments.js';
import { silentLogger, type Logger } from '../../core/logger.js';
import { RawBatchWriter } from '../../storage/raw-batch-writer.js';
import type { IngestBatch, Ingestor, IngestRequest, IngestWorkItem } from '../ingestor.js';
import { type BackfillWindow, planBackfill } from './backfill-planner.js';
import { BackfillLedger, type BackfillStatus, type BackfillWindowRecord, headKey, isDone, type UnbackedWindow, unbackedWindows, windowKey } from './backfill-ledger.js';
import { type BackfillPageSink, GroupCommitPageSink, PageAbandonedError, PageHandOff } from './backfill-page-sink.js';
import { backoffDelay, type BackoffPolicy } from '../../core/retry.js';
import { dailyBarStart } from './ib-datetime.js';
import { IbCancelledError, IbConnectivityError, IbPacingError } from './ib-errors.js';
import type { LiveGap } from './live-bar-stream.js';
import { LiveIngest, type LiveIngestDeps, type LiveRunOptions, type LiveRunSummary } from './live-ingest.js';
import { RequestLog } from './request-log.js';
import { type BackfillDataset, datasetInstruments } from './tws-dataset.js';
import { withReconnect } from './with-reconnect.js';
import { REQUEST_LOG } from '../../storage/state-ledgers.js';
import type { ResolvedContract } from './tws-client.js';

export interface BackfillProgress {
  readonly done: number;
  readonly total: number;
  readonly instrument: string;
  readonly sessionDate: string;
  readonly status: BackfillStatus;
  readonly bars: number;
}

export interface BackfillSummary {
  readonly runId: string;
  /** Windows the plan holds. */
  readonly windows: number;
  /** Windows already done in an earlier run (not requested again). */
  readonly skipped: number;
  readonly byStatus: Readonly<Record<BackfillStatus, number>>;
  readonly barsWritten: number;
  /** Pages stored (one raw batch id each) … */
  readonly batchesWritten: number;
  /** … in this many group commits (raw ledger lines). */
  readonly commits: number;
  /** True when every planned window ended ok or no-data. */
  readonly complete: boolean;
  readonly failed: ReadonlyArray<{ instrument: string; sessionDate: string; status: BackfillStatus; error?: string }>;
  readonly elapsedMs: number;
  /** From the first window request to the last answer: the part IB's pacing governs. */
  readonly fetchMs: number;
  /** Set when the lake refused a write (disk full, permission): the run stopped there. */
  readonly stoppedBy?: { readonly code: string; readonly message: string; readonly path: string };
}

export interface BackfillOptions {
  readonly signal?: AbortSignal;
  readonly onProgress?: (p: BackfillProgress) => void;
  readonly dataset?: BackfillDataset;
}

/** The live side's needs (client, stores, ledgers folder, calendars, clock, config), a logger optional, and the backfill's own. */
export interface TwsIngestorDeps extends Omit<LiveIngestDeps, 'logger'> {
  readonly logger?: Logger;
  /** What `plan` / `run` serve (the configured instruments); `ingestHistoricalRange` takes its own. */
  readonly instruments?: readonly Instrument[];
  /** Config name of this source (default `tws`). */
  readonly name?: string;
  /** The ingestor connects the client at the start of `plan` / `run` and disconnects it at their end. */
  readonly ownsClient?: boolean;
  /**
   * Lets `plan` / `run` go without a start: each instrument then begins at the session of its
   * watermark (its newest stored raw bar, or the newest window the backfill ledger has done),
   * or this many completed sessions back when it has neither. Without it a start is required.
   */
  readonly defaultSessions?: number;
  /**
   * The bar dataset `plan` / `run` fill (its bar size, series, instruments and raw partition;
   * the default start is its own watermark); absent: the classic one (`tws.historical_bar_size`,
   * each instrument's what_to_show).
   */
  readonly dataset?: BackfillDataset;
}

interface WindowTask {
  readonly inst: Instrument;
  readonly contract: ResolvedContract;
  readonly window: BackfillWindow;
  readonly key: string;
  readonly priorAttempts: number;
}

type BackfillFailure = { instrument: string; sessionDate: string; status: BackfillStatus; error?: string };

interface PlannedTasks {
  perInstrument: WindowTask[][];
  failed: BackfillFailure[];
  skipped: number;
  planned: number;
}

interface DriveInput {
  readonly instruments: readonly Instrument[];
  readonly windowsFor: (inst: Instrument, head: number | null) => BackfillWindow[];
  /** Logged with each instrument's plan. */
  readonly logRange: Readonly<Record<string, unknown>>;
  readonly barSize: BarSize;
  readonly series: WhatToShow | null;
  readonly signal?: AbortSignal | undefined;
  readonly onProgress?: ((p: BackfillProgress) => void) | undefined;
}

interface DriveResult {
  readonly summary: BackfillSummary;
  /** Each failure as `run` reports it (Ingestor.unfinished). */
  readonly unfinished: readonly string[];
  /** The lake refused a write: the run stopped there. */
  readonly stopped?: StorageWriteError;
}

type WindowRecordBase = Omit<BackfillWindowRecord, 'status' | 'bars' | 'batch_id' | 'attempts' | 'error' | 'recorded_at'>;

type FetchOutcome =
  | { readonly record: BackfillWindowRecord }
  | { readonly base: WindowRecordBase; readonly bars: BarEvent[]; readonly batchId: string; readonly attempts: number };

const RETRY_BACKOFF: BackoffPolicy = { initialMs: 2_000, maxMs: 60_000, factor: 2, jitter: 0.5 };

/** Idempotent batch id of a backfill page: the same request always maps to the same batch. */
export function backfillBatchId(instrument: string, conId: number, w: BackfillWindow, whatToShow: string, useRth: boolean): string {
  const h = createHash('sha256')
    .update([instrument, conId, w.barSize, whatToShow, useRth ? 1 : 0, w.endDateTime, w.durationStr].join('|'))
    .digest('hex');
  return `bf-${h.slice(0, 32)}`;
}

/** Newest sessions first overall, and no contract asked for twice in a row while others wait. */
function roundRobin(perInstrument: readonly WindowTask[][]): WindowTask[] {
  const queue: WindowTask[] = [];
  for (let i = 0; perInstrument.some((t) => i < t.length); i++) for (const t of perInstrument) if (i < t.length) queue.push(t[i] as WindowTask);
  return queue;
}

function windowLabel(t: WindowTask): string {
  return `${t.inst.key} ${t.window.sessionDate} ${t.window.endDateTime} ${t.window.durationStr}`;
}

function statusOf(err: unknown): BackfillStatus {
  if (err instanceof IbPacingError) return 'pacing';
  if (err instanceof TimeoutError) return 'timeout';
  return 'error';
}

/**
 * Historical backfill with a resumable ledger, and the live stream, from one TwsClient into
 * the raw store. Each backfill page is one raw batch whose id derives from the request, so a
 * re-run never duplicates data; each window's outcome is one ledger line, so a re-run never
 * re-requests a finished window.
 */
export class TwsIngestor implements Ingestor {
  readonly name: string;
  readonly source = 'TWS';
  readonly ledger: BackfillLedger;
  readonly #requests: RequestLog;
  readonly #d: TwsIngestorDeps;
  readonly #log: Logger;
  /** The previous process's requests are counted once, before this instance's first run. */
  #preloaded = false;
  #unfinished: string[] = [];
  readonly #live: LiveIngest;

  constructor(deps: TwsIngestorDeps) {
    this.#d = deps;
    this.name = deps.name ?? 'tws';
    this.#log = (deps.logger ?? silentLogger()).child({ component: 'tws-ingestor' });
    this.ledger = new BackfillLedger(deps.stateDir);
    this.#requests = new RequestLog(`${deps.stateDir}/${REQUEST_LOG}`);
    this.#live = new LiveIngest({ client: deps.client, rawStore: deps.rawStore, stateDir: deps.stateDir, calendarFor: deps.calendarFor, clock: deps.clock, config: deps.config, logger: this.#log });
  }

  /** Gaps of the live streams not yet repaired, per stream (liveStreamKey; streams without any left out). */
  liveGaps(): Record<string, LiveGap[]> {
    return this.#live.liveGaps();
  }

  /** Start of the last final bar each live stream (liveStreamKey) passed on (stored, or buffered until the next flush). */
  liveLastFinal(): Record<string, number | null> {
    return this.#live.liveLastFinal();
  }

  /** Streams live bars until `options.signal` aborts (LiveIngest.run). */
  runLiveStream(instruments: readonly Instrument[], options: LiveRunOptions): Promise<LiveRunSummary> {
    return this.#live.run(instruments, options);
  }

  /**
   * Backfills [start, end] (session dates, inclusive) for every instrument, newest window first,
   * resuming from the ledger. Resolves with a summary; `complete` is false when any window ended
   * in pacing / error / timeout (the next run retries exactly those).
   */
  async ingestHistoricalRange(requested: readonly Instrument[], start: string, end: string, options: BackfillOptions = {}): Promise<BackfillSummary> {
    const { clock, config, rawStore } = this.#d;
    const barSize = options.dataset?.barSize ?? config.historical_bar_size;
    // Pages go to a group committer while the workers go on asking (see #drive).
    const sink = new GroupCommitPageSink(new RawBatchWriter(rawStore, clock, { maxRows: config.backfill_commit_rows, maxDelayMs: config.backfill_commit_delay_ms }));
    const { summary } = await this.#drive(
      {
        instruments: datasetInstruments(requested, options.dataset),
        windowsFor: (inst, head) => planBackfill({ calendar: this.#d.calendarFor(inst.key), startDate: start, endDate: end, barSize, headTimestamp: head, now: clock.now() }),
        logRange: { start, end },
        barSize,
        series: options.dataset?.series ?? null,
        signal: options.signal,
        onProgress: options.onProgress,
      },
      sink,
    );
    return summary;
  }

  /**
   * The one backfill driver behind `ingestHistoricalRange` and `run`: plans the instruments'
   * windows (minus those the ledger shows done), fetches them with `backfill_concurrency`
   * workers round-robin through the client's shared pacer, hands each page to `sink` and writes
   * the window's ledger line only once the sink reports it committed. A window IB answers with
   * no data, or that fails past its retries, gets its ledger line at once. A refused write (disk
   * full, permission) stops the run: nothing later could be stored either.
   */
  async #drive(input: DriveInput, sink: BackfillPageSink): Promise<DriveResult> {
    const { clock, config } = this.#d;
    const { signal, series } = input;
    const began = clock.now();
    const runId = this.#newRunId();
    const byStatus: Record<BackfillStatus, number> = { ok: 0, 'no-data': 0, pacing: 0, error: 0, timeout: 0 };
    let barsWritten = 0;
    let batchesWritten = 0;
    let firstFetchAt: number | undefined;
    let lastAnswerAt: number | undefined;
    let stopped: StorageWriteError | undefined;
    let plan: PlannedTasks = { perInstrument: [], failed: [], skipped: 0, planned: 0 };
    const unfinished: string[] = [];
    const finish = (): DriveResult => {
      const summary: BackfillSummary = {
        runId,
        windows: plan.planned,
        skipped: plan.skipped,
        byStatus,
        barsWritten,
        batchesWritten,
        commits: sink.commits,
        complete: plan.failed.length === 0 && stopped === undefined,
        failed: plan.failed,
        elapsedMs: clock.now() - began,
        fetchMs: firstFetchAt === undefined || lastAnswerAt === undefined ? 0 : lastAnswerAt - firstFetchAt,
        ...(stopped ? { stoppedBy: { code: stopped.code, message: stopped.message, path: stopped.path } } : {}),
      };
      if (stopped) this.#log.error({ event: 'backfill_stopped', code: stopped.code, path: stopped.path, error: stopped.message });
      this.#log.info({ event: 'backfill_done', ...summary, failed: plan.failed.length });
      return { summary, unfinished, ...(stopped ? { stopped } : {}) };
    };

    try {
      this.#preloadPacer();
      plan = await this.#planTasks(input.instruments, input.windowsFor, input.logRange, this.ledger.latestByWindow(), this.ledger.heads(), true, signal, input.barSize);
    } catch (err) {
      if (!(err instanceof StorageWriteError)) throw err;
      stopped = err;
      return finish();
    }
    const { failed } = plan;
    for (const f of failed) unfinished.push(`${f.instrument}: ${f.status}${f.error ? ` (${f.error})` : ''}`);

    // Round-robin across instruments: newest sessions first overall, and no contract is asked
    // for twice in a row, so the per-contract rule never binds before the 10-minute one.
    const queue = roundRobin(plan.perInstrument);
    let done = 0;
    const total = queue.length;
    let next = 0;
    const record = (rec: BackfillWindowRecord, task: WindowTask): void => {
      this.ledger.append(rec);
      done++;
      byStatus[rec.status]++;
      if (rec.status === 'ok' && rec.bars !== null && rec.batch_id !== null) {
        barsWritten += rec.bars;
        batchesWritten++;
      }
      if (!isDone(rec.status)) {
        failed.push({ instrument: rec.instrument, sessionDate: rec.session_date, status: rec.status, ...(rec.error ? { error: rec.error } : {}) });
        unfinished.push(`${windowLabel(task)}: ${rec.status}${rec.error ? ` (${rec.error})` : ''}`);
      }
      const level = isDone(rec.status) ? 'info' : 'warn';
      this.#log[level]({
        event: 'backfill_window',
        instrument: rec.instrument,
        session_date: rec.session_date,
        end_date_time: rec.end_date_time,
        duration: rec.duration,
        status: rec.status,
        bars: rec.bars,
        expected_bars: rec.expected_bars,
        batch_id: rec.batch_id,
        attempts: rec.attempts,
        done,
        total,
        ...(rec.error ? { error: rec.error } : {}),
      });
      input.onProgress?.({ done, total, instrument: rec.instrument, sessionDate: rec.session_date, status: rec.status, bars: rec.bars ?? 0 });
    };

    // IB's pacing budget is the scarce resource, so it is never left idle waiting for the disk:
    // the workers go on asking while the sink stores pages, and the sink holds them back when it
    // has enough waiting, so a slow lake (or consumer) cannot fill memory.
    let firstError: { err: unknown } | undefined;
    const fail = (err: unknown): void => {
      if (err instanceof StorageWriteError) stopped ??= err;
      else firstError ??= { err };
    };
    // A page's callbacks stop the run on a failure to record it, and report it to the sink's caller too.
    const guarded =
      <A extends unknown[]>(fn: (...args: A) => void) =>
      (...args: A): void => {
        try {
          fn(...args);
        } catch (err) {
          fail(err);
          throw err;
        }
      };
    const worker = async (): Promise<void> => {
      while (next < queue.length && !signal?.aborted && stopped === undefined && firstError === undefined) {
        const task = queue[next++] as WindowTask;
        firstFetchAt ??= clock.now();
        try {
          const outcome = await this.#fetchWindow(task, runId, signal);
          lastAnswerAt = clock.now();
          if ('record' in outcome) {
            record(outcome.record, task);
            continue;
          }
          // Fetched after the lake refused a write: the page cannot be kept; the next run asks again.
          if (stopped !== undefined) break;
          const { base, bars, batchId, attempts } = outcome;
          await sink.submit({
            batchId,
            events: bars,
            series,
            label: windowLabel(task),
            onCommitted: guarded(() => record({ ...base, status: 'ok', bars: bars.length, batch_id: batchId, attempts, recorded_at: clock.now() }, task)),
            onFailed: guarded((err: unknown) => {
              if (err instanceof StorageWriteError) throw err;
              this.#log.error({ err, batch_id: batchId }, 'storing a backfill page failed');
              record({ ...base, status: 'error', bars: null, batch_id: null, attempts, error: err instanceof Error ? err.message : String(err), recorded_at: clock.now() }, task);
            }),
          });
        } catch (err) {
          if (signal?.aborted && !(err instanceof StorageWriteError)) break;
          fail(err);
        }
      }
    };
    const workers = Math.max(1, Math.min(config.backfill_concurrency, queue.length));
    try {
      await Promise.all(Array.from({ length: workers }, () => worker()));
    } finally {
      // Pages already fetched are committed even when the run is interrupted: IB's budget paid for them.
      await sink.drain();
    }
    if (signal?.aborted && stopped === undefined) throw signal.reason ?? new Error('backfill aborted');
    if (firstError !== undefined) throw firstError.err;
    return finish();
  }

  /**
   * Resolves each instrument's contract and head timestamp (from the ledger when known) and
   * plans its windows, minus those the ledger shows done. An instrument that cannot be planned
   * is logged and listed in `failed`; the others go on.
   */
  async #planTasks(
    instruments: readonly Instrument[],
    windowsFor: (inst: Instrument, head: number | null) => BackfillWindow[],
    logRange: Readonly<Record<string, unknown>>,
    history: ReadonlyMap<string, BackfillWindowRecord>,
    heads: ReadonlyMap<string, number | null>,
    recordHeads: boolean,
    signal: AbortSignal | undefined,
    barSize: BarSize = this.#d.config.historical_bar_size,
  ): Promise<PlannedTasks> {
    const { client, clock } = this.#d;
    const perInstrument: WindowTask[][] = [];
    const failed: BackfillFailure[] = [];
    let skipped = 0;
    let planned = 0;
    const plannedInstruments: { inst: Instrument; contract: ResolvedContract; head: number | null; windows: BackfillWindow[] }[] = [];
    for (const inst of instruments) {
      let contract: ResolvedContract;
      let head: number | null | undefined;
      try {
        contract = await withReconnect(client, this.#d.config.max_window_attempts, () => client.resolveContract(inst, signal), signal);
        head = heads.get(headKey(inst.key, inst.what_to_show, inst.use_rth));
        if (head === undefined) {
          const contractNow = contract;
          head = await withReconnect(client, this.#d.config.max_window_attempts, () => client.headTimestamp(contractNow, inst.what_to_show, inst.use_rth, signal), signal);
          if (recordHeads) {
            this.ledger.append({ type: 'head', instrument: inst.key, con_id: contract.conId, what_to_show: inst.what_to_show, use_rth: inst.use_rth, head_ts: head, recorded_at: clock.now() });
          }
        }
      } catch (err) {
        if (signal?.aborted) throw signal.reason ?? err;
        if (err instanceof StorageWriteError) throw err;
        // One unknown or unreachable contract must not hold back the others.
        this.#log.error({ err, instrument: inst.key }, 'cannot plan the backfill of this instrument');
        failed.push({ instrument: inst.key, sessionDate: '', status: 'error', error: err instanceof Error ? err.message : String(err) });
        continue;
      }
      plannedInstruments.push({ inst, contract, head, windows: windowsFor(inst, head) });
    }
    // Windows the ledger calls done are checked against raw in one pass over its ledger.
    const keyOf = (inst: Instrument, w: BackfillWindow): string => windowKey(inst.key, barSize, inst.what_to_show, inst.use_rth, w.start, w.end);
    const doneRecords = plannedInstruments.flatMap(({ inst, windows }) =>
      windows.flatMap((w) => {
        const prev = history.get(keyOf(inst, w));
        return prev && isDone(prev.status) ? [prev] : [];
      }),
    );
    const unbacked = new Set(this.#checkAgainstRaw(doneRecords, recordHeads).map((u) => u.record));
    for (const { inst, contract, head, windows } of plannedInstruments) {
      planned += windows.length;
      const tasks: WindowTask[] = [];
      for (const w of windows) {
        const key = keyOf(inst, w);
        const prev = history.get(key);
        if (prev && isDone(prev.status) && !unbacked.has(prev)) {
          skipped++;
          continue;
        }
        tasks.push({ inst, contract, window: w, key, priorAttempts: prev?.attempts ?? 0 });
      }
      perInstrument.push(tasks);
      this.#log.info({ event: 'backfill_plan', instrument: inst.key, con_id: contract.conId, head_ts: head, windows: windows.length, to_request: tasks.length, ...logRange, bar_size: barSize });
    }
    return { perInstrument, failed, skipped, planned };
  }

  /**
   * Done windows whose rows are not in raw (a restored or partly lost `state/`, a deleted file):
   * each is logged and planned again. A writing run marks the missing files lost, so readers stop
   * listing them and the refetched page is written in their place.
   */
  #checkAgainstRaw(done: readonly BackfillWindowRecord[], markLost: boolean): UnbackedWindow[] {
    const unbacked = unbackedWindows(done, this.#d.rawStore);
    for (const u of unbacked) {
      this.#log.warn(
        { event: 'backfill_ledger_mismatch', instrument: u.record.instrument, session_date: u.record.session_date, batch_id: u.record.batch_id, reason: u.reason },
        'the backfill ledger records this window as done but its rows are not in raw; requesting it again',
      );
    }
    const lost = unbacked.flatMap((u) => u.missingFiles);
    if (markLost && lost.length > 0) this.#d.rawStore.markLost(lost, 'missing on disk when a backfill checked its ledger', this.#d.clock.now());
    return unbacked;
  }

  /** Instruments a request names (default: every instrument this ingestor was given) that its dataset holds, in config order. */
  #requested(request: IngestRequest): Instrument[] {
    const all = this.#d.instruments ?? [];
    const unknown = (request.symbols ?? []).filter((s) => !all.some((i) => i.key === s));
    if (unknown.length > 0) throw new InputError(`${this.name}: not a configured instrument: ${unknown.join(', ')}`);
    return datasetInstruments(request.symbols === undefined ? all : all.filter((i) => request.symbols?.includes(i.key)), this.#d.dataset);
  }

  /** Bar size of the dataset `plan` / `run` fill. */
  get #barSize(): BarSize {
    return this.#d.dataset?.barSize ?? this.#d.config.historical_bar_size;
  }

  /**
   * The windows of a request: every closed session overlapping [start, end) (session dates by
   * the instrument's calendar), whole, so a window and its batch id do not depend on where the
   * request's edges fall. `end` defaults to now; `start` is required (IB history goes back years).
   */
  #requestWindows(request: IngestRequest, marks?: ReadonlyMap<string, number>): (inst: Instrument, head: number | null) => BackfillWindow[] {
    const now = this.#d.clock.now();
    const barSize = this.#barSize;
    const sessionsBack = this.#d.defaultSessions;
    if (request.start === undefined && (sessionsBack === undefined || marks === undefined)) {
      throw new InputError(`${this.name}: a TWS backfill needs a start (e.g. --start YYYY-MM-DD)`);
    }
    const start = request.start;
    const end = request.end ?? now;
    if (start !== undefined && !(end > start)) throw new InputError(`${this.name}: end ${new Date(end).toISOString()} is not after start ${new Date(start).toISOString()}`);
    return (inst, head) => {
      const calendar = this.#d.calendarFor(inst.key);
      let startDate: string;
      if (start !== undefined) startDate = calendar.sessionDateOf(start);
      else {
        const mark = marks?.get(inst.key);
        startDate = mark !== undefined ? calendar.sessionDateOf(mark) : completedSessionsBack(calendar, now, sessionsBack ?? 1);
      }
      const endDate = calendar.sessionDateOf(end - 1);
      if (endDate < startDate) return [];
      return planBackfill({ calendar, startDate, endDate, barSize, headTimestamp: head, now }).filter((w) => w.end > (start ?? -Infinity) && w.start < end);
    };
  }

  /**
   * Where a run without a start resumes, per instrument key: the later of its newest stored raw
   * bar (the newest partitions of the dataset's own raw partition) and the newest window of the
   * dataset (bar size and series) the backfill ledger has done.
   */
  async #watermarks(request: IngestRequest): Promise<Map<string, number> | undefined> {
    if (request.start !== undefined || this.#d.defaultSessions === undefined) return undefined;
    const barSize = this.#barSize;
    const series = this.#d.dataset?.series ?? null;
    const marks = await this.#d.rawStore.latestBarTimes(barSize, undefined, series);
    const whatToShow = new Map(datasetInstruments(this.#d.instruments ?? [], this.#d.dataset).map((i) => [i.key, i.what_to_show]));
    for (const r of this.ledger.latestByWindow().values()) {
      if (r.bar_size !== barSize || r.what_to_show !== whatToShow.get(r.instrument) || !isDone(r.status)) continue;
      if ((marks.get(r.instrument) ?? -Infinity) < r.window_start) marks.set(r.instrument, r.window_start);
    }
    return marks;
  }

  async #connectOwned(signal?: AbortSignal): Promise<void> {
    if (this.#d.ownsClient) await this.#d.client.connect(signal);
  }

  async #disconnectOwned(): Promise<void> {
    if (this.#d.ownsClient) await this.#d.client.disconnect();
  }

  /** One work item per window `run` would request (windows the ledger shows done are left out). */
  async plan(request: IngestRequest): Promise<IngestWorkItem[]> {
    const windowsFor = this.#requestWindows(request, await this.#watermarks(request));
    const instruments = this.#requested(request);
    await this.#connectOwned(request.signal);
    try {
      const { perInstrument } = await this.#planTasks(instruments, windowsFor, { request_start: request.start, request_end: request.end }, this.ledger.latestByWindow(), this.ledger.heads(), false, request.signal, this.#barSize);
      return roundRobin(perInstrument).map((t) => ({
        label: windowLabel(t),
        symbols: [t.inst.key],
        start: t.window.start,
        end: t.window.end,
        rows: t.window.expectedBars,
      }));
    } finally {
      await this.#disconnectOwned();
    }
  }

  /**
   * The same driver as `ingestHistoricalRange` (same planning, pacing, ledger lines and error
   * handling), its pages handed to the consumer one batch each: a window's ledger line is
   * written when its batch is acknowledged. A window IB answers with no data, or that fails past
   * its retries, is recorded in the ledger and yields nothing (the next run retries the failures
   * only). Batches come in the order their pages arrive (several windows are in flight).
   */
  async *run(request: IngestRequest): AsyncGenerator<IngestBatch> {
    // A consumer that leaves early stops the driver at once: requests waiting for the pacer or in
    // flight are abandoned (cancelled at IB), not waited for.
    const left = new AbortController();
    const signal = request.signal ? AbortSignal.any([request.signal, left.signal]) : left.signal;
    const windowsFor = this.#requestWindows(request, await this.#watermarks(request));
    const instruments = this.#requested(request);
    await this.#connectOwned(signal);
    const handOff = new PageHandOff();
    let driving: Promise<DriveResult> | undefined;
    try {
      this.#unfinished = [];
      driving = this.#drive(
        { instruments, windowsFor, logRange: { request_start: request.start, request_end: request.end }, barSize: this.#barSize, series: this.#d.dataset?.series ?? null, signal },
        handOff,
      );
      // The consumer is told once the driver ends, whichever way.
      driving.then(
        () => handOff.close(),
        () => handOff.close(),
      );
      for (let page = await handOff.take(); page !== undefined; page = await handOff.take()) {
        const p = page;
        yield { batchId: p.batchId, events: p.events, series: p.series, label: p.label, acknowledge: () => handOff.acknowledge(p) };
      }
      const result = await driving;
      this.#unfinished = [...result.unfinished];
      if (result.stopped) throw result.stopped;
    } finally {
      // A consumer that left early (a failed write, a break) gives up the pages it did not acknowledge.
      handOff.abandon();
      left.abort(new PageAbandonedError());
      await driving?.catch(() => undefined);
      await this.#disconnectOwned();
    }
  }

  /** Windows (and instruments) the last `run` left unfinished: failed past their retries; the next run retries them. */
  unfinished(): readonly string[] {
    return [...this.#unfinished];
  }

  #newRunId(): string {
    return `run-${this.#d.clock.now()}-${Math.floor(Math.random() * 1e9).toString(36)}`;
  }

  /** Requests one window, retrying transient failures; a finished record or the bars to store. */
  async #fetchWindow(task: WindowTask, runId: string, signal?: AbortSignal): Promise<FetchOutcome> {
    const { client, rawStore, clock, config } = this.#d;
    const { inst, contract, window: w } = task;
    const batchId = backfillBatchId(inst.key, contract.conId, w, inst.what_to_show, inst.use_rth);
    const base: WindowRecordBase = {
      type: 'window',
      instrument: inst.key,
      con_id: contract.conId,
      bar_size: w.barSize,
      what_to_show: inst.what_to_show,
      use_rth: inst.use_rth,
      session_date: w.sessionDate,
      window_start: w.start,
      window_end: w.end,
      end_date_time: w.endDateTime,
      duration: w.durationStr,
      expected_bars: w.expectedBars,
      run_id: runId,
    };
    // A crash after the batch was committed but before its ledger line: the data is there.
    if (rawStore.hasBatch(batchId)) {
      return { record: { ...base, status: 'ok', bars: null, batch_id: batchId, attempts: task.priorAttempts, recorded_at: clock.now() } };
    }
    let attempts = task.priorAttempts;
    for (let tries = 1; ; tries++) {
      try {
        const res = await client.requestHistoricalBars(contract, w.start, w.end, w.barSize, inst.what_to_show, inst.use_rth, {
          symbol: inst.key,
          durationStr: w.durationStr,
          onSend: () => this.#requests.note(clock.now(), inst.what_to_show),
          ...(signal ? { signal } : {}),
        });
        attempts += res.attempts;
        if (res.noData || res.bars.length === 0) {
          return { record: { ...base, status: 'no-data', bars: 0, batch_id: null, attempts, recorded_at: clock.now() } };
        }
        if (res.bars.length !== w.expectedBars) {
          this.#log.warn({ instrument: inst.key, session_date: w.sessionDate, bars: res.bars.length, expected_bars: w.expectedBars }, 'window bar count differs from the calendar');
        }
        const calendar = this.#d.calendarFor(inst.key);
        const bars = w.barSize === '1 day' ? res.bars.map((b) => ({ ...b, ts: dailyBarStart(b.ts, contract.timeZone, calendar) })) : res.bars;
        return { base, bars, batchId, attempts };
      } catch (err) {
        if (signal?.aborted) throw signal.reason ?? err;
        if (err instanceof StorageWriteError) throw err;
        if (!(err instanceof IbPacingError)) attempts++;
        const retryable = err instanceof IbpipeError ? err.retryable : false;
        if (!retryable || tries >= config.max_window_attempts) {
          return {
            record: { ...base, status: statusOf(err), bars: null, batch_id: null, attempts, error: err instanceof Error ? err.message : String(err), recorded_at: clock.now() },
          };
        }
        this.#log.warn({ err, instrument: inst.key, session_date: w.sessionDate, tries }, 'backfill window failed; retrying');
        if (err instanceof IbConnectivityError) await client.waitUntilConnected(signal);
        else if (err instanceof IbCancelledError || err instanceof TimeoutError) await clock.sleep(backoffDelay(tries, RETRY_BACKOFF), signal);
      }
    }
  }

  /**
   * After a restart, IB still counts the previous process's requests against the 10-minute
   * window. Every request is noted in the request log as it goes out, so those are known exactly,
   * including pages that were fetched but not yet committed when the process died. A lake whose
   * backfills predate the log falls back to the ledger's recent windows plus an assumed full
   * pipeline (`backfill_concurrency` in flight and as many answered pages waiting), counted as sent now.
   */
  #preloadPacer(): void {
    const { client, clock, config } = this.#d;
    // Once per instance: every later request went through this same pacer.
    if (this.#preloaded) return;
    this.#preloaded = true;
    const windowMs = client.pacer.historical.windowMs;
    const now = clock.now();
    if (this.#requests.exists()) {
      const sent = this.#requests.recent(now, windowMs);
      if (sent.length > 0) {
        client.pacer.preload(sent);
        this.#log.info({ event: 'pacer_preloaded', recent: sent.length, in_flight_assumed: 0 }, 'counting the previous run against the pacing window');
      }
      return;
    }
    const recent = this.ledger.recentWindows(now, windowMs);
    if (recent.length === 0) return;
    const inFlight = Array.from({ length: config.backfill_concurrency * 3 }, () => ({ at: now, whatToShow: recent[0]?.what_to_show ?? 'TRADES' }));
    client.pacer.preload([...recent.map((r) => ({ at: r.recorded_at, whatToShow: r.what_to_show })), ...inFlight]);
    this.#log.info({ event: 'pacer_preloaded', recent: recent.length, in_flight_assumed: inFlight.length }, 'counting the previous run against the pacing window');
  }
}

/** Date of the oldest of the `n` newest sessions that closed by `now`. */
function completedSessionsBack(calendar: TradingCalendar, now: number, n: number): string {
  const today = calendar.sessionDateOf(now);
  let session = calendar.session(today) ?? calendar.previousSession(today);
  let found = 0;
  for (;;) {
    if (session.close <= now && ++found >= n) return session.date;
    session = calendar.previousSession(session.date);
  }
}
