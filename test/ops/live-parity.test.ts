import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseSettings, type Settings } from '../../src/config/settings.js';
import { ManualClock } from '../../src/core/clock.js';
import { createIbApi, type IbApiFactory } from '../../src/data-sources/tws/ib-api-port.js';
import { TwsClient } from '../../src/data-sources/tws/tws-client.js';
import { createAppContext } from '../../src/ops/app-context.js';
import { Daemon, type MarketDataEvent } from '../../src/ops/daemon.js';
import { LiveChainTrigger } from '../../src/ops/live-chain-trigger.js';
import type { JobRunRecord } from '../../src/ops/job-ledger.js';
import { createLogger } from '../../src/ops/logging-setup.js';
import { executeJob } from '../../src/ops/orchestrator-adapter.js';
import { TwsMarketService } from '../../src/ops/tws-market-service.js';
import { runBatchScoring } from '../../src/scoring/batch-scoring.js';
import { startSimGateway, type SimGateway } from '../../src/sim/sim-server.js';
import { FeatureStore, type FeaturePartitionsWrite } from '../../src/storage/feature-store.js';
import { PredictionStore, type PredictionRow } from '../../src/storage/prediction-store.js';
import { Lake } from '../../src/storage/lake.js';
import { RawStore } from '../../src/storage/raw-store.js';

/**
 * Live equals batch (issue 15), end to end: the daemon (TwsMarketService + the live chain
 * transform → features → score) against the simulated gateway over real sockets, on a manual
 * clock driven in 20-s steps from 15:00 to 16:12 New York (the session's last hour, then its
 * final run), so nothing waits on wall-clock windows.
 * Faults: the socket dropped at 15:20 (the client reconnects and resubscribes), IB's link lost
 * for 3 minutes at 15:24 (1100, then 1101: the stream resubscribes and repairs the gap) and 75 s of
 * latency from 15:35 to 15:40 (updates arrive after the finalize grace: bars are stored, then
 * corrected). Every version of every feature row the daemon published is compared with a batch
 * transform + features run over the final raw data, and every stored score with batch scoring.
 */

const MIN = 60_000;
const T0 = Date.parse('2024-12-04T20:00:00Z'); // Wednesday 15:00 New York (EST)
const CLOSE = Date.parse('2024-12-04T21:00:00Z');
const END = CLOSE + 12 * MIN; // past the final run at the close + gaps.final_grace (10 min)
const DROP_AT = Date.parse('2024-12-04T20:20:00Z');
const OUTAGE_AT = Date.parse('2024-12-04T20:24:00Z');
const LATE_FROM = Date.parse('2024-12-04T20:35:00Z');
const LATE_TO = Date.parse('2024-12-04T20:40:00Z');
const LATENCY_MS = 75_000;
/** Shorter than the finalize grace (30 s) minus the sim's 5-s update cadence: see settle(). */
const STEP = 20_000;
const DATE = '2024-12-04';
const INSTRUMENTS = [
  { key: 'AAPL', primary_exchange: 'NASDAQ' },
  { key: 'MSFT', primary_exchange: 'NASDAQ' },
  { key: 'SPY', primary_exchange: 'ARCA' },
];
const FEATURES = ['sma_5', 'rsi_14', 'macd', 'macd_signal', 'macd_hist', 'close_lag_1'];

let dir: string;
let sim: SimGateway;
let clock: ManualClock;

function settingsFor(lakeRoot: string, port: number): Readonly<Settings> {
  return parseSettings(
    {
      lake: { root: lakeRoot },
      tws: {
        port,
        client_id: 31,
        pacing_time_scale: 0.01,
        pacing_safety_margin_ms: 5,
        live: { flush_interval_ms: 5_000, finalize_grace_ms: 30_000, silence_timeout_ms: 180_000 },
      },
      instruments: INSTRUMENTS.map((i) => ({ key: i.key, sec_type: 'STK', symbol: i.key, exchange: 'SMART', primary_exchange: i.primary_exchange, currency: 'USD', calendar: 'XNYS' })),
      feature_groups: [
        {
          name: 'tech',
          version: 'v1',
          source: 'bars_1min',
          ttl: '5m',
          features: [
            { name: 'sma_5', fn: 'sma', column: 'close', window: 5 },
            { name: 'rsi_14', fn: 'rsi', column: 'close', window: 14 },
            { name: 'macd', fn: 'macd', column: 'close', fast: 12, slow: 26, signal: 9 },
            { name: 'close_lag', fn: 'lag', column: 'close', periods: [1] },
          ],
        },
      ],
      models: [{ name: 'lin', kind: 'local', path: join(dir, 'model.json'), feature_group: 'tech', feature_version: 'v1' }],
      jobs: [
        { name: 'transform', on_live_bars: true },
        { name: 'features', after: ['transform'], params: { group: 'tech', version: 'v1' } },
        { name: 'score', after: ['features'], params: { latest: true } },
      ],
      daemon: { catch_up_sessions: 0, live_bars_max_wait_ms: 15_000 },
      http: { host: '127.0.0.1', port: 0 },
      logging: { level: 'warn', format: 'json' },
    },
    'live-parity',
  );
}

/** One feature row's published content, exactly (JSON keeps every double's bits). */
async function featureRows(lake: Lake, file: string): Promise<Map<string, string>> {
  const rows = await lake.query(`SELECT symbol, epoch_ms(ts) AS t, epoch_ms(available_ts) AS a, is_imputed, ${FEATURES.join(', ')} FROM read_parquet('${file}') ORDER BY symbol, ts`);
  return new Map(rows.map((r) => [`${r.symbol as string}|${r.t as number}`, JSON.stringify([r.a, r.is_imputed, ...FEATURES.map((f) => r[f] ?? null)])]));
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'ibpipe-parity-'));
  writeFileSync(
    join(dir, 'model.json'),
    JSON.stringify({
      format: 'ibpipe-linear-model',
      format_version: 1,
      id: 'parity',
      version: '1',
      kind: 'linear',
      feature_names: ['rsi_14', 'macd_hist', 'sma_5'],
      means: [50, 0, 100],
      stds: [10, 0.1, 10],
      coefficients: [0.01, 0.5, 0.001],
      intercept: 0,
    }),
  );
  clock = new ManualClock(T0);
  sim = await startSimGateway({ port: 0, clock, pacingTimeScale: 0.01 });
});
afterAll(async () => {
  await sim?.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('live chain = batch (daemon against the simulated gateway, manual clock, faults on)', () => {
  it('publishes every feature row as batch computes it, scores only final rows, and counts each revision', async () => {
    const lakeRoot = join(dir, 'lake');
    const settings = settingsFor(lakeRoot, sim.port);
    // The client's side of the socket, counted: a step is over once both ends have stopped talking.
    const wire = { received: 0, sent: 0, handshaking: false };
    const countingApi: IbApiFactory = (host, port) => {
      const api = createIbApi(host, port);
      wire.handshaking = true;
      api.on('received', (() => void wire.received++) as never);
      api.on('sent', (() => void wire.sent++) as never);
      api.on('nextValidId', (() => void (wire.handshaking = false)) as never);
      api.on('disconnected', (() => void (wire.handshaking = false)) as never);
      return api;
    };

    // Spies on the real writes: every published version of the feature partition, every stored score.
    const published: { at: number; rows: Map<string, string> }[] = [];
    const scored: PredictionRow[] = [];
    let daemon: Daemon | undefined;
    const writeFeatures = FeatureStore.prototype.writeFeaturesFromRelation;
    FeatureStore.prototype.writeFeaturesFromRelation = async function (
      this: FeatureStore,
      w: FeaturePartitionsWrite,
      relation: string | ((date: string) => string),
      options?: { ordered?: boolean },
    ) {
      const res = await writeFeatures.call(this, w, relation, options);
      for (const date of [...new Set(w.dates)].sort()) {
        published.push({ at: clock.now(), rows: await featureRows((daemon as Daemon).app.lake, this.partitionFile(w.group, w.version, date)) });
      }
      return res;
    };
    const liveEvents: MarketDataEvent[] = [];
    const onEvent = LiveChainTrigger.prototype.onEvent;
    LiveChainTrigger.prototype.onEvent = function (this: LiveChainTrigger, e: MarketDataEvent) {
      liveEvents.push(e);
      onEvent.call(this, e);
    };
    // Lake work in flight (raw writes, the start-up check of the stored session, jobs, cache
    // loads) and raw writes (several lake calls each): a step is not over while any runs.
    let busy = 0;
    const track = <A extends unknown[], R>(fn: (...args: A) => Promise<R>) =>
      async function (this: unknown, ...args: A): Promise<R> {
        busy++;
        try {
          return await fn.apply(this, args);
        } finally {
          busy--;
        }
      };
    const lakeMethods = { run: Lake.prototype.run, query: Lake.prototype.query, queryColumns: Lake.prototype.queryColumns, stage: Lake.prototype.stage, readDoubles: Lake.prototype.readDoubles };
    Lake.prototype.run = track(lakeMethods.run);
    Lake.prototype.query = track(lakeMethods.query) as Lake['query'];
    Lake.prototype.queryColumns = track(lakeMethods.queryColumns);
    Lake.prototype.stage = track(lakeMethods.stage);
    Lake.prototype.readDoubles = track(lakeMethods.readDoubles);
    const writeTwsBars = RawStore.prototype.writeTwsBars;
    RawStore.prototype.writeTwsBars = track(writeTwsBars);
    const writePredictions = PredictionStore.prototype.writePredictions;
    PredictionStore.prototype.writePredictions = async function (this: PredictionStore, model: string, date: string, rows: readonly PredictionRow[]) {
      scored.push(...rows);
      return writePredictions.call(this, model, date, rows);
    };
    const logs: string[] = [];
    const sink = new Writable({
      write(chunk: Buffer, _enc, cb) {
        logs.push(chunk.toString());
        cb();
      },
    });

    let metricsText = '';
    try {
      daemon = await Daemon.start({
        settings,
        clock,
        logger: createLogger({ level: 'warn', format: 'json', destination: sink }),
        market: (app, metrics) => new TwsMarketService(app, metrics, TwsClient.fromConfig(app.settings.tws, { clock, logger: app.logger, apiFactory: countingApi })),
      });
      const running = daemon;

      // Quiet: no handshake under way, no message count moving for a few event-loop turns (the
      // sim and the client share this process, so bytes written on loopback are read on the next
      // turn), then every queued job done. Only then may the clock move: no timer of the client
      // (finalize grace, request timeouts) can fire before the data that precedes it is processed.
      const settle = async (): Promise<void> => {
        let last = '';
        let stable = 0;
        const limit = Date.now() + 60_000;
        while (stable < 3) {
          await new Promise((r) => setImmediate(r));
          await new Promise((r) => setTimeout(r, 1));
          const s = sim.stats();
          const sig = `${s.messagesSent}|${s.messagesReceived}|${wire.received}|${wire.sent}|${published.length}|${scored.length}`;
          stable = sig === last && !wire.handshaking && busy === 0 ? stable + 1 : 0;
          last = sig;
          if (Date.now() > limit) throw new Error(`no quiet moment at ${new Date(clock.now()).toISOString()}: ${sig}`);
        }
        await running.scheduler.idle();
      };
      await settle();
      const faults: [number, () => void][] = [
        [DROP_AT, () => expect(sim.dropConnections()).toBe(1)],
        // IB's link down for 3 minutes, then 1101 (subscriptions lost): a gap the stream repairs.
        [OUTAGE_AT, () => void sim.connectivityLoss({ restore: 'data_lost', durationMs: 3 * MIN })],
        [LATE_FROM, () => sim.setLatency(LATENCY_MS)],
        [LATE_TO, () => sim.setLatency(0)],
      ];
      while (clock.now() < END) {
        while (faults.length > 0 && clock.now() >= (faults[0] as [number, () => void])[0]) (faults.shift() as [number, () => void])[1]();
        await clock.advance(STEP);
        await settle();
      }
      metricsText = await (await fetch(`${running.url}/metrics`)).text();
    } finally {
      FeatureStore.prototype.writeFeaturesFromRelation = writeFeatures;
      LiveChainTrigger.prototype.onEvent = onEvent;
      RawStore.prototype.writeTwsBars = writeTwsBars;
      Object.assign(Lake.prototype, lakeMethods);
      PredictionStore.prototype.writePredictions = writePredictions;
      await daemon?.stop();
    }
    const warnings = logs.filter((l) => !l.includes('"published feature rows revised"'));
    const runs = [...new Map(readFileSync(join(lakeRoot, 'state', 'job_runs.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as JobRunRecord).map((r) => [r.run_id, r])).values()];
    expect(runs.filter((r) => r.status !== 'ok'), warnings.slice(0, 5).join('')).toEqual([]);
    // The faults happened: the start-up catch-up and the dropped socket's gap were held until repaired.
    expect(liveEvents.filter((e) => e.type === 'caught-up').map((e) => e.symbol).sort()).toEqual(['AAPL', 'MSFT', 'SPY']);
    const repaired = liveEvents.filter((e) => e.type === 'gap-repaired');
    expect(repaired.map((e) => e.symbol).sort()).toEqual(['AAPL', 'MSFT', 'SPY']);
    expect(repaired.every((e) => e.type === 'gap-repaired' && e.bars > 0)).toBe(true);

    // The batch: the final raw data (committed batches) in a fresh lake, transformed and featured once.
    const batchRoot = join(dir, 'batch');
    mkdirSync(join(batchRoot, 'state'), { recursive: true });
    cpSync(join(lakeRoot, 'raw'), join(batchRoot, 'raw'), { recursive: true });
    cpSync(join(lakeRoot, 'state', 'raw_batches.jsonl'), join(batchRoot, 'state', 'raw_batches.jsonl'));
    const batch = await createAppContext(settingsFor(batchRoot, sim.port), { clock: new ManualClock(END), logger: createLogger({ level: 'warn', format: 'json', destination: sink }) });
    let batchRows: Map<string, string>;
    try {
      for (const [kind, params] of [
        ['transform', { date: DATE }],
        ['features', { date: DATE, group: 'tech', version: 'v1' }],
      ] as const) {
        const run = await executeJob(batch, kind, params);
        expect(run.record.status).toBe('ok');
      }
      const store = new FeatureStore(batch.lake, batch.calendars, batch.clock);
      batchRows = await featureRows(batch.lake, store.partitionFile('tech', 'v1', DATE));

      // The whole session, every instrument, nothing imputed (every missed bar was repaired).
      expect(batchRows.size).toBe(3 * 390);
      expect([...batchRows.values()].some((v) => (JSON.parse(v) as unknown[])[1] !== false)).toBe(false);

      // Every version of every row the daemon published, in order.
      const first = new Map<string, { at: number; value: string }>();
      const latest = new Map<string, string>();
      const revisionsAt: number[] = [];
      const revisedKeys = new Set<string>();
      for (const p of published) {
        for (const [key, value] of p.rows) {
          const prev = latest.get(key);
          if (prev === undefined) first.set(key, { at: p.at, value });
          else if (prev !== value) {
            revisionsAt.push(p.at);
            revisedKeys.add(key);
          }
          latest.set(key, value);
        }
      }
      // What was published last is the batch, bit for bit, row for row.
      expect([...latest.keys()].sort()).toEqual([...batchRows.keys()].sort());
      const finalDiffs = [...latest].filter(([k, v]) => batchRows.get(k) !== v);
      expect(finalDiffs).toEqual([]);
      // Published while data flowed normally, and through the socket drop and its repair: every
      // row's first version was already the batch's, and nothing was ever revised.
      const beforeLate = [...first].filter(([, f]) => f.at < LATE_FROM);
      expect(beforeLate.length).toBeGreaterThan(3 * 350); // the day's catch-up (330 bars) plus 30 live minutes
      expect(beforeLate.filter(([k, f]) => batchRows.get(k) !== f.value).map(([k]) => k)).toEqual([]);
      expect(revisionsAt.filter((t) => t < LATE_FROM)).toEqual([]);
      // Late updates revise what was published with the cut-short bars, and the job records count
      // exactly those revisions, as does /metrics.
      expect(revisionsAt.length).toBeGreaterThan(0);
      const counted = runs.filter((r) => r.job === 'features').reduce((n, r) => n + (r.counts['feature_revisions'] ?? 0), 0);
      expect(counted).toBe(revisionsAt.length);
      expect(metricsText).toContain(`ibpipe_feature_revisions_total{group="tech",version="v1"} ${counted}`);
      // From the late updates on, a first version differs from the batch only if it was revised.
      const lateFirsts = [...first].filter(([, f]) => f.at >= LATE_FROM);
      expect(lateFirsts.filter(([k, f]) => batchRows.get(k) !== f.value && !revisedKeys.has(k))).toEqual([]);

      // Scores: every bar close of the session got its score as the bar came in (from 15:01 at the
      // latest, once the morning was caught up), except the closes of the bars lost in the outage:
      // those were held until repaired, and a live run scores only the newest close.
      const gap = repaired[0] as Extract<MarketDataEvent, { type: 'gap-repaired' }>;
      const held = new Set<number>();
      for (let t = gap.from + MIN; t <= gap.to; t += MIN) held.add(t);
      for (const { key } of INSTRUMENTS) {
        const instants = new Set(scored.filter((r) => r.symbol === key && r.status === 'ok').map((r) => r.ts));
        const missed: string[] = [];
        for (let t = T0 + MIN; t <= CLOSE; t += MIN) if (!held.has(t) && !instants.has(t)) missed.push(new Date(t).toISOString());
        expect(missed, key).toEqual([]);
        expect([...instants].filter((t) => held.has(t) || t < T0 - MIN || t > CLOSE), key).toEqual([]);
      }
      // Never an ok score on an imputed row, and every score whose feature row was never revised
      // is the batch's score at that instant, bit for bit.
      expect(scored.filter((r) => r.feature_is_imputed !== false && r.status === 'ok')).toEqual([]);
      const batchScores = new Map<string, PredictionRow>();
      const instants = [...new Set(scored.map((r) => r.ts))].sort((a, b) => a - b);
      const model = batch.settings.models[0];
      if (!model) throw new Error('no model');
      await runBatchScoring(
        { model, date: DATE, at: instants, barMs: MIN, ttlMs: 5 * MIN, runId: 'batch' },
        { lake: batch.lake, featureStore: store, predictionStore: new PredictionStore(batch.lake), calendars: batch.calendars, clock: batch.clock },
      );
      for (const r of await new PredictionStore(batch.lake).readPredictions('lin', DATE)) batchScores.set(`${r.symbol}|${r.ts}`, r);
      const mismatched = scored.filter((r) => {
        if (revisedKeys.has(`${r.symbol}|${r.feature_ts}`)) return false;
        const b = batchScores.get(`${r.symbol}|${r.ts}`);
        return !b || b.status !== r.status || b.score !== r.score || b.feature_ts !== r.feature_ts;
      });
      expect(mismatched).toEqual([]);
    } finally {
      await batch.close();
    }
  }, 900_000); // bounds only a hang: 82 s alone at load 13 on 2 cores, 171 s beside 9 other test files
});
