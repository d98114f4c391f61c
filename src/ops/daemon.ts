import type { Settings } from '../config/settings.js';
import { getCalendar } from '../calendar/calendar-registry.js';
import { barSizeMs, frequencyMs } from '../core/bars.js';
import { SystemClock, type Clock, type TimerHandle } from '../core/clock.js';
import { createAppContext, type AppContext } from './app-context.js';
import { EventLoopMonitor } from './event-loop-monitor.js';
import { HttpServer, type RouteHandler } from './http-server.js';
import { JobLedger, type JobParams } from './job-ledger.js';
import { LiveChainTrigger, type LiveChainStream } from './live-chain-trigger.js';
import type { LiveGapReport, MarketDataFactory, MarketDataService } from './market-data.js';
import { liveDatasetTag, liveStreamKey } from '../data-sources/tws/live-ingest.js';
import { resolveBarDatasets } from '../pipelines/bar-datasets.js';
import type { Logger } from '../core/logger.js';
import { DaemonMetrics } from './metrics.js';
import { executeJob, parseJobKind } from './orchestrator-adapter.js';
import { Scheduler } from './scheduler.js';

export type { LiveGapReport, MarketDataEvent, MarketDataFactory, MarketDataService } from './market-data.js';

export interface DaemonOptions {
  settings: Readonly<Settings>;
  clock?: Clock;
  logger: Logger;
  /** Environment variables the configured sources read (database credentials); picked at the CLI edge. */
  sourceEnv?: Readonly<Record<string, string | undefined>>;
  /** Live data source; omitted means no live ingestion (jobs only). */
  market?: MarketDataFactory;
  /** Extra HTTP routes (the dashboard). */
  routes?: (daemon: Daemon) => Record<string, RouteHandler>;
  prefixRoutes?: (daemon: Daemon) => Record<string, RouteHandler>;
}

export interface HealthReport {
  status: 'ok' | 'degraded';
  connected: boolean | null;
  last_bar_age_s: Record<string, number | null>;
  /** Start of the last final bar received live per instrument (stored, or buffered until the next flush); empty without a live stream. */
  last_live_bar: Record<string, string | null>;
  /** Unrepaired live gaps per instrument; any makes the status degraded. */
  live_gaps: Record<string, LiveGapReport[]>;
  jobs: { job: string; last_status: string | null; last_started_at: string | null; next_run: string | null }[];
  event_loop_p99_ms: number;
}

/** Staleness beyond which the live feed counts as unhealthy while the market is open. */
const STALE_BAR_MS = 5 * 60_000;
const LAG_SAMPLE_MS = 5_000;

/**
 * The long-running service: one process holding the market-data connection, the in-process
 * scheduler, and the loopback HTTP endpoint. `stop()` is the graceful path for SIGTERM/SIGINT.
 */
export class Daemon {
  readonly app: AppContext;
  readonly metrics: DaemonMetrics;
  readonly ledger: JobLedger;
  readonly scheduler: Scheduler;
  readonly market: MarketDataService | null;
  /** The live chain's trigger, when a job has `on_live_bars` and live data is on. */
  readonly liveChain: LiveChainTrigger | null;
  readonly #loop = new EventLoopMonitor();
  readonly #unsubscribe: (() => void)[] = [];
  #http: HttpServer | null = null;
  #lagTimer: TimerHandle | undefined;
  #lastLagP99 = 0;
  readonly #pacingSeen = new Map<string, number>();
  #stopping: Promise<void> | null = null;

  private constructor(app: AppContext, options: DaemonOptions) {
    this.app = app;
    this.metrics = new DaemonMetrics();
    this.ledger = new JobLedger(app.lake, app.clock);
    const calendar = getCalendar(app.settings.time_series.trading_calendar, {
      extraClosures: app.settings.calendars.extra_closures[app.settings.time_series.trading_calendar] ?? [],
    });
    this.scheduler = new Scheduler({
      jobs: app.settings.jobs,
      clock: app.clock,
      ledger: this.ledger,
      logger: app.logger.child({ component: 'scheduler' }),
      calendar,
      execute: (job, params, trigger, attempt, scheduledFor, signal) =>
        executeJob(app, parseJobKind(job.job ?? job.name), params, { job: job.name, trigger, attempt, scheduledFor, signal, metrics: this.metrics, ledger: this.ledger }),
    });
    this.market = options.market ? options.market(app, this.metrics) : null;
    const liveJobs = app.settings.jobs.filter((j) => j.enabled && j.on_live_bars);
    this.liveChain =
      this.market && liveJobs.length > 0
        ? new LiveChainTrigger({
            clock: app.clock,
            calendars: app.calendars,
            symbols: app.settings.instruments.map((i) => i.key),
            barMs: barSizeMs(app.settings.tws.historical_bar_size),
            streams: liveChainStreams(app.settings),
            finalGraceMs: frequencyMs(app.settings.gaps.final_grace),
            maxWaitMs: app.settings.daemon.live_bars_max_wait_ms,
            logger: app.logger.child({ component: 'live-chain' }),
            fire: (params) => {
              // The job's own params (e.g. `{ dataset: bars_1min }`: the live chain curates the
              // streamed dataset only) apply to its live runs as to its scheduled ones.
              for (const job of liveJobs) {
                const merged = liveJobParams(parseJobKind(job.job ?? job.name), job.params as JobParams, params);
                if (merged) this.scheduler.trigger(job.name, merged, 'live');
              }
            },
          })
        : null;
    if (this.liveChain && this.market) {
      const chain = this.liveChain;
      // The chain's transform re-reads the day's raw rows every minute: keep them on the connection.
      app.rawStore.cacheRecentDates();
      // Subscribed before the market starts, so the start-up catch-up's holds are seen.
      this.#unsubscribe.push(app.rawStore.onCommit((info) => chain.onCommit(info)));
      const off = this.market.onEvent?.((e) => chain.onEvent(e));
      if (off) this.#unsubscribe.push(off);
    }
  }

  static async start(options: DaemonOptions): Promise<Daemon> {
    const clock = options.clock ?? new SystemClock();
    const app = await createAppContext(options.settings, { clock, logger: options.logger, ...(options.sourceEnv ? { sourceEnv: options.sourceEnv } : {}) });
    const daemon = new Daemon(app, options);
    const log = app.logger.child({ component: 'daemon' });
    try {
      // Temporary files left by a writer killed mid-write; those of writers still running stay.
      const sweep = app.rawStore.removeStaleFiles(clock.now());
      if (sweep.removed.length > 0) log.info({ removed: sweep.removed, kept: sweep.kept }, 'stale temporary files removed');
      const stored = daemon.liveChain ? await storedStreamTimes(app) : null;
      if (daemon.market) await daemon.market.start();
      await daemon.scheduler.start();
      if (daemon.liveChain && stored) daemon.liveChain.start(stored);
      const http = app.settings.http;
      if (http.enabled) {
        daemon.#http = await HttpServer.listen({
          host: http.host,
          port: http.port,
          logger: app.logger.child({ component: 'http' }),
          routes: {
            '/healthz': async () => {
              const h = daemon.health();
              return { status: h.status === 'ok' ? 200 : 503, type: 'application/json', body: JSON.stringify(h) };
            },
            '/metrics': async () => {
              daemon.#refreshGauges();
              return { status: 200, type: daemon.metrics.contentType, body: await daemon.metrics.text() };
            },
            ...(options.routes?.(daemon) ?? {}),
          },
          prefixRoutes: options.prefixRoutes?.(daemon) ?? {},
        });
      }
      daemon.#sampleLag();
      log.info({ http: daemon.#http?.url ?? null, jobs: app.settings.jobs.map((j) => j.name), instruments: app.settings.instruments.length }, 'daemon started');
      return daemon;
    } catch (err) {
      await daemon.stop().catch(() => undefined);
      throw err;
    }
  }

  /** Base URL of the HTTP endpoint, when enabled. */
  get url(): string | null {
    return this.#http?.url ?? null;
  }

  #sampleLag(): void {
    this.#lagTimer = this.app.clock.setTimeout(() => {
      const s = this.#loop.snapshot();
      this.#lastLagP99 = s.p99;
      this.metrics.eventLoopLag.set(s.p99 / 1000);
      this.#loop.reset();
      if (!this.#stopping) this.#sampleLag();
    }, LAG_SAMPLE_MS);
  }

  #refreshGauges(): void {
    this.metrics.connected.set(this.market?.isConnected() ? 1 : 0);
    const pacing = this.market?.pacing?.() as { waitsByRule?: Record<string, number> } | undefined;
    for (const [rule, total] of Object.entries(pacing?.waitsByRule ?? {})) {
      const seen = this.#pacingSeen.get(rule) ?? 0;
      if (total > seen) this.metrics.pacingWaits.labels(rule).inc(total - seen);
      this.#pacingSeen.set(rule, total);
    }
    const now = this.app.clock.now();
    const gaps = this.market?.liveGaps?.() ?? {};
    for (const [symbol, t] of Object.entries(this.market?.lastBarTimes() ?? {})) {
      if (t !== null) this.metrics.lastBarAge.labels(symbol).set((now - t) / 1000);
      const open = gaps[symbol] ?? [];
      this.metrics.liveOpenGaps.labels(symbol).set(open.length);
      this.metrics.liveGapMissingBars.labels(symbol).set(open.reduce((n, g) => n + g.missing_bars, 0));
    }
  }

  health(): HealthReport {
    const now = this.app.clock.now();
    const last = this.market?.lastBarTimes() ?? {};
    const ages: Record<string, number | null> = {};
    let stale = false;
    for (const [symbol, t] of Object.entries(last)) {
      ages[symbol] = t === null ? null : Math.round((now - t) / 1000);
      if (t !== null && now - t > STALE_BAR_MS && this.app.calendars.calendarFor(symbol).isOpen(now - STALE_BAR_MS)) stale = true;
    }
    const next = new Map(this.scheduler.nextRuns().map((n) => [n.job, n.next]));
    const jobs = this.app.settings.jobs.map((j) => {
      const r = this.ledger.lastRun(j.name);
      const n = next.get(j.name) ?? null;
      return {
        job: j.name,
        last_status: r?.status ?? null,
        last_started_at: r ? new Date(r.started_at).toISOString() : null,
        next_run: n === null ? null : new Date(n).toISOString(),
      };
    });
    const connected = this.market ? this.market.isConnected() : null;
    const gaps = this.market?.liveGaps?.() ?? {};
    const gapped = Object.values(gaps).some((g) => g.length > 0);
    return {
      status: connected === false || stale || gapped ? 'degraded' : 'ok',
      connected,
      last_bar_age_s: ages,
      last_live_bar: Object.fromEntries(Object.entries(this.market?.liveBarTimes?.() ?? {}).map(([s, t]) => [s, t === null ? null : new Date(t).toISOString()])),
      live_gaps: gaps,
      jobs,
      event_loop_p99_ms: Math.round(this.#lastLagP99 * 10) / 10,
    };
  }

  /**
   * Graceful stop: no new jobs, running jobs signalled and awaited, live bars flushed, HTTP and
   * DuckDB closed. Idempotent.
   */
  stop(): Promise<void> {
    if (!this.#stopping) {
      this.#stopping = (async () => {
        const log = this.app.logger.child({ component: 'daemon' });
        log.info('stopping');
        this.app.clock.clearTimeout(this.#lagTimer);
        this.liveChain?.stop();
        for (const off of this.#unsubscribe.splice(0)) off();
        await this.scheduler.stop();
        if (this.market) await this.market.stop();
        await this.#http?.close();
        this.#loop.stop();
        await this.app.close();
        log.info('stopped');
      })();
    }
    return this.#stopping;
  }
}

/** The live chain's streams: every intraday bar dataset times its instruments (daily ones are not streamed). */
function liveChainStreams(settings: Settings): LiveChainStream[] {
  const out: LiveChainStream[] = [];
  for (const ds of resolveBarDatasets(settings)) {
    if (ds.daily) continue;
    const tag = liveDatasetTag(ds, settings.tws.historical_bar_size);
    for (const i of settings.instruments) {
      if (ds.instruments && !ds.instruments.includes(i.key)) continue;
      out.push({ symbol: i.key, ...(tag === undefined ? {} : { tag }), dataset: ds.name, partition: ds.rawPartition, barMs: barSizeMs(ds.barSize) });
    }
  }
  return out;
}

/** Newest stored bar start per live stream (liveStreamKey), each from its own dataset's raw partition. */
async function storedStreamTimes(app: AppContext): Promise<Map<string, number | null>> {
  const out = new Map<string, number | null>();
  for (const ds of resolveBarDatasets(app.settings)) {
    if (ds.daily) continue;
    const tag = liveDatasetTag(ds, app.settings.tws.historical_bar_size);
    for (const [symbol, ts] of await app.rawStore.latestBarTimes(ds.barSize, 7, ds.series)) out.set(liveStreamKey(symbol, tag), ts);
  }
  return out;
}

/**
 * A live-chain job's params: the job's own, then the chain's (date, symbols). The chain's
 * `dataset` (the streamed datasets whose bars arrived) goes to transform jobs only, narrowed to
 * the job's own `dataset` when it has one; a transform none of whose datasets arrived is not run
 * (null).
 */
export function liveJobParams(kind: string, own: JobParams | undefined, chain: JobParams): JobParams | null {
  const { dataset, ...rest } = chain;
  const merged: JobParams = { ...(own ?? {}), ...rest };
  if (kind !== 'transform' || dataset === undefined) return merged;
  const arrived = (Array.isArray(dataset) ? dataset : [dataset]).map(String);
  const mine = own?.dataset;
  if (mine === undefined || mine === null) return { ...merged, dataset: arrived };
  const wanted = Array.isArray(mine) ? mine.map(String) : String(mine).split(',').map((n) => n.trim()).filter(Boolean);
  const both = wanted.filter((n) => arrived.includes(n));
  return both.length === 0 ? null : { ...merged, dataset: both };
}
