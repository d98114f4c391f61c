// Benchmark: live-score latency, bar close → prediction stored, with the daemon's live chain
// (transform → features → score triggered when the bars of an interval are committed) for 500
// instruments live against the simulated gateway (in its own process), in the middle of a
// session (a previous session curated for the features' lookback, the morning caught up at start).
// No lower bound: the target is p95 < 10 s at real speed.
// Run: npx tsx bench/live-latency.ts [--size quick|full]
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { parseSettings } from '../src/config/settings.js';
import { ScaledClock } from '../src/core/clock.js';
import { TwsClient } from '../src/data-sources/tws/tws-client.js';
import { planRange } from '../src/data-sources/tws/backfill-planner.js';
import { TwsIngestor } from '../src/data-sources/tws/tws-ingestor.js';
import { createAppContext } from '../src/ops/app-context.js';
import { Daemon } from '../src/ops/daemon.js';
import { createLogger } from '../src/ops/logging-setup.js';
import { executeJob } from '../src/ops/orchestrator-adapter.js';
import { twsMarketFactory } from '../src/ops/tws-market-service.js';
import { PredictionStore, type PredictionRow } from '../src/storage/prediction-store.js';
import { benchMain, percentile, progress, round, RssSampler, type BenchResult } from './support/bench-harness.js';
import { benchSessions, benchSymbols, configInstruments } from './support/synthetic-market.js';
import { startSimProcess } from './support/sim-process.js';
import { TECHNICAL } from './support/technical-group.js';
import { openBenchLake } from './support/temp-lake.js';

const MIN = 60_000;
const PACING_TIME_SCALE = 0.001;
/** Bar closes measured after the first full chain. */
const BARS = 3;
/** How long after the last measured close a score still counts (later: not scored). */
const MAX_LAG = 10 * MIN;
/** Where in the session the clock starts: 12:44 New York, 194 bars into it. */
const START_AFTER_OPEN = 194 * MIN;

class NullSink extends Writable {
  override _write(_chunk: Buffer, _enc: string, cb: () => void): void {
    cb();
  }
}

async function waitFor(what: string, timeoutMs: number, check: () => boolean): Promise<void> {
  const until = performance.now() + timeoutMs;
  while (!check()) {
    if (performance.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

benchMain(async ({ size }) => {
  const nSymbols = Number(process.env.BENCH_LATENCY_SYMBOLS ?? (size === 'full' ? 500 : 50));
  // Real time at full size; the quick run goes 4x (its bar-close → commit part shrinks with it).
  const speed = Number(process.env.BENCH_LATENCY_SPEED ?? (size === 'full' ? 1 : 4));
  const symbols = benchSymbols(nSymbols);
  const [prev, today] = benchSessions(2);
  if (!prev || !today) throw new Error('no sessions');
  const start = today.open + START_AFTER_OPEN;
  const realStart = Date.now();
  const clock = new ScaledClock(start, speed, realStart);
  const wallOf = (instant: number): number => realStart + (instant - start) / speed;
  const sim = await startSimProcess({ symbols: nSymbols, pacingTimeScale: PACING_TIME_SCALE, clock: { start, speed, realStart } });
  const bl = await openBenchLake();
  const sink = new NullSink();
  let daemon: Daemon | undefined;
  const writePredictions = PredictionStore.prototype.writePredictions;
  try {
    writeFileSync(
      join(bl.dir, 'model.json'),
      JSON.stringify({
        format: 'ibpipe-linear-model',
        format_version: 1,
        id: 'bench',
        version: '1',
        kind: 'linear',
        feature_names: ['rsi_14', 'macd_hist', 'vol_20'],
        means: [50, 0, 0.001],
        stds: [10, 0.1, 0.001],
        coefficients: [0.01, 0.5, 0.1],
        intercept: 0,
      }),
    );
    const settings = parseSettings({
      lake: { root: bl.dir },
      tws: { host: '127.0.0.1', port: sim.port, client_id: 17, pacing_time_scale: PACING_TIME_SCALE, request_timeout_ms: 600_000, connect_timeout_ms: 600_000 },
      instruments: configInstruments(symbols),
      feature_groups: [TECHNICAL],
      models: [{ name: 'bench', kind: 'local', path: join(bl.dir, 'model.json'), feature_group: 'technical', feature_version: 'v1' }],
      jobs: [
        { name: 'transform', on_live_bars: true },
        { name: 'features', after: ['transform'], params: { group: 'technical', version: 'v1' } },
        { name: 'score', after: ['features'], params: { latest: true } },
      ],
      http: { enabled: false },
      daemon: { catch_up_sessions: 0 },
      logging: { level: 'info', format: 'json' },
    });
    const logger = createLogger({ level: 'info', format: 'json', destination: process.env.BENCH_DEBUG ? process.stderr : sink });
    await bl.lake.close();

    // The previous session backfilled and curated (the features' lookback), then this morning
    // backfilled right before the daemon starts, as a daemon restarted mid-session finds its lake.
    const t0 = performance.now();
    const app = await createAppContext(settings, { clock, logger });
    const client = TwsClient.fromConfig(settings.tws, { clock, logger });
    await client.connect();
    try {
      const ingestor = new TwsIngestor({ client, rawStore: app.rawStore, stateDir: app.lake.path('state'), calendarFor: (s) => app.calendars.calendarFor(s), clock, config: settings.tws, logger });
      await ingestor.ingestHistoricalRange(configInstruments(symbols), prev.date, prev.date);
      const transformed = await executeJob(app, 'transform', { date: prev.date });
      if (transformed.record.status !== 'ok') throw new Error(`transform of ${prev.date} failed`);
      // The open session so far, one request per instrument (what the daemon's catch-up asks).
      const cal = app.calendars.calendarFor(symbols[0] as string);
      for (const inst of configInstruments(symbols)) {
        const to = Math.floor(clock.now() / MIN) * MIN;
        const contract = await client.resolveContract(inst);
        for (const w of planRange(cal, today.open, to, '1 min')) {
          const res = await client.requestHistoricalBars(contract, w.start, w.end, '1 min', inst.what_to_show, inst.use_rth, { symbol: inst.key });
          await app.rawStore.writeTwsBars(res.bars, `morning-${inst.key}-${w.end}`, clock.now());
        }
      }
    } finally {
      await client.disconnect();
    }
    await app.close();
    progress(`live-latency: ${prev.date} backfilled and curated, ${today.date} backfilled in ${((performance.now() - t0) / 1000).toFixed(1)} s (virtual ${new Date(clock.now()).toISOString()})`);

    // Every stored prediction, stamped when its write returned; every instrument's first commit of each bar.
    const stored = new Map<string, number>();
    PredictionStore.prototype.writePredictions = async function (this: PredictionStore, model: string, date: string, rows: readonly PredictionRow[]) {
      const n = await writePredictions.call(this, model, date, rows);
      const now = Date.now();
      for (const r of rows) if (r.status === 'ok' && !stored.has(`${r.symbol}|${r.ts}`)) stored.set(`${r.symbol}|${r.ts}`, now);
      return n;
    };
    daemon = await Daemon.start({ settings, clock, logger, market: twsMarketFactory() });
    if (process.env.BENCH_DEBUG) daemon.market?.onEvent?.((e) => progress(`event ${JSON.stringify(e)} at ${new Date(clock.now()).toISOString()}`));
    const committed = new Map<string, number>();
    daemon.app.rawStore.onCommit((info) => {
      const now = Date.now();
      for (const [s, ts] of info.lastTs) if (!committed.has(`${s}|${ts}`)) committed.set(`${s}|${ts}`, now);
    });
    const rss = new RssSampler().start(100);
    // Warm-up: every instrument scored once (an instrument whose morning has a hole is held until caught up).
    const scoredSymbols = (): number => new Set([...stored.keys()].map((k) => k.split('|')[0])).size;
    const ticker = setInterval(() => progress(`live-latency: warming up, ${scoredSymbols()}/${nSymbols} instruments scored (virtual ${new Date(clock.now()).toISOString()})`), 30_000);
    await waitFor('the first live scores', 900_000, () => scoredSymbols() === nSymbols).finally(() => clearInterval(ticker));
    const warm = (performance.now() - t0) / 1000;
    progress(`live-latency: first live scores after ${warm.toFixed(1)} s (virtual ${new Date(clock.now()).toISOString()})`);
    const from = Math.ceil((clock.now() + 1) / MIN) * MIN;
    const closes = Array.from({ length: BARS }, (_, i) => from + (i + 1) * MIN);
    const last = closes[closes.length - 1] as number;
    // A chain slower than the bar interval falls behind (its runs coalesce): give it time to catch up.
    await waitFor('the measured bars', 600_000 + ((last + MAX_LAG - clock.now()) / speed) * 2, () => clock.now() > last + MAX_LAG || symbols.every((s) => stored.has(`${s}|${last}`)));
    const peak = rss.stop();

    const latency: number[] = [];
    const ingest: number[] = [];
    const chain: number[] = [];
    let missing = 0;
    for (const close of closes) {
      for (const s of symbols) {
        const at = stored.get(`${s}|${close}`);
        const commit = committed.get(`${s}|${close - MIN}`);
        if (at === undefined) {
          missing++;
          continue;
        }
        latency.push((at - wallOf(close)) / 1000);
        if (commit !== undefined) {
          ingest.push((commit - wallOf(close)) / 1000);
          chain.push((at - commit) / 1000);
        }
      }
    }
    const p = (xs: number[], q: number): number | null => round(percentile(xs, q));
    // Where the chain's time goes: each job's runs during the measured bars (durations on the clock, ÷ speed = wall).
    const runs = daemon.ledger.runs().filter((r) => r.status === 'ok' && r.started_at >= from && r.duration_ms !== null);
    const stage = (job: string): number | null => p(runs.filter((r) => r.job === job).map((r) => (r.duration_ms as number) / speed / 1000), 50);
    for (const close of closes) {
      const xs = symbols.map((s) => stored.get(`${s}|${close}`)).filter((x): x is number => x !== undefined).map((x) => (x - wallOf(close)) / 1000);
      progress(`live-latency: bar closing ${new Date(close).toISOString()}: ${xs.length}/${nSymbols} scored, latency p50 ${p(xs, 50)} s, max ${p(xs, 100)} s`);
    }
    const p95 = percentile(latency, 95);
    const result: BenchResult = {
      name: 'live-latency',
      rows: nSymbols,
      rows_per_s: null,
      bound_rows_per_s: null,
      ratio: null,
      peak_rss_mb: round(peak) ?? 0,
      target: 'p95 < 10 s (bar close → prediction stored)',
      met: missing === 0 && p95 < 10,
      notes:
        `${nSymbols} instruments live on a ${speed}x clock from 12:44 New York (194 bars into the session, the previous session curated for lookback; the technical group, 16 columns), ` +
        `${BARS} bar closes x ${nSymbols} instruments: latency p50 ${p(latency, 50)} s, p95 ${p(latency, 95)} s, max ${p(latency, 100)} s` +
        `${missing > 0 ? `, ${missing} not scored` : ''}; bar close → bars committed p50 ${p(ingest, 50)} s, p95 ${p(ingest, 95)} s (a bar is final at the next bar's first update, which the sim sends 5 virtual s after the close; the minute is committed when its last bar is final), ` +
        `committed → prediction stored p50 ${p(chain, 50)} s, p95 ${p(chain, 95)} s (per run, p50: transform ${stage('transform')} s, features ${stage('features')} s, score ${stage('score')} s)`,
      seconds: round(percentile(latency, 50)),
      metrics: {
        latency_p50_s: p(latency, 50),
        latency_p95_s: p(latency, 95),
        latency_max_s: p(latency, 100),
        close_to_commit_p50_s: p(ingest, 50),
        close_to_commit_p95_s: p(ingest, 95),
        commit_to_stored_p50_s: p(chain, 50),
        commit_to_stored_p95_s: p(chain, 95),
        transform_p50_s: stage('transform'),
        features_p50_s: stage('features'),
        score_p50_s: stage('score'),
        not_scored: missing,
        speed,
        warm_up_s: round(warm),
      },
    };
    return [result];
  } finally {
    PredictionStore.prototype.writePredictions = writePredictions;
    await daemon?.stop();
    await sim.close();
    if (process.env.BENCH_KEEP) progress(`lake kept at ${bl.dir}`);
    else await bl.dispose().catch(() => undefined);
  }
});
