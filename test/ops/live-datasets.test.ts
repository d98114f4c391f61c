import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseSettings } from '../../src/config/settings.js';
import { ManualClock } from '../../src/core/clock.js';
import { TwsClient } from '../../src/data-sources/tws/tws-client.js';
import { Daemon } from '../../src/ops/daemon.js';
import type { JobParams } from '../../src/ops/job-ledger.js';
import { createLogger } from '../../src/ops/logging-setup.js';
import { Scheduler } from '../../src/ops/scheduler.js';
import { TwsMarketService } from '../../src/ops/tws-market-service.js';
import { parseBarSize } from '../../src/sim/ib-request-time.js';
import { SyntheticMarket } from '../../src/sim/market.js';
import { startSimGateway, type SimGateway } from '../../src/sim/sim-server.js';
import { LogSink } from '../data-sources/tws/tws-rig.js';
import { CountingApiFactory, SimDriver } from '../support/sim-driver.js';

/**
 * Live streaming follows the bar datasets (issue 19 item 3): one FX pair in two 1-min datasets,
 * MIDPOINT (the classic one) and BID, streamed by the daemon from the simulated gateway over real
 * sockets on a manual clock, a few minutes into the FX session. Each series lands in its own raw
 * partition with the sim's own bars of that series, and the live chain's transform curates both.
 */

const M = 60_000;
const OPEN = Date.parse('2024-11-26T22:00:00Z'); // 17:00 New York: FX session of Wednesday 2024-11-27
const T0 = OPEN + 3 * M + 5_000;
const END = OPEN + 9 * M + 40_000;
const DATE = '2024-11-27';
const ONE_MIN = parseBarSize('1 min') as NonNullable<ReturnType<typeof parseBarSize>>;

let dir: string;
let clock: ManualClock;
let sim: SimGateway;
let daemon: Daemon;
let driver: SimDriver;
const logs = new LogSink();
const triggered: { job: string; params: JobParams }[] = [];
const schedulerTrigger = Scheduler.prototype.trigger;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'ibpipe-live-ds-'));
  clock = new ManualClock(T0);
  sim = await startSimGateway({ port: 0, clock });
  const settings = parseSettings({
    lake: { root: join(dir, 'lake') },
    tws: { port: sim.port, client_id: 9, pacing_safety_margin_ms: 0, request_timeout_ms: 20_000, live: { flush_interval_ms: 5_000 } },
    instruments: [{ key: 'EURUSD', sec_type: 'CASH', symbol: 'EUR', exchange: 'IDEALPRO', currency: 'USD', calendar: 'FX', what_to_show: 'MIDPOINT', use_rth: false }],
    bar_datasets: [
      { name: 'bars_1min', bar_size: '1 min' },
      { name: 'bars_1min_bid', bar_size: '1 min', what_to_show: 'BID' },
    ],
    jobs: [{ name: 'transform', on_live_bars: true }],
    daemon: { catch_up_sessions: 0, live_bars_max_wait_ms: 15_000 },
    http: { enabled: false },
  });
  // The live chain's runs, as the scheduler is asked for them.
  Scheduler.prototype.trigger = function (this: Scheduler, job: string, params: JobParams, trigger) {
    triggered.push({ job, params });
    schedulerTrigger.call(this, job, params, trigger);
  };
  const wire = new CountingApiFactory(9);
  daemon = await Daemon.start({
    settings,
    clock,
    logger: createLogger({ level: 'info', format: 'json', destination: logs }),
    market: (app, metrics) => new TwsMarketService(app, metrics, TwsClient.fromConfig(app.settings.tws, { clock, logger: app.logger, apiFactory: wire.factory })),
  });
  driver = new SimDriver(clock, sim, wire, { idle: () => !daemon.app.lake.busy });
});
afterAll(async () => {
  Scheduler.prototype.trigger = schedulerTrigger;
  await daemon?.stop();
  await sim?.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('live streaming follows the intraday bar datasets (daemon + simulated gateway, manual clock)', () => {
  it('streams MIDPOINT and BID of one FX pair into their own raw partitions, each equal to the sim series, and the live chain curates both', { timeout: 60_000 }, async () => {
    for (let t = T0 + 20_000; t <= END; t += 20_000) {
      await driver.advanceTo(t);
      await daemon.scheduler.idle();
    }
    await driver.settle();
    await daemon.scheduler.idle();

    // Two keepUpToDate streams, one per series, through the same paced client.
    const live = sim.stats();
    expect(live.pacingViolations).toBe(0);
    expect(readdirSync(daemon.app.lake.path('raw', 'tws_bars')).sort()).toEqual(['bar_size=1min', 'bar_size=1min-bid']);

    const inst = sim.instruments.find((i) => i.key === 'EURUSD');
    if (!inst) throw new Error('sim instrument missing');
    const market = new SyntheticMarket();
    const ohlc = (rows: readonly { ts: number; open: number | null; high: number | null; low: number | null; close: number | null }[]) => rows.map((r) => [Number(r.ts), r.open, r.high, r.low, r.close]);
    const stored = new Map<string, (number | null)[][]>();
    for (const [series, partition] of [['MIDPOINT', null], ['BID', 'BID']] as const) {
      const rows = await daemon.app.rawStore.readTwsBars({ symbols: ['EURUSD'], start: DATE, end: DATE, series: partition, dedup: true });
      // Nothing of the other series in this partition.
      expect(new Set(rows.map((r) => r.what_to_show))).toEqual(new Set([series]));
      const last = rows.at(-1)?.ts ?? 0;
      // Every minute from the open (the start-up catch-up) to a bar final before the end, once.
      expect(last).toBeGreaterThanOrEqual(END - 2 * M - 40_000);
      expect(rows.map((r) => r.ts)).toEqual(Array.from({ length: (last - OPEN) / M + 1 }, (_, i) => OPEN + i * M));
      const truth = market.bars(inst, { start: OPEN, end: last + M, bar: ONE_MIN, series, rth: false, now: last + 10 * M });
      expect(ohlc(rows)).toEqual(ohlc(truth));
      stored.set(series, ohlc(rows));
    }
    // Per-stream state: /healthz keys the BID stream apart from the classic one, each at its own last final bar.
    const lastLive = daemon.health().last_live_bar;
    expect(Object.keys(lastLive).sort()).toEqual(['EURUSD', 'EURUSD@bars_1min_bid']);
    for (const [key, series] of [['EURUSD', 'MIDPOINT'], ['EURUSD@bars_1min_bid', 'BID']] as const) {
      expect(Date.parse(lastLive[key] as string)).toBeGreaterThanOrEqual((stored.get(series)?.at(-1)?.[0] as number) ?? Infinity);
    }
    // Two different series: the bid sits below the midpoint at every bar.
    const mid = stored.get('MIDPOINT') as (number | null)[][];
    const bid = stored.get('BID') as (number | null)[][];
    expect(bid.every((b, i) => (b[4] as number) < (mid[i]?.[4] as number))).toBe(true);

    // The live chain ran the transform for both datasets, and each curated table holds its own series.
    const runs = triggered.filter((t) => t.job === 'transform');
    expect(runs.length).toBeGreaterThan(3);
    expect(runs.some((r) => JSON.stringify(r.params.dataset) === JSON.stringify(['bars_1min', 'bars_1min_bid']))).toBe(true);
    for (const [ds, raw] of [['bars_1min', mid], ['bars_1min_bid', bid]] as const) {
      const curated = await daemon.app.lake.query<{ ts: number; open: number; high: number; low: number; close: number }>(
        `SELECT epoch_ms(ts) AS ts, open, high, low, close FROM read_parquet('${daemon.app.lake.path('curated', ds, `date=${DATE}`, 'data.parquet')}') WHERE NOT is_imputed ORDER BY ts`,
      );
      // Curated up to the bars the last run saw (the newest may have been committed after it).
      expect(curated.length).toBeGreaterThanOrEqual(raw.length - 1);
      expect(ohlc(curated)).toEqual(raw.slice(0, curated.length));
    }
  });
});
