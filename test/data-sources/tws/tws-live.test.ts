import { afterEach, describe, expect, it } from 'vitest';
import { ScaledClock } from '../../../src/core/clock.js';
import type { LiveStreamEvent } from '../../../src/data-sources/tws/live-bar-stream.js';
import { parseBarSize } from '../../../src/sim/ib-request-time.js';
import { SyntheticMarket } from '../../../src/sim/market.js';
import { AAPL, MSFT, type Rig, startRig } from './tws-rig.js';

const M = 60_000;
const T0 = Date.UTC(2024, 10, 26, 15, 0, 0); // Tuesday 10:00 New York: the market is open
const SPEED = 300; // one simulated minute every 200 ms

let rig: Rig | undefined;
afterEach(async () => {
  await rig?.close();
  rig = undefined;
});

describe('live bars against the simulated gateway (fast clock)', () => {
  it('every bar of the period lands once after dedup, through a socket drop, 1100/1101, 1100/1102, a 162 cancel and a silent stream', async () => {
    const clock = new ScaledClock(T0, SPEED);
    rig = await startRig({
      clock,
      timeScale: 1,
      tws: {
        connect_timeout_ms: 20 * M,
        request_timeout_ms: 20 * M,
        pacing_safety_margin_ms: 0,
        live: { flush_interval_ms: 2 * M, flush_max_bars: 50, silence_timeout_ms: 4 * M, finalize_grace_ms: M },
      },
    });
    const r = rig;
    const events: LiveStreamEvent[] = [];
    const simNow = (): number => clock.now();
    const until = async (what: string, pred: () => boolean, maxSimMs = 20 * M): Promise<void> => {
      const limit = simNow() + maxSimMs;
      while (!pred()) {
        if (simNow() > limit) throw new Error(`timed out waiting for ${what}; events: ${JSON.stringify(events.slice(-6))}`);
        await new Promise((res) => setTimeout(res, 10));
      }
    };
    // Recovered: both streams flow again (n resumptions so far) and every gap they reported is repaired.
    const recovered = (n: number) => (): boolean => {
      const resumed = events.filter((e) => e.type === 'resumed');
      const gaps = resumed.filter((e) => e.type === 'resumed' && e.gap !== null).length;
      return resumed.length >= n && events.filter((e) => e.type === 'gap-repaired').length === gaps;
    };

    await r.client.connect();
    const ac = new AbortController();
    const live = r.ingestor.runLiveStream([AAPL, MSFT], { signal: ac.signal, onEvent: (e) => events.push(e) });

    // 30 simulated minutes of plain streaming.
    await until('30 minutes', () => simNow() >= T0 + 30 * M, 40 * M);
    expect(events.filter((e) => e.type === 'interrupted')).toEqual([]);

    // Socket drop: reconnect, resubscribe, repair.
    expect(r.sim.dropConnections()).toBe(1);
    await until('repair after the socket drop', recovered(2));

    // 1100 then 1101 (data lost): the gateway forgot the subscriptions.
    await r.sim.connectivityLoss({ restore: 'data_lost', durationMs: 2 * M });
    await until('repair after 1101', recovered(4));

    // 1100 then 1102 (data maintained): the streams resume by themselves; the outage is repaired.
    await r.sim.connectivityLoss({ restore: 'data_maintained', durationMs: 3 * M });
    await until('repair after 1102', recovered(6));

    // IB ends the streams with 162 "query cancelled".
    expect(r.sim.cancelStreams()).toBe(2);
    await until('repair after 162', recovered(8));

    // A silent stream: no error, no data.
    expect(r.sim.silenceStreams()).toBe(2);
    await until('repair after silence', recovered(10));

    await until('a few more minutes', () => simNow() >= T0 + 75 * M, 60 * M);
    const stoppedAt = simNow();
    ac.abort();
    const summary = await live;
    expect(summary.flushFailures).toBe(0);
    expect(r.sim.stats().pacingViolations).toBe(0);
    // No zone-less end date ever went out: keepUpToDate asks with "" (now), repairs with the UTC dash form.
    const requests = r.simLog.historicalRequests();
    expect(requests.filter((q) => q.keepUpToDate).every((q) => q.end === '')).toBe(true);
    expect(requests.filter((q) => !q.keepUpToDate).every((q) => /^\d{8}-\d{2}:\d{2}:\d{2}$/.test(q.end))).toBe(true);
    expect(requests.some((q) => !q.keepUpToDate)).toBe(true);
    expect(r.sim.stats().errorsSent['2174']).toBeUndefined();

    const market = new SyntheticMarket();
    for (const inst of [AAPL, MSFT]) {
      const rows = await r.rawStore.readTwsBars({ symbols: [inst.key], start: '2024-11-26', end: '2024-11-26', dedup: true });
      const ts = rows.map((x) => x.ts);
      const first = ts[0] ?? 0;
      const last = ts[ts.length - 1] ?? 0;
      // The stream started within moments of T0 (its initial answer reaches back two bars); the
      // last bar ended before the stop; more than an hour of minutes lies between.
      expect(first).toBeLessThanOrEqual(T0 + 3 * M);
      expect(last - first).toBeGreaterThanOrEqual(70 * M);
      expect(last + M).toBeLessThanOrEqual(stoppedAt);
      expect(last).toBeGreaterThanOrEqual(stoppedAt - 3 * M);
      // Every minute from first to last, once.
      expect(ts).toEqual(Array.from({ length: (last - first) / M + 1 }, (_, i) => first + i * M));
      // Each with the sim's final values (asked of the market model, not through the client).
      const simInst = r.sim.instruments.find((i) => i.key === inst.key);
      if (!simInst) throw new Error('sim instrument missing');
      const truth = market.bars(simInst, {
        start: first,
        end: last + M,
        bar: parseBarSize('1 min') as NonNullable<ReturnType<typeof parseBarSize>>,
        series: 'TRADES',
        rth: true,
        now: last + 10 * M,
      });
      const all = await r.rawStore.readTwsBars({ symbols: [inst.key], start: '2024-11-26', end: '2024-11-26' });
      const wrong = rows
        .filter((x) => truth.find((b) => b.ts === x.ts)?.volume !== x.volume)
        .map((x) => ({ minute: (x.ts - T0) / M, stored: all.filter((y) => y.ts === x.ts).map((y) => [y.volume, y.request_id, y.ingestion_ts - T0]), truth: truth.find((b) => b.ts === x.ts)?.volume }));
      expect(wrong, JSON.stringify(events.map((e) => [e.type, e.symbol, 'reason' in e ? e.reason : '', 'gap' in e ? e.gap : '', 'from' in e ? [(e.from - T0) / M, (e.to - T0) / M] : '']))).toEqual([]);
      expect(rows.map((x) => [x.ts, x.open, x.high, x.low, x.close, x.volume])).toEqual(truth.map((b) => [b.ts, b.open, b.high, b.low, b.close, b.volume]));
    }
    // The long outages (1101 after 2 min, 1102 after 3 min, a 4-min silence) left gaps the
    // resubscription's first bars did not cover: they were fetched by historical requests.
    expect(events.filter((e) => e.type === 'gap-repaired').length).toBeGreaterThanOrEqual(6);
    // Each fault was seen as an interruption by both streams.
    const reasons = events.filter((e) => e.type === 'interrupted').map((e) => (e as { reason: string }).reason);
    for (const why of ['disconnected', '1100 connectivity lost', '1101 connectivity restored, data lost', 'cancelled by IB', 'silent stream']) {
      expect(reasons.filter((x) => x === why).length, why).toBeGreaterThanOrEqual(2);
    }
  });
});
