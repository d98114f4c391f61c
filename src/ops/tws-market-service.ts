import { createHash } from 'node:crypto';
import type { Session } from '../calendar/trading-calendar.js';
import { barSizeMs, rawPartitionToken, type BarSize } from '../core/bars.js';
import { backoffDelay, exponentialBackoff, retry } from '../core/retry.js';
import { sqlString } from '../core/sql.js';
import type { Instrument } from '../core/instruments.js';
import { planRange } from '../data-sources/tws/backfill-planner.js';
import { TwsClient } from '../data-sources/tws/tws-client.js';
import type { TwsIngestor } from '../data-sources/tws/tws-ingestor.js';
import { twsIngestorFor } from './tws-ingestor-for.js';
import { liveDatasetTag, liveStreamKey } from '../data-sources/tws/live-ingest.js';
import { resolveBarDatasets, type BarDataset } from '../pipelines/bar-datasets.js';
import type { AppContext } from './app-context.js';
import type { LiveStreamEvent } from '../data-sources/tws/live-bar-stream.js';
import type { LiveGapReport, MarketDataEvent, MarketDataFactory, MarketDataService } from './market-data.js';
import type { Logger } from '../core/logger.js';
import type { DaemonMetrics } from './metrics.js';

/** Waits between restarts of the connection, the live stream and catch-up rounds: 2 s doubling to 60 s. */
const RESTART_BACKOFF = exponentialBackoff(2_000, 60_000);

/**
 * The daemon's live data over TWS: connect (retrying until stopped), subscribe every
 * instrument's live bars, and catch up what was missed while down — completed sessions through
 * the resumable backfill, and the part of the current session before the live stream began
 * through paced historical requests written as idempotent raw batches.
 */
export class TwsMarketService implements MarketDataService {
  readonly #app: AppContext;
  readonly #metrics: DaemonMetrics;
  readonly #client: TwsClient;
  readonly #ingestor: TwsIngestor;
  readonly #log: Logger;
  readonly #abort = new AbortController();
  readonly #last = new Map<string, number | null>();
  #running: Promise<void> | null = null;
  #unsubscribe: (() => void) | null = null;
  readonly #listeners = new Set<(e: MarketDataEvent) => void>();

  constructor(app: AppContext, metrics: DaemonMetrics, client?: TwsClient) {
    this.#app = app;
    this.#metrics = metrics;
    this.#log = app.logger.child({ component: 'tws-market' });
    this.#client = client ?? TwsClient.fromConfig(app.settings.tws, { clock: app.clock, logger: app.logger });
    this.#ingestor = twsIngestorFor(app, this.#client);
    for (const i of app.settings.instruments) this.#last.set(i.key, null);
  }

  get client(): TwsClient {
    return this.#client;
  }

  async start(): Promise<void> {
    for (const [symbol, ts] of await this.#app.rawStore.latestBarTimes(this.#app.settings.tws.historical_bar_size)) {
      if (this.#last.has(symbol)) this.#last.set(symbol, ts);
    }
    const stored = new Map(this.#last);
    const classic = rawPartitionToken(this.#app.settings.tws.historical_bar_size, null);
    this.#unsubscribe = this.#app.rawStore.onCommit((info) => {
      // The last bar per instrument is the classic dataset's: another series' bars never stand in for it.
      if (info.partition === classic) for (const [symbol, ts] of info.lastTs) {
        if ((this.#last.get(symbol) ?? -Infinity) < ts) this.#last.set(symbol, ts);
      }
      this.#metrics.barsIngested.labels(info.source).inc(info.rows);
      this.#metrics.batchesWritten.labels(info.source).inc();
    });
    this.#client.onConnectivity((e) => {
      this.#metrics.connected.set(this.#client.isConnected() ? 1 : 0);
      this.#log.info({ event: e }, 'connectivity');
    });
    this.#running = this.#run(stored).catch((err: unknown) => {
      if (!this.#abort.signal.aborted) this.#log.error({ err }, 'market data service stopped unexpectedly');
    });
  }

  async #run(stored: ReadonlyMap<string, number | null>): Promise<void> {
    const signal = this.#abort.signal;
    // The gateway may be down or restarting when the daemon starts: keep trying until stopped
    // (each connect() already retries a few times with backoff).
    try {
      await retry(() => this.#client.connect(signal), {
        clock: this.#app.clock,
        signal,
        policy: RESTART_BACKOFF,
        retryable: () => true,
        onRetry: ({ error, attempt }) => this.#log.error({ err: error, attempt }, 'cannot connect to the gateway; retrying'),
      });
    } catch (err) {
      if (signal.aborted) return;
      throw err;
    }
    const instruments = this.#app.settings.instruments as readonly Instrument[];
    const startedAt = this.#app.clock.now();
    const live = this.#liveDatasets();
    // An open session whose stored bars before the live stream have a hole is incomplete until
    // caught up: per stream (dataset and instrument), so one series' hole holds that series only.
    for (const ds of live) {
      const tag = this.#tag(ds);
      for (const [symbol, from] of await this.#incompleteOpenSessions(instrumentsOf(instruments, ds), startedAt, ds)) {
        this.#emit({ type: 'catch-up', symbol, from, ...(tag === undefined ? {} : { dataset: tag }) });
      }
    }
    // The catch-up fetches the open session up to this boundary and each live stream answers for
    // every bar from it on: its subscription may reach the gateway bars later than `startedAt`
    // (a busy machine, a slow contract lookup), and what its first answer does not reach back to
    // is repaired by the stream rather than lost between the two.
    const liveFrom = new Map<string, number>();
    for (const ds of live) {
      for (const inst of instrumentsOf(instruments, ds)) {
        const b = this.#openSessionBoundary(inst, startedAt, ds.barSize);
        if (b) liveFrom.set(liveStreamKey(inst.key, this.#tag(ds)), b.to);
      }
    }
    await Promise.all([this.#live(instruments, liveFrom, live), this.#catchUp(instruments, stored, startedAt, live)]);
  }

  /** The intraday bar datasets, each streamed live (daily ones are backfilled after the close). */
  #liveDatasets(): BarDataset[] {
    return resolveBarDatasets(this.#app.settings).filter((d) => !d.daily);
  }

  #tag(ds: BarDataset): string | undefined {
    return liveDatasetTag(ds, this.#app.settings.tws.historical_bar_size);
  }

  /**
   * The open session at `liveFrom`, if any, and where its catch-up ends (exclusive): before the
   * bars the live stream's first answer brings (the last complete one and the current one).
   */
  #openSessionBoundary(inst: Instrument, liveFrom: number, barSize: BarSize): { session: Session; to: number } | undefined {
    const cal = this.#app.calendars.calendarFor(inst.key);
    const session = cal.sessionAt(liveFrom);
    if (!session) return undefined;
    const bar = barSizeMs(barSize);
    return { session, to: Math.max(session.open, session.open + (Math.floor((liveFrom - session.open) / bar) - 1) * bar) };
  }

  /**
   * Instruments in an open session at `liveFrom` whose committed bars of it miss some of the
   * calendar's grid before the bars the live stream's first answer brings (the last complete one
   * and the current one) — a fresh lake, downtime, a crash — with the session's open. On a failed
   * check every such instrument is listed.
   */
  async #incompleteOpenSessions(instruments: readonly Instrument[], liveFrom: number, ds: BarDataset): Promise<Map<string, number>> {
    const { calendars, lake, rawStore } = this.#app;
    const { barSize, series } = ds;
    const bar = barSizeMs(barSize);
    const wanted = new Map<string, { date: string; open: number; to: number; expected: number }>();
    for (const inst of instruments) {
      const cal = calendars.calendarFor(inst.key);
      const boundary = this.#openSessionBoundary(inst, liveFrom, barSize);
      if (!boundary) continue;
      const { session, to } = boundary;
      wanted.set(inst.key, { date: session.date, open: session.open, to, expected: cal.expectedBarStarts(session, bar).filter((t) => t < to).length });
    }
    const out = new Map([...wanted].map(([s, w]) => [s, w.open]));
    try {
      for (const date of new Set([...wanted.values()].map((w) => w.date))) {
        const mine = [...wanted].filter(([, w]) => w.date === date);
        const windows = mine.map(([s, w]) => `(${sqlString(s)}, ${w.open}, ${w.to})`).join(', ');
        // Distinct bars on the grid in [open, live start), per instrument.
        const counts = await lake.query<{ symbol: string; n: number }>(
          `SELECT r.symbol, count(DISTINCT epoch_ms(r.ts)) AS n
           FROM ${rawStore.relationSql({ start: date, end: date, barSize, series, symbols: mine.map(([s]) => s) })} AS r
           JOIN (VALUES ${windows}) AS w(symbol, open, upto) ON r.symbol = w.symbol
           WHERE epoch_ms(r.ts) >= w.open AND epoch_ms(r.ts) < w.upto AND (epoch_ms(r.ts) - w.open) % ${bar} = 0
           GROUP BY r.symbol`,
        );
        for (const c of counts) if (c.n >= (wanted.get(c.symbol)?.expected ?? Infinity)) out.delete(c.symbol);
      }
    } catch (err) {
      this.#log.warn({ err }, 'could not check the stored open session; every instrument waits for its catch-up');
    }
    return out;
  }

  /**
   * The live stream, restarted with backoff if it fails as a whole (e.g. a contract-details
   * timeout while subscribing): a failure here must neither crash the process nor end live
   * ingestion. Individual streams heal themselves inside runLiveStream.
   */
  async #live(instruments: readonly Instrument[], from: ReadonlyMap<string, number>, datasets: readonly BarDataset[]): Promise<void> {
    const signal = this.#abort.signal;
    await retry(
      async () => {
        const summary = await this.#ingestor.runLiveStream(instruments, { signal, from, datasets, onEvent: (e) => this.#onLiveEvent(e) });
        // What was flushed at shutdown: the next start's catch-up begins after these bars.
        const lastFinal = Object.fromEntries(Object.entries(summary.lastFinalTs).map(([k, t]) => [k, t === null ? null : new Date(t).toISOString()]));
        this.#log.info({ event: 'live_stopped', bars_written: summary.barsWritten, flush_failures: summary.flushFailures, last_final: lastFinal }, 'live stream stopped');
      },
      {
        clock: this.#app.clock,
        signal,
        policy: RESTART_BACKOFF,
        retryable: () => true,
        onRetry: ({ error, attempt }) => this.#log.error({ err: error, attempt }, 'live stream failed; restarting'),
      },
    ).catch((err: unknown) => {
      if (!signal.aborted) throw err;
    });
  }

  /**
   * Backfills what the live stream will not deliver. The open session is fetched first, from its
   * open to the live stream's start, whatever is already stored: a restart after a crash may
   * leave a hole anywhere in it, and overlapping bars cost nothing (idempotent batches, dedup in
   * curated). Completed sessions go through the resumable backfill, from the newest stored
   * session (or N sessions back on an empty lake); windows the ledger has done are skipped.
   * Failures are retried with backoff until the service stops.
   */
  async #catchUp(instruments: readonly Instrument[], stored: ReadonlyMap<string, number | null>, liveFrom: number, live: readonly BarDataset[]): Promise<void> {
    const { settings, calendars, clock, rawStore } = this.#app;
    const barSize = settings.tws.historical_bar_size;
    const signal = this.#abort.signal;
    const pending = new Set(instruments.map((i) => i.key));
    for (let attempt = 1; pending.size > 0 && !signal.aborted; attempt++) {
      for (const inst of instruments) {
        if (!pending.has(inst.key) || signal.aborted) continue;
        try {
          const cal = calendars.calendarFor(inst.key);
          // The open session of every streamed dataset of the instrument, each in its own partition.
          for (const ds of live.filter((d) => !d.instruments || d.instruments.includes(inst.key))) {
            const boundary = this.#openSessionBoundary(inst, liveFrom, ds.barSize);
            if (!boundary) continue;
            const tag = this.#tag(ds);
            const whatToShow = ds.series ?? inst.what_to_show;
            const { session, to } = boundary;
            const contract = await this.#client.resolveContract(inst, signal);
            for (const w of to > session.open ? planRange(cal, session.open, to, ds.barSize) : []) {
              const res = await this.#client.requestHistoricalBars(contract, w.start, w.end, ds.barSize, whatToShow, inst.use_rth, { symbol: inst.key, signal });
              if (res.bars.length === 0) continue;
              // The classic stream keeps its ids; another's names its partition.
              const idKey = `${inst.key}|${w.start}|${w.end}|${res.bars.length}|${res.bars.at(-1)?.close}${tag === undefined ? '' : `|${ds.rawPartition}`}`;
              const id = `catchup-${createHash('sha256').update(idKey).digest('hex').slice(0, 32)}`;
              await rawStore.writeTwsBars(res.bars, id, clock.now(), ds.series);
              this.#log.info({ instrument: inst.key, ...(tag === undefined ? {} : { dataset: tag }), from: new Date(w.start).toISOString(), to: new Date(w.end).toISOString(), bars: res.bars.length }, 'catch-up of the open session');
            }
            this.#emit({ type: 'caught-up', symbol: inst.key, ...(tag === undefined ? {} : { dataset: tag }) });
          }
          const last = stored.get(inst.key) ?? null;
          const today = cal.sessionDateOf(liveFrom);
          const firstDate = last !== null ? cal.sessionDateOf(last) : backSessions(cal, today, settings.daemon.catch_up_sessions);
          if (firstDate <= today) {
            const summary = await this.#ingestor.ingestHistoricalRange([inst], firstDate, today, { signal });
            this.#log.info({ instrument: inst.key, from: firstDate, to: today, windows: summary.windows, bars: summary.barsWritten, complete: summary.complete }, 'catch-up of completed sessions');
            if (!summary.complete) throw new Error(`backfill of ${inst.key} ${firstDate}..${today} incomplete`);
            // The other bar datasets (daily bars, a second what_to_show) are not streamed: their
            // completed sessions are backfilled here, each in its own raw partition.
            for (const ds of resolveBarDatasets(settings)) {
              if (ds.rawPartition === rawPartitionToken(barSize, null) || (ds.instruments && !ds.instruments.includes(inst.key))) continue;
              const more = await this.#ingestor.ingestHistoricalRange([inst], firstDate, today, { signal, dataset: ds });
              this.#log.info({ instrument: inst.key, dataset: ds.name, from: firstDate, to: today, windows: more.windows, bars: more.barsWritten, complete: more.complete }, 'catch-up of completed sessions');
              if (!more.complete) throw new Error(`backfill of ${ds.name} ${inst.key} ${firstDate}..${today} incomplete`);
            }
          }
          pending.delete(inst.key);
        } catch (err) {
          if (signal.aborted) return;
          this.#log.warn({ err, instrument: inst.key, attempt }, 'catch-up failed; retrying');
        }
      }
      if (pending.size > 0) await clock.sleep(backoffDelay(attempt, RESTART_BACKOFF), signal).catch(() => undefined);
    }
  }

  #onLiveEvent(e: LiveStreamEvent): void {
    this.#log.info({ live: e }, 'live stream event');
    if (e.type === 'gap-repaired') this.#metrics.liveGapRepairs.labels(e.symbol, 'repaired').inc();
    else if (e.type === 'repair-failed' && e.final) this.#metrics.liveGapRepairs.labels(e.symbol, 'failed').inc();
    this.#emit(e);
  }

  liveGaps(): Record<string, LiveGapReport[]> {
    const iso = (t: number): string => new Date(t).toISOString();
    const out: Record<string, LiveGapReport[]> = {};
    for (const [symbol, gaps] of Object.entries(this.#ingestor.liveGaps())) {
      out[symbol] = gaps.map((g) => ({
        from: iso(g.from),
        to: g.to === null ? null : iso(g.to),
        state: g.state,
        missing_bars: g.missingBars,
        reason: g.reason,
        since: iso(g.since),
        attempts: g.attempts,
        ...(g.error === undefined ? {} : { error: g.error }),
      }));
    }
    return out;
  }

  async stop(): Promise<void> {
    this.#abort.abort(new Error('daemon stopping'));
    await this.#running;
    this.#unsubscribe?.();
    await this.#client.disconnect();
  }

  liveBarTimes(): Record<string, number | null> {
    return this.#ingestor.liveLastFinal();
  }

  isConnected(): boolean {
    return this.#client.isConnected();
  }

  lastBarTimes(): Record<string, number | null> {
    return Object.fromEntries(this.#last);
  }

  pacing(): Record<string, unknown> {
    return { ...this.#client.pacer.metrics() };
  }

  onEvent(listener: (e: MarketDataEvent) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  #emit(e: MarketDataEvent): void {
    for (const l of this.#listeners) {
      try {
        l(e);
      } catch (err) {
        this.#log.error({ err }, 'market data event listener failed');
      }
    }
  }
}

/** The instruments of a bar dataset. */
function instrumentsOf(instruments: readonly Instrument[], ds: Pick<BarDataset, 'instruments'>): Instrument[] {
  return instruments.filter((i) => !ds.instruments || ds.instruments.includes(i.key));
}

function backSessions(cal: { previousSession(date: string): { date: string } }, today: string, n: number): string {
  let d = today;
  for (let i = 0; i < n; i++) d = cal.previousSession(d).date;
  return d;
}

/** Factory for Daemon.start: live data over the configured TWS / IB Gateway connection. */
export function twsMarketFactory(): MarketDataFactory {
  return (app, metrics) => new TwsMarketService(app, metrics);
}
