import { resolve } from 'node:path';
import { getCalendar } from '../calendar/calendar-registry.js';
import { loadSettings, parseSettings, type Settings } from '../config/settings.js';
import { ScaledClock, type Clock } from '../core/clock.js';
import type { Instrument } from '../core/instruments.js';
import { TwsClient } from '../data-sources/tws/tws-client.js';
import { twsIngestorFor } from './tws-ingestor-for.js';
import { startSimGateway, type SimGateway } from '../sim/sim-server.js';
import { createAppContext, type AppContext } from './app-context.js';
import { Daemon } from './daemon.js';
import type { JobParams } from './job-ledger.js';
import type { Logger } from '../core/logger.js';
import { executeJob } from './orchestrator-adapter.js';
import { jobDefinition } from './job-table.js';
import type { JobKind } from './ops-config.js';
import { TwsMarketService } from './tws-market-service.js';
import { trainModelOnDataset } from '../scoring/models/dataset-trainer.js';
import { dashboardRouteTable } from './dashboard/dashboard-routes.js';

/** The embedded default's config file, shipped with the package. */
export const DEMO_CONFIG = resolve(import.meta.dirname, '../../config/demo.yaml');
/** A fixed simulated "now" (Wednesday 2024-12-04, 11:00 New York) so every demo run is reproducible. */
export const DEMO_NOW = Date.parse('2024-12-04T16:00:00Z');

export interface DemoOptions {
  /** Lake folder; default the config's (`./data/demo` in the package). */
  lake?: string;
  /** Completed sessions to backfill before "now". */
  sessions?: number;
  /** Speed of the simulated clock (virtual seconds per real second). */
  speed?: number;
  now?: number;
  logger: Logger;
  /** Stop after the batch part. */
  once: boolean;
  /** Resolves when the live part should stop (Ctrl-C). */
  until?: Promise<unknown>;
  /** Where the summary goes (stdout by default). */
  out?: (text: string) => void;
}

export interface StageResult {
  stage: string;
  date?: string;
  status: 'ok' | 'failed' | 'skipped';
  counts: Record<string, number>;
  detail?: string;
}

export interface DemoSummary {
  lake: string;
  simulated: true;
  sessions: string[];
  stages: StageResult[];
  barsPerSymbol: Record<string, number>;
  dashboard: string | null;
}

function demoSettings(options: DemoOptions, simPort: number): Readonly<Settings> {
  const base = loadSettings(DEMO_CONFIG).settings;
  const raw = JSON.parse(JSON.stringify(base)) as Record<string, unknown> & { lake: { root: string }; tws: Record<string, unknown>; http: Record<string, unknown> };
  if (options.lake) raw.lake.root = resolve(options.lake);
  // The demo trains its local models itself, into the lake it runs on.
  for (const m of (raw['models'] as { kind: string; name: string; path?: string }[] | undefined) ?? []) {
    if (m.kind === 'local') m.path = resolve(raw.lake.root, 'models', m.name, 'latest.json');
  }
  raw.tws.port = simPort;
  raw.tws.host = '127.0.0.1';
  // The sim's pacing windows are scaled by the same factor, so the client paces exactly as for a real gateway.
  raw.tws.pacing_time_scale = 0.01;
  raw.tws.pacing_safety_margin_ms = 5;
  return parseSettings(raw, DEMO_CONFIG);
}

/**
 * `ibpipe demo` / `npm start`: the simulated gateway plus the whole pipeline on a small
 * universe, then the daemon live on an accelerated clock. Everything here is SIMULATED DATA.
 */
export async function runDemo(options: DemoOptions): Promise<DemoSummary> {
  const out = options.out ?? ((t: string) => process.stdout.write(t));
  const now0 = options.now ?? DEMO_NOW;
  const clock: Clock = new ScaledClock(now0, options.speed ?? 60);
  const log = options.logger.child({ component: 'demo' });
  const sim: SimGateway = await startSimGateway({
    port: 0,
    clock,
    pacingTimeScale: 0.01,
    logger: options.logger.child({ component: 'sim' }),
    // A few corrupted bars so the data-quality rules have something real to catch.
    faults: { badBars: { rate: 0.001, kinds: ['negative_price', 'high_below_low', 'negative_volume', 'nan_price'], seed: 11 } },
  });
  const settings = demoSettings(options, sim.port);
  out(`ibpipe demo — SIMULATED DATA from the built-in IB Gateway simulator (port ${sim.port}); lake: ${settings.lake.root}\n`);
  const app = await createAppContext(settings, { clock, logger: options.logger });
  const stages: StageResult[] = [];
  let sessions: string[] = [];
  let daemon: Daemon | null = null;
  try {
    sessions = await backfill(app, options.sessions ?? 3, stages, log);
    await pipeline(app, sessions, stages);
    const barsPerSymbol = await countBars(app, sessions);
    const summary: DemoSummary = { lake: settings.lake.root, simulated: true, sessions, stages, barsPerSymbol, dashboard: null };
    await app.close();
    if (!options.once) {
      const start = (cfg: Readonly<Settings>): Promise<Daemon> =>
        Daemon.start({
          settings: cfg,
          clock,
          logger: options.logger,
          market: (a, m) => new TwsMarketService(a, m),
          prefixRoutes: (d) => dashboardRouteTable({ app: d.app, daemon: d }),
        });
      try {
        daemon = await start(settings);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EADDRINUSE') throw err;
        // Port 9464 taken (another ibpipe?): the demo takes any free port instead.
        daemon = await start(parseSettings({ ...JSON.parse(JSON.stringify(settings)), http: { ...settings.http, port: 0 } }, DEMO_CONFIG));
      }
      summary.dashboard = daemon.url;
      out(printSummary(summary));
      out(`\nLive on the simulated clock (${options.speed ?? 60}x): dashboard ${daemon.url ?? '(http disabled)'}/dashboard, health /healthz, metrics /metrics — Ctrl-C to stop.\n`);
      await (options.until ?? new Promise(() => undefined));
    } else {
      out(printSummary(summary));
    }
    return summary;
  } finally {
    if (daemon) await daemon.stop();
    else await app.close().catch(() => undefined);
    await sim.close();
  }
}

async function backfill(app: AppContext, n: number, stages: StageResult[], log: Logger): Promise<string[]> {
  const cal = getCalendar(app.settings.time_series.trading_calendar);
  const today = cal.sessionDateOf(app.clock.now());
  const dates: string[] = [];
  let d = today;
  for (let i = 0; i < n; i++) {
    d = cal.previousSession(d).date;
    dates.unshift(d);
  }
  const client = TwsClient.fromConfig(app.settings.tws, { clock: app.clock, logger: app.logger });
  await client.connect();
  try {
    const ingestor = twsIngestorFor(app, client);
    const summary = await ingestor.ingestHistoricalRange(app.settings.instruments as readonly Instrument[], dates[0] as string, dates[dates.length - 1] as string);
    stages.push({
      stage: 'backfill',
      status: summary.complete ? 'ok' : 'failed',
      counts: { windows: summary.windows, skipped_done: summary.skipped, bars: summary.barsWritten, batches: summary.batchesWritten },
    });
    log.info({ summary }, 'backfill done');
  } finally {
    await client.disconnect();
  }
  return dates;
}

async function runStage(app: AppContext, stages: StageResult[], kind: JobKind, params: JobParams, label: string = kind): Promise<unknown> {
  if (!jobDefinition(kind)) {
    stages.push({ stage: label, status: 'skipped', counts: {}, detail: 'not available in this build' });
    return null;
  }
  const run = await executeJob(app, kind, params, { trigger: 'manual' });
  const err = run.error as { message?: string } | null;
  stages.push({
    stage: label,
    ...(params.date ? { date: params.date } : {}),
    status: run.record.status === 'ok' ? 'ok' : 'failed',
    counts: run.record.counts,
    ...(err ? { detail: err.message ?? String(err) } : {}),
  });
  return run.record.status === 'ok' ? (run.outcome?.summary ?? {}) : null;
}

async function pipeline(app: AppContext, sessions: string[], stages: StageResult[]): Promise<void> {
  for (const date of sessions) await runStage(app, stages, 'transform', { date });
  const first = sessions[0] as string;
  const last = sessions[sessions.length - 1] as string;
  for (const group of app.settings.feature_groups as readonly { name: string; version: string }[]) {
    await runStage(app, stages, 'features', { start: first, end: last, group: group.name, version: group.version }, `features ${group.name}`);
  }
  const built: { id: string; name: string }[] = [];
  for (const ds of app.settings.datasets) {
    const handle = (await runStage(app, stages, 'dataset', { name: ds.name, start: first, end: last }, `dataset ${ds.name}`)) as { id?: string } | null;
    if (handle?.id) built.push({ id: handle.id, name: ds.name });
  }
  // Local models whose file the demo itself trains (models/<name>/latest.json in the lake).
  for (const model of app.settings.models) {
    const ds = built[0];
    if (model.kind !== 'local' || !ds) continue;
    try {
      const res = await trainModelOnDataset(app.lake, { datasetId: ds.id, datasetName: ds.name, modelName: model.name });
      const test = res.metrics.test ?? res.metrics.all;
      stages.push({ stage: `train ${model.name}`, status: 'ok', counts: { features: res.features.length, rows: res.metrics.train?.rows ?? res.metrics.all?.rows ?? 0 }, detail: `version ${res.version}${test?.correlation != null ? `, test correlation ${test.correlation.toFixed(3)}` : ''}` });
    } catch (err) {
      stages.push({ stage: `train ${model.name}`, status: 'failed', counts: {}, detail: (err as Error).message });
    }
  }
  await runStage(app, stages, 'score', { date: last }, 'score');
}

async function countBars(app: AppContext, sessions: string[]): Promise<Record<string, number>> {
  const first = sessions[0] as string;
  const last = sessions[sessions.length - 1] as string;
  const rows = await app.lake.query<{ symbol: string; n: number }>(
    `SELECT symbol, count(*) AS n FROM ${app.rawStore.relationSql({ start: first, end: last, dedup: true })} GROUP BY symbol ORDER BY symbol`,
  );
  return Object.fromEntries(rows.map((r) => [r.symbol, r.n]));
}

export function printSummary(s: DemoSummary): string {
  const lines = [`\n== ibpipe demo summary (SIMULATED DATA) ==`, `lake: ${s.lake}`, `sessions: ${s.sessions.join(', ')}`, '', 'bars per symbol (raw, after dedup):'];
  for (const [sym, n] of Object.entries(s.barsPerSymbol)) lines.push(`  ${sym.padEnd(12)} ${n}`);
  lines.push('', 'stages:');
  for (const st of s.stages) {
    const counts = Object.entries(st.counts).map(([k, v]) => `${k}=${v}`).join(' ');
    lines.push(`  ${st.status.padEnd(7)} ${st.stage}${st.date ? ` ${st.date}` : ''}  ${counts}${st.detail ? `  (${st.detail})` : ''}`);
  }
  return `${lines.join('\n')}\n`;
}
