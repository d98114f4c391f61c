import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseSettings } from '../../src/config/settings.js';
import { ManualClock } from '../../src/core/clock.js';
import { TwsClient } from '../../src/data-sources/tws/tws-client.js';
import { Daemon, type HealthReport } from '../../src/ops/daemon.js';
import { createLogger } from '../../src/ops/logging-setup.js';
import { buildStatusReport } from '../../src/ops/status-report.js';
import { TwsMarketService } from '../../src/ops/tws-market-service.js';
import { parseBarSize } from '../../src/sim/ib-request-time.js';
import { SyntheticMarket } from '../../src/sim/market.js';
import { startSimGateway, type SimGateway } from '../../src/sim/sim-server.js';
import { RawStore } from '../../src/storage/raw-store.js';
import { LogSink } from '../data-sources/tws/tws-rig.js';
import { CountingApiFactory, SimDriver } from '../support/sim-driver.js';

const M = 60_000;
const OPEN = Date.parse('2024-11-26T14:30:00Z'); // Tuesday 09:30 New York
const T0 = OPEN + 30 * M;
const DATE = '2024-11-26';

let dir: string;
let clock: ManualClock;
let sim: SimGateway;
let daemon: Daemon;
let driver: SimDriver;
const logs = new LogSink();

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'ibpipe-gaps-'));
  clock = new ManualClock(T0);
  sim = await startSimGateway({ port: 0, clock });
  const settings = parseSettings({
    lake: { root: join(dir, 'lake') },
    tws: { port: sim.port, client_id: 7, pacing_safety_margin_ms: 0, request_timeout_ms: 20_000, live: { flush_interval_ms: 5_000 } },
    instruments: [
      { key: 'AAPL', sec_type: 'STK', symbol: 'AAPL', exchange: 'SMART', primary_exchange: 'NASDAQ', currency: 'USD', calendar: 'XNYS' },
      { key: 'MSFT', sec_type: 'STK', symbol: 'MSFT', exchange: 'SMART', primary_exchange: 'NASDAQ', currency: 'USD', calendar: 'XNYS' },
    ],
    daemon: { catch_up_sessions: 0 },
    http: { host: '127.0.0.1', port: 0 },
  });
  const wire = new CountingApiFactory(7);
  daemon = await Daemon.start({
    settings,
    clock,
    logger: createLogger({ level: 'info', format: 'json', destination: logs }),
    market: (app, metrics) => new TwsMarketService(app, metrics, TwsClient.fromConfig(app.settings.tws, { clock, logger: app.logger, apiFactory: wire.factory })),
  });
  driver = new SimDriver(clock, sim, wire, { idle: () => !daemon.app.lake.busy });
});
afterAll(async () => {
  await daemon?.stop();
  await sim?.close();
  rmSync(dir, { recursive: true, force: true });
});

const health = async (): Promise<{ code: number; body: HealthReport }> => {
  const res = await fetch(`${daemon.url}/healthz`);
  return { code: res.status, body: (await res.json()) as HealthReport };
};
const metric = async (name: string, labels: string): Promise<number | undefined> => {
  const text = await (await fetch(`${daemon.url}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(`${name}{${labels}}`));
  return line === undefined ? undefined : Number(line.split(' ').at(-1));
};
const gapsOf = (symbol: string) => daemon.health().live_gaps[symbol] ?? [];
const ledger = (): Array<Record<string, unknown>> =>
  readFileSync(join(dir, 'lake', 'state', 'live_gaps.jsonl'), 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as Record<string, unknown>);

describe('the live stream never loses a bar silently (daemon + simulated gateway on a manual clock)', () => {
  it('a silence shorter than the silence timeout opens a gap that health and metrics show, then repairs exactly it', async () => {
    await driver.advance(10 * M);
    expect((await health()).body).toMatchObject({ status: 'ok', connected: true, live_gaps: {} });

    // 20 s into a bar, both streams go quiet for 150 s (the silence timeout is 180 s: no resubscription).
    await driver.advanceTo(T0 + 10 * M + 20_000);
    const silentFrom = T0 + 10 * M; // the bar in progress loses its last updates
    expect(sim.silenceStreams({ durationMs: 150_000 })).toBe(2);
    await driver.until('a gap is noticed', () => gapsOf('AAPL').length > 0 && gapsOf('MSFT').length > 0, 3 * M);
    // Noticed after two bars of silence, while the streams are still quiet.
    expect(clock.now()).toBeLessThan(T0 + 10 * M + 20_000 + 150_000);
    const open = await health();
    expect(open.code).toBe(503);
    expect(open.body.status).toBe('degraded');
    for (const symbol of ['AAPL', 'MSFT']) {
      expect(open.body.live_gaps[symbol]).toEqual([
        // The cut-short bar and the one after it, which ended without a single update.
        expect.objectContaining({ from: new Date(silentFrom).toISOString(), to: null, state: 'open', missing_bars: 2, reason: 'no data for 2 bars' }),
      ]);
      expect(await metric('ibpipe_live_open_gaps', `symbol="${symbol}"`)).toBe(1);
      expect(await metric('ibpipe_live_gap_missing_bars', `symbol="${symbol}"`)).toBe(2);
    }

    // Data returns at the first update after the silence; the gap is repaired through paced historical requests.
    const resumedBar = Math.floor((T0 + 10 * M + 20_000 + 150_000) / M) * M;
    await driver.until('the gaps are repaired', () => Object.keys(daemon.health().live_gaps).length === 0, 5 * M);
    const after = await health();
    expect(after.code).toBe(200);
    expect(after.body).toMatchObject({ status: 'ok', live_gaps: {} });
    for (const symbol of ['AAPL', 'MSFT']) {
      expect(await metric('ibpipe_live_open_gaps', `symbol="${symbol}"`)).toBe(0);
      expect(await metric('ibpipe_live_gap_repairs_total', `symbol="${symbol}",outcome="repaired"`)).toBe(1);
    }
    // Exactly the missing interval: the cut-short bar through the last bar before data resumed.
    expect(ledger().map((r) => [r['symbol'], r['status'], r['from'], r['to'], r['bars'], r['expected']]).sort()).toEqual([
      ['AAPL', 'repaired', silentFrom, resumedBar, (resumedBar - silentFrom) / M, (resumedBar - silentFrom) / M],
      ['MSFT', 'repaired', silentFrom, resumedBar, (resumedBar - silentFrom) / M, (resumedBar - silentFrom) / M],
    ]);

    // A shorter silence (70 s, less than two bars) leaves a bar cut short: noticed when the next bar arrives, repaired too.
    await driver.advance(3 * M + 20_000);
    expect(sim.silenceStreams({ durationMs: 70_000 })).toBe(2);
    await driver.until('the jump is repaired', () => ledger().length === 4, 5 * M, () =>
      JSON.stringify([new Date(clock.now()).toISOString(), daemon.health().live_gaps, ledger(), logs.lines.filter((l) => l['live'] !== undefined).slice(-12).map((l) => l['live'])]),
    );
    expect(ledger().slice(2).every((r) => r['status'] === 'repaired' && (r['bars'] as number) >= 1)).toBe(true);
    expect(logs.lines.some((l) => /^no updates for the last \d+ s of the bar/.test(String(l['reason'] ?? '')))).toBe(true);

    // Every bar of the day once after dedup, with the gateway's final values (asked of the market model).
    await driver.advance(5 * M);
    const raw = new RawStore(daemon.app.lake, daemon.app.calendars);
    await driver.advance(10_000); // one more flush
    const market = new SyntheticMarket();
    for (const symbol of ['AAPL', 'MSFT']) {
      const rows = await raw.readTwsBars({ symbols: [symbol], start: DATE, end: DATE, dedup: true });
      const last = rows.at(-1)?.ts ?? 0;
      expect(last).toBeGreaterThan(resumedBar + 8 * M);
      expect(rows.map((r) => r.ts)).toEqual(Array.from({ length: (last - OPEN) / M + 1 }, (_, i) => OPEN + i * M));
      const inst = sim.instruments.find((i) => i.key === symbol);
      if (!inst) throw new Error('sim instrument missing');
      const truth = market.bars(inst, { start: OPEN, end: last + M, bar: parseBarSize('1 min') as NonNullable<ReturnType<typeof parseBarSize>>, series: 'TRADES', rth: true, now: last + 10 * M });
      expect(rows.map((x) => [x.ts, x.open, x.high, x.low, x.close, x.volume])).toEqual(truth.map((b) => [b.ts, b.open, b.high, b.low, b.close, b.volume]));
    }
  });

  it('a repair that cannot complete is an error in the log, in /healthz and in status, and is retried after a reconnect', async () => {
    // The historical farm stops answering: live updates go on, historical requests time out.
    void sim.farmOutage({ farm: 'hmds', durationMs: 30 * M });
    await driver.advance(20_000);
    const silentFrom = Math.floor(clock.now() / M) * M;
    expect(sim.silenceStreams({ durationMs: 150_000 })).toBe(2);
    await driver.until('the repair gives up', () => gapsOf('AAPL')[0]?.state === 'failed', 20 * M, () =>
      JSON.stringify([new Date(clock.now()).toISOString(), daemon.health().live_gaps, logs.lines.filter((l) => (l['level'] as number) >= 40).slice(-8).map((l) => [l['msg'], l['err'] && (l['err'] as { message: string }).message])]),
    );
    const failed = gapsOf('AAPL')[0];
    expect(failed).toMatchObject({ from: new Date(silentFrom).toISOString(), state: 'failed', attempts: 4 });
    expect(failed?.error).toMatch(/no answer within 20000 ms/);
    const errors = logs.lines.filter((l) => l['level'] === 50 && String(l['msg']).startsWith('live gap repair failed'));
    expect(errors.length).toBeGreaterThanOrEqual(2);
    expect((await health()).body.status).toBe('degraded');
    expect(await metric('ibpipe_live_gap_repairs_total', 'symbol="AAPL",outcome="failed"')).toBe(1);
    const status = await buildStatusReport(daemon.app);
    expect(status.live_gaps.map((g) => [g.symbol, g.from, g.expected > g.stored])).toEqual([
      ['AAPL', silentFrom, true],
      ['MSFT', silentFrom, true],
    ]);

    // The farm comes back; a reconnect resubscribes and retries the failed repairs.
    await driver.until('the farm is back', () => clock.now() > silentFrom + 31 * M, 40 * M);
    expect(sim.dropConnections()).toBe(1);
    await driver.until('the failed gaps are repaired', () => Object.keys(daemon.health().live_gaps).length === 0, 10 * M);
    await driver.advance(10_000);
    expect((await buildStatusReport(daemon.app)).live_gaps).toEqual([]);
    expect((await health()).body.status).toBe('ok');
  });
});
