import { createServer } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { SystemClock } from '../../../src/core/clock.js';
import { IbConnectivityError, IbInvalidRequestError } from '../../../src/data-sources/tws/ib-errors.js';
import { type ConnectivityEvent, TwsClient } from '../../../src/data-sources/tws/tws-client.js';
import { AAPL, type Rig, startManualRig, startRig } from './tws-rig.js';

let rig: Rig | undefined;
afterEach(async () => {
  await rig?.close();
  rig = undefined;
});

async function freePort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const addr = srv.address();
  await new Promise<void>((r) => srv.close(() => r()));
  return typeof addr === 'object' && addr ? addr.port : 0;
}

describe('TwsClient', () => {
  it('gives up connecting after the configured attempts with a connectivity error (nothing listens)', async () => {
    const port = await freePort();
    const client = new TwsClient({
      host: '127.0.0.1',
      port,
      clientId: 5,
      clock: new SystemClock(),
      connectAttempts: 3,
      reconnectBackoff: { initialMs: 10, maxMs: 20, factor: 2, jitter: 0 },
    });
    const started = Date.now();
    await expect(client.connect()).rejects.toBeInstanceOf(IbConnectivityError);
    expect(Date.now() - started).toBeGreaterThanOrEqual(10 + 20); // two backoff waits
    expect(client.isConnected()).toBe(false);
  });

  it('resolves contracts, head timestamps and bars; reconnects after a drop with the same client id', async () => {
    rig = await startRig({ timeScale: 0.01 });
    const events: ConnectivityEvent[] = [];
    rig.client.onConnectivity((e) => events.push(e));
    await rig.client.connect();
    expect(rig.client.isConnected()).toBe(true);
    expect(rig.sim.clients().map((c) => c.clientId)).toEqual([11]);

    const c = await rig.client.resolveContract(AAPL);
    expect(c).toMatchObject({ conId: 265598, symbol: 'AAPL', secType: 'STK', exchange: 'SMART', primaryExchange: 'NASDAQ', currency: 'USD', timeZone: 'US/Eastern' });
    expect(c.tradingHours).not.toBe('');
    expect(c.liquidHours).not.toBe('');
    await expect(rig.client.resolveContract({ ...AAPL, symbol: 'NOSUCH' })).rejects.toBeInstanceOf(IbInvalidRequestError);

    // The sim's AAPL history starts 2000-01-03; regular hours open 09:30 New York = 14:30 UTC.
    expect(await rig.client.headTimestamp(c, 'TRADES', true)).toBe(Date.UTC(2000, 0, 3, 14, 30));

    // A window inside a session: bars whose start lies in [start, end), UTC bar starts.
    const start = Date.UTC(2024, 10, 26, 15, 0);
    const res = await rig.client.requestHistoricalBars(c, start, start + 10 * 60_000, '1 min', 'TRADES', true, { symbol: 'AAPL' });
    expect(res.bars.map((b) => b.ts)).toEqual(Array.from({ length: 10 }, (_, i) => start + i * 60_000));
    expect(res).toMatchObject({ endDateTime: '20241126-15:10:00', durationStr: '600 S', noData: false, attempts: 1, dropped: 0 });
    expect(res.bars[0]).toMatchObject({ source: 'TWS', symbol: 'AAPL', conId: 265598, barSize: '1 min', whatToShow: 'TRADES', requestId: res.requestId });

    // A closed day: IB's "no data" is an empty, successful answer.
    const sunday = Date.UTC(2024, 10, 24, 15, 0);
    const none = await rig.client.requestHistoricalBars(c, sunday, sunday + 3_600_000, '1 min', 'TRADES', true);
    expect(none).toMatchObject({ bars: [], noData: true });

    rig.sim.dropConnections();
    // Once the client has seen the drop, wait for its own reconnect.
    while (!events.some((e) => e.type === 'disconnected')) await new Promise((r) => setTimeout(r, 5));
    await rig.client.waitUntilConnected();
    expect(events.map((e) => e.type)).toEqual(['connected', 'disconnected', 'reconnected']);
    expect(rig.sim.clients().map((x) => x.clientId)).toEqual([11]);
    expect(rig.sim.stats().clientIdRejections).toBe(0);
    // Requests work again on the new socket.
    const again = await rig.client.requestHistoricalBars(c, start, start + 60_000, '1 min', 'TRADES', true);
    expect(again.bars).toHaveLength(1);
  });

  it('a second process with the same client id gets IB\'s 326 naming the id and what to do, not a bare socket close', async () => {
    rig = await startRig({ timeScale: 0.01 });
    await rig.client.connect();
    const twin = new TwsClient({ host: '127.0.0.1', port: rig.sim.port, clientId: 11, clock: rig.clock, connectAttempts: 1 });
    const err = await twin.connect().then(
      () => null,
      (e: unknown) => e,
    );
    await twin.disconnect();
    expect(err).toBeInstanceOf(IbConnectivityError);
    expect((err as IbConnectivityError).ibCode).toBe(326);
    const message = (err as Error).message;
    expect(message).toContain('client id 11 is already in use');
    expect(message).toContain('set a different tws.client_id in the config or stop the other process');
    expect(message).not.toContain('socket closed');
    expect(rig.sim.stats().clientIdRejections).toBe(1);
    // The first client is untouched.
    expect(rig.client.isConnected()).toBe(true);
    expect(rig.sim.clients().map((c) => c.clientId)).toEqual([11]);
  });

  it('bar times in formatDate 1 (zoned text) and 2 (epoch seconds) give the same UTC bars', async () => {
    rig = await startRig({ timeScale: 0.01 });
    const text = new TwsClient({ host: '127.0.0.1', port: rig.sim.port, clientId: 31, clock: rig.clock, pacingTimeScale: 0.01, formatDate: 1 });
    await Promise.all([rig.client.connect(), text.connect()]);
    try {
      const start = Date.UTC(2024, 6, 1, 13, 30); // summer: 09:30 EDT
      const [a, b] = await Promise.all([
        rig.client.requestHistoricalBars(await rig.client.resolveContract(AAPL), start, start + 30 * 60_000, '1 min', 'TRADES', true),
        text.requestHistoricalBars(await text.resolveContract(AAPL), start, start + 30 * 60_000, '1 min', 'TRADES', true),
      ]);
      expect(a.bars).toHaveLength(30);
      expect(b.bars.map((x) => [x.ts, x.close])).toEqual(a.bars.map((x) => [x.ts, x.close]));
      expect(a.bars[0]?.ts).toBe(start);
      const formats = rig.simLog.lines.filter((l) => l['type'] === 'historicalData').map((l) => l['format_date']);
      expect(formats.sort()).toEqual([1, 2]);
      const head = await text.headTimestamp(await text.resolveContract(AAPL), 'TRADES', true);
      expect(head).toBe(Date.UTC(2000, 0, 3, 14, 30));
    } finally {
      await text.disconnect();
    }
  });

  it('a request in flight when the socket drops fails with a retryable connectivity error', async () => {
    // The sim answers after a latency on a manual clock that is not moved: the answer never leaves.
    const m = await startManualRig(Date.UTC(2024, 11, 2, 12), { sim: { faults: { latencyMs: 200 } } });
    rig = m;
    await m.driver.run(m.client.connect());
    const c = await m.driver.run(m.client.resolveContract(AAPL));
    const start = Date.UTC(2024, 10, 26, 15, 0);
    const pending = m.client.requestHistoricalBars(c, start, start + 60_000, '1 min', 'TRADES', true);
    // In flight: the gateway has the request (and holds its answer).
    await m.driver.settle();
    expect(m.simLog.historicalRequests()).toHaveLength(1);
    m.sim.dropConnections();
    const err = await pending.catch((e: unknown) => e);
    expect(err).toBeInstanceOf(IbConnectivityError);
    expect((err as IbConnectivityError).retryable).toBe(true);
  });
});
