import { createConnection } from 'node:net';
import { ConnectionState, EventName, IBApiNext } from '@stoqey/ib';
import { afterEach, describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/core/clock.js';
import { BAD_BAR_KINDS, scenarioStepSchema } from '../../src/sim/sim-config.js';
import { startSimGateway, type SimGateway, type SimGatewayOptions } from '../../src/sim/sim-server.js';
import { encodeHandshake, ServerFrameReader } from '../../src/sim/wire-codec.js';
import { CountingApiFactory, SimDriver } from '../support/sim-driver.js';
import { AAPL, IbProbe, type HistoricalRow } from './ib-probe.js';

/** Every fault the sim can inject, driven on demand and observed through the real client. */
const MARKET_OPEN = Date.UTC(2024, 11, 2, 15, 0); // Monday 10:00 New York
let gw: SimGateway | undefined;
const cleanups: (() => void)[] = [];

afterEach(async () => {
  for (const c of cleanups.splice(0)) c();
  await gw?.close();
  gw = undefined;
});

/**
 * A sim on a manual clock and one IBApi client (id 41); `driver` moves the clock only when
 * nothing is in flight, so "nothing arrived" is exact, not a guess after a pause.
 */
async function setup(
  clock: ManualClock,
  extra: Partial<SimGatewayOptions> = {},
): Promise<{ gw: SimGateway; ib: IbProbe; driver: SimDriver }> {
  gw = await startSimGateway({ port: 0, clock, pacingEnabled: false, ...extra });
  const ib = new IbProbe(gw.port);
  const wire = new CountingApiFactory(41);
  wire.watch(ib.api);
  cleanups.push(() => ib.disconnect());
  await ib.connect(41);
  return { gw, ib, driver: new SimDriver(clock, gw, wire) };
}

/** Starts a keepUpToDate stream and records its updates. */
function liveUpdates(ib: IbProbe, reqId: number): HistoricalRow[] {
  const updates: HistoricalRow[] = [];
  ib.api.on(
    EventName.historicalDataUpdate,
    (
      id: number,
      date: string,
      open: number,
      high: number,
      low: number,
      close: number,
      volume: number,
      count: number,
      wap: number,
    ) => {
      if (id === reqId) updates.push({ date, open, high, low, close, volume, count, wap });
    },
  );
  ib.api.reqHistoricalData(reqId, AAPL, '', '300 S', '1 min' as never, 'TRADES' as never, 1, 2, true);
  return updates;
}

describe('faults', () => {
  it('drop socket: IBApi sees a disconnect; IBApiNext reconnects on its own', async () => {
    const { gw, ib } = await setup(new ManualClock(MARKET_OPEN));
    const next = new IBApiNext({
      host: '127.0.0.1',
      port: gw.port,
      reconnectInterval: 100,
      logger: { info() {}, warn() {}, error() {}, debug() {} },
    });
    cleanups.push(() => next.disconnect());
    const states: ConnectionState[] = [];
    next.connectionState.subscribe((s) => states.push(s));
    next.connect(42);
    await ib.waitUntil(() => states.includes(ConnectionState.Connected), 60_000, 'IBApiNext connected');

    expect(gw.dropConnections()).toBe(2);
    await ib.waitUntil(() => ib.disconnects === 1, 60_000, 'IBApi disconnect');
    await ib.waitUntil(
      () => states.filter((s) => s === ConnectionState.Connected).length === 2,
      60_000,
      'IBApiNext reconnect',
    );
    expect(states).toEqual([
      ConnectionState.Disconnected,
      ConnectionState.Connecting,
      ConnectionState.Connected,
      ConnectionState.Disconnected,
      ConnectionState.Connecting,
      ConnectionState.Connected,
    ]);
    expect(gw.clients().map((c) => c.clientId)).toEqual([42]);
  });

  it('connectivity loss: 1100, silent streams, then 1102 with streams resuming', async () => {
    const { gw, ib, driver } = await setup(new ManualClock(MARKET_OPEN));
    const updates = liveUpdates(ib, 700);
    await driver.until('updates', () => updates.length >= 2, 60_000);
    const outage = gw.connectivityLoss({ restore: 'data_maintained', durationMs: 30_000 });
    await driver.until('1100', () => ib.infos.some((i) => i.code === 1100), 1_000);
    expect(ib.infos.find((i) => i.code === 1100)?.message).toBe(
      'Connectivity between IB and the TWS has been lost.',
    );
    const during = updates.length;
    await driver.advance(18_000); // 18 seconds of outage: no updates
    expect(updates.length).toBe(during);
    await driver.until('1102', () => ib.infos.some((i) => i.code === 1102), 60_000);
    await outage;
    expect(ib.infos.find((i) => i.code === 1102)?.message).toBe(
      'Connectivity between IB and TWS has been restored- data maintained.',
    );
    const after = updates.length;
    await driver.until('updates resume', () => updates.length > after + 1, 60_000);
    expect(ib.disconnects).toBe(0);
  });

  it('connectivity loss with data lost: 1101 and the live stream is gone for good', async () => {
    const { gw, ib, driver } = await setup(new ManualClock(MARKET_OPEN));
    const updates = liveUpdates(ib, 701);
    await driver.until('updates', () => updates.length >= 1, 60_000);
    const outage = gw.connectivityLoss({ restore: 'data_lost', durationMs: 6_000 });
    await driver.until('1101', () => ib.infos.some((i) => i.code === 1101), 60_000);
    await outage;
    expect(ib.infos.find((i) => i.code === 1101)?.message).toBe(
      'Connectivity between IB and TWS has been restored- data lost.',
    );
    const n = updates.length;
    await driver.advance(30_000);
    expect(updates.length).toBe(n);
    expect(gw.clients()[0]?.streams).toEqual([]);
  });

  it('farm notices: 2103 then 2104 (streams dead afterwards when asked), 2105 then 2106 holding history', async () => {
    const clock = new ManualClock(MARKET_OPEN);
    const { gw, ib, driver } = await setup(clock);
    const updates = liveUpdates(ib, 702);
    await driver.settle();
    expect(gw.clients()[0]?.streams).toHaveLength(1);
    await clock.advance(10_000);
    await ib.waitUntil(() => updates.length === 2, 60_000, 'two updates');

    const market = gw.farmOutage({ farm: 'market', durationMs: 3_000, streamsResume: false });
    await ib.waitUntil(() => ib.infos.some((i) => i.code === 2103), 60_000, '2103');
    expect(ib.infos.find((i) => i.code === 2103)?.message).toBe(
      'Market data farm connection is broken:usfarm',
    );
    await clock.advance(3_000);
    await market;
    await ib.waitUntil(
      () => ib.infos.filter((i) => i.code === 2104).length === 5,
      60_000,
      '2104 after the outage',
    );
    await driver.advance(30_000);
    expect(updates).toHaveLength(2); // a 3-second blip left the stream dead, as on real gateways

    const hmds = gw.farmOutage({ farm: 'hmds', durationMs: 5_000 });
    await ib.waitUntil(() => ib.infos.some((i) => i.code === 2105), 60_000, '2105');
    let answered = false;
    const history = ib
      .historical(703, AAPL, '20241127 16:00:00 US/Eastern', '3600 S', '1 min', 'TRADES', 1, 2)
      .then((r) => {
        answered = true;
        return r;
      });
    await driver.settle();
    expect(answered).toBe(false); // held while HMDS is down
    await clock.advance(5_000);
    await hmds;
    expect((await history).bars).toHaveLength(60);
    expect(
      ib.infos.find((i) => i.code === 2106 && i.message === 'HMDS data farm connection is OK:ushmds'),
    ).toBeDefined();
  });

  it('silent stream: no updates and no error while the subscription stays open', async () => {
    const clock = new ManualClock(MARKET_OPEN);
    const { gw, ib, driver } = await setup(clock);
    const updates = liveUpdates(ib, 704);
    await driver.settle();
    expect(gw.clients()[0]?.streams).toHaveLength(1);
    expect(gw.silenceStreams({ reqId: 704, durationMs: 60_000 })).toBe(1);
    await driver.advance(55_000);
    expect(updates).toEqual([]);
    expect(ib.errors.filter((e) => e.reqId === 704)).toEqual([]);
    await clock.advance(10_000);
    await ib.waitUntil(() => updates.length > 0, 60_000, 'updates after the silence');
  });

  it('live stream ending with 162 API historical data query cancelled', async () => {
    const clock = new ManualClock(MARKET_OPEN);
    const { gw, ib } = await setup(clock);
    liveUpdates(ib, 705);
    await ib.waitUntil(() => gw.clients()[0]?.streams.length === 1, 60_000, 'stream registered');
    expect(gw.cancelStreams()).toBe(1);
    expect(await ib.errorFor(705)).toMatchObject({
      code: 162,
      message: 'Historical Market Data Service error message:API historical data query cancelled: 705',
    });
    ib.api.cancelHistoricalData(705);
    await ib.waitUntil(() => ib.errors.some((e) => e.reqId === 705 && e.code === 366), 60_000, '366');
  });

  it('latency and jitter delay every response on the sim clock, in order', async () => {
    const clock = new ManualClock(MARKET_OPEN);
    const { gw, ib, driver } = await setup(clock);
    gw.setLatency(500, 1_000);
    const times: number[] = [];
    ib.api.on(EventName.currentTime, (t: number) => times.push(t));
    for (let i = 0; i < 5; i++) ib.api.reqCurrentTime();
    // The client library paces its own sends (4 per 100 ms): wait until the sim has all five.
    await ib.waitUntil(() => gw.stats().requestsByType['currentTime'] === 5, 60_000, 'five requests at the sim');
    await driver.settle();
    expect(times).toEqual([]);
    await clock.advance(400);
    expect(times).toEqual([]);
    await clock.advance(1_200);
    await ib.waitUntil(() => times.length === 5, 60_000, 'delayed answers');
    expect(times).toEqual(Array(5).fill(MARKET_OPEN / 1000));
  });

  it('splits responses into many small TCP chunks that the client reassembles', async () => {
    const { gw, ib } = await setup(new ManualClock(MARKET_OPEN));
    const whole = await ib.historical(
      706,
      AAPL,
      '20241127 16:00:00 US/Eastern',
      '23400 S',
      '1 min',
      'TRADES',
      1,
      2,
    );
    gw.setChunking(7);
    const before = gw.stats().chunksWritten;
    const chunked = await ib.historical(
      707,
      AAPL,
      '20241127 16:00:00 US/Eastern',
      '23400 S',
      '1 min',
      'TRADES',
      1,
      1,
    );
    expect(chunked.bars.map((b) => ({ ...b, date: '' }))).toEqual(
      whole.bars.map((b) => ({ ...b, date: '' })),
    );
    // 390 bars of ~70 bytes in 7-byte pieces.
    expect(gw.stats().chunksWritten - before).toBeGreaterThan(3_000);

    // A raw socket sees the pieces arrive as separate reads.
    const sock = createConnection({ host: '127.0.0.1', port: gw.port });
    cleanups.push(() => sock.destroy());
    const reader = new ServerFrameReader();
    let reads = 0;
    const frames: string[][] = [];
    sock.on('data', (d: Buffer) => {
      reads++;
      frames.push(...reader.push(d));
    });
    await new Promise<void>((r) => sock.once('connect', () => r()));
    sock.write(encodeHandshake(100, 193));
    await ib.waitUntil(() => frames.length === 1, 60_000, 'version reply');
    expect(frames[0]?.[0]).toBe('193');
    expect(reads).toBeGreaterThan(2);
  });

  it('bad bars at a chosen rate: every kind appears, reproducibly', async () => {
    const { gw, ib } = await setup(new ManualClock(MARKET_OPEN));
    gw.setBadBars({ rate: 0.3, kinds: [...BAD_BAR_KINDS], seed: 11 });
    const a = await ib.historical(
      708,
      AAPL,
      '20241127 16:00:00 US/Eastern',
      '23400 S',
      '1 min',
      'TRADES',
      1,
      2,
    );
    const b = await ib.historical(
      709,
      AAPL,
      '20241127 16:00:00 US/Eastern',
      '23400 S',
      '1 min',
      'TRADES',
      1,
      2,
    );
    expect(JSON.stringify(b.bars)).toBe(JSON.stringify(a.bars));
    const bars = a.bars;
    const ts = bars.map((x) => Number(x.date));
    expect(bars.some((x) => x.close < 0)).toBe(true);
    expect(bars.some((x) => Number.isNaN(x.close))).toBe(true);
    expect(bars.some((x) => x.high < x.low)).toBe(true);
    expect(bars.some((x) => x.volume === 0)).toBe(true);
    expect(bars.some((x) => x.volume < 0)).toBe(true);
    expect(ts.some((t, i) => i > 0 && t === ts[i - 1])).toBe(true); // duplicate timestamps
    expect(ts.some((t, i) => i > 0 && t < (ts[i - 1] as number))).toBe(true); // out of order
    expect(gw.stats().badBarsSent).toBeGreaterThan(50);
    gw.setBadBars(null);
    const clean = await ib.historical(
      710,
      AAPL,
      '20241127 16:00:00 US/Eastern',
      '23400 S',
      '1 min',
      'TRADES',
      1,
      2,
    );
    expect(clean.bars).toHaveLength(390);
    expect(clean.bars.every((x) => x.low > 0 && x.low <= x.high && x.volume >= 0)).toBe(true);
  });

  it('runs a YAML-style scenario on the sim clock', async () => {
    const clock = new ManualClock(MARKET_OPEN);
    const scenario = [
      scenarioStepSchema.parse({ at: '10s', action: 'farm_outage', farm: 'hmds', duration: '2s' }),
      scenarioStepSchema.parse({ at: '20s', action: 'drop_socket' }),
    ];
    const { ib, driver } = await setup(clock, { faults: { scenario } });
    await driver.advance(9_000);
    expect(ib.infos.some((i) => i.code === 2105)).toBe(false);
    await clock.advance(1_000);
    await ib.waitUntil(() => ib.infos.some((i) => i.code === 2105), 60_000, 'scenario 2105');
    await clock.advance(2_000);
    await ib.waitUntil(
      () => ib.infos.some((i) => i.code === 2106 && i.message.endsWith('ushmds') && ib.infos.indexOf(i) > 6),
      60_000,
      'scenario 2106',
    );
    await clock.advance(8_000);
    await ib.waitUntil(() => ib.disconnects === 1, 60_000, 'scenario drop');
    expect(ib.decodeErrors()).toEqual([]);
  });
});
