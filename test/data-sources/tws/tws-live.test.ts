import { afterEach, describe, expect, it } from 'vitest';
import { instrumentConfigSchema } from '../../../src/config/instrument-config.js';
import { ManualClock } from '../../../src/core/clock.js';
import type { LiveStreamEvent } from '../../../src/data-sources/tws/live-bar-stream.js';
import { parseBarSize } from '../../../src/sim/ib-request-time.js';
import { SyntheticMarket } from '../../../src/sim/market.js';
import type { SimDriver } from '../../support/sim-driver.js';
import { AAPL, MSFT, type Rig, startManualRig, type startRig } from './tws-rig.js';

const M = 60_000;
const T0 = Date.UTC(2024, 10, 26, 15, 0, 0); // Tuesday 10:00 New York: the market is open
const ONE_MIN = parseBarSize('1 min') as NonNullable<ReturnType<typeof parseBarSize>>;

let rig: Rig | undefined;
afterEach(async () => {
  await rig?.close();
  rig = undefined;
});

/** A rig on a manual clock whose time moves only when nothing is in flight (see SimDriver). */
async function manualRig(start: number, instruments?: Parameters<typeof startRig>[0]['instruments']): Promise<{ r: Rig; clock: ManualClock; driver: SimDriver }> {
  const r = await startManualRig(start, {
    ...(instruments ? { instruments } : {}),
    tws: {
      connect_timeout_ms: 20 * M,
      request_timeout_ms: 20 * M,
      pacing_safety_margin_ms: 0,
      live: { flush_interval_ms: 2 * M, flush_max_bars: 50, silence_timeout_ms: 4 * M, finalize_grace_ms: M },
    },
  });
  rig = r;
  return { r, clock: r.clock, driver: r.driver };
}

describe('live bars against the simulated gateway (manual clock)', () => {
  it('every bar of the period lands once after dedup, through a socket drop, 1100/1101, 1100/1102, a 162 cancel and a silent stream', async () => {
    const { r, clock, driver } = await manualRig(T0);
    const events: LiveStreamEvent[] = [];
    const describe = (): string => JSON.stringify(events.slice(-8));
    // Recovered: both streams had data again after `mark` events and nothing is left to repair.
    const recovered = (mark: number) => (): boolean =>
      ['AAPL', 'MSFT'].every((s) => events.slice(mark).some((e) => e.type === 'resumed' && e.symbol === s)) && Object.keys(r.ingestor.liveGaps()).length === 0;

    await driver.run(r.client.connect());
    const ac = new AbortController();
    const live = r.ingestor.runLiveStream([AAPL, MSFT], { signal: ac.signal, onEvent: (e) => events.push(e) });

    // 30 minutes of plain streaming.
    await driver.advanceTo(T0 + 30 * M);
    expect(events.filter((e) => e.type === 'interrupted')).toEqual([]);

    // Socket drop: reconnect, resubscribe, repair.
    let mark = events.length;
    expect(r.sim.dropConnections()).toBe(1);
    await driver.until('repair after the socket drop', recovered(mark), 20 * M, describe);

    // 1100 then 1101 (data lost): the gateway forgot the subscriptions.
    mark = events.length;
    const lost = r.sim.connectivityLoss({ restore: 'data_lost', durationMs: 2 * M });
    await driver.until('repair after 1101', recovered(mark), 20 * M, describe);
    await lost;

    // 1100 then 1102 (data maintained): the streams resume by themselves; the outage is repaired.
    mark = events.length;
    const maintained = r.sim.connectivityLoss({ restore: 'data_maintained', durationMs: 3 * M });
    await driver.until('repair after 1102', recovered(mark), 20 * M, describe);
    await maintained;

    // IB ends the streams with 162 "query cancelled".
    mark = events.length;
    expect(r.sim.cancelStreams()).toBe(2);
    await driver.until('repair after 162', recovered(mark), 20 * M, describe);

    // A silent stream: no error, no data, until the silence timeout resubscribes.
    mark = events.length;
    expect(r.sim.silenceStreams()).toBe(2);
    await driver.until('repair after silence', recovered(mark), 20 * M, describe);

    await driver.advanceTo(Math.max(clock.now(), T0 + 75 * M));
    const stoppedAt = clock.now();
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
      // The stream's initial answer reaches back two bars from T0; the last bar ended before the
      // stop, within the finalize grace of it.
      expect(first).toBe(T0 - 2 * M);
      expect(last + M).toBeLessThanOrEqual(stoppedAt);
      expect(last).toBeGreaterThanOrEqual(stoppedAt - 3 * M);
      // Every minute from first to last, once.
      expect(ts).toEqual(Array.from({ length: (last - first) / M + 1 }, (_, i) => first + i * M));
      // Each with the sim's final values (asked of the market model, not through the client).
      const simInst = r.sim.instruments.find((i) => i.key === inst.key);
      if (!simInst) throw new Error('sim instrument missing');
      const truth = market.bars(simInst, { start: first, end: last + M, bar: ONE_MIN, series: 'TRADES', rth: true, now: last + 10 * M });
      expect(rows.map((x) => [x.ts, x.open, x.high, x.low, x.close, x.volume])).toEqual(truth.map((b) => [b.ts, b.open, b.high, b.low, b.close, b.volume]));
    }
    // The long outages (1101 after 2 min, 1102 after 3 min, a 4-min silence) left gaps the
    // resubscription's first bars did not cover: they were fetched by historical requests.
    expect(events.filter((e) => e.type === 'gap-repaired').length).toBeGreaterThanOrEqual(6);
    // Each fault was seen as an interruption by both streams.
    const reasons = events.filter((e) => e.type === 'interrupted').map((e) => (e as { reason: string }).reason);
    for (const why of ['disconnected', '1100 connectivity lost', '1101 connectivity restored, data lost', 'cancelled by IB', 'silent stream', 'no data for 2 bars']) {
      expect(reasons.filter((x) => x === why).length, why).toBeGreaterThanOrEqual(2);
    }
  });

  it('a stream told where its bars begin (the catch-up boundary) repairs the bars its late first answer does not reach back to', async () => {
    // The daemon's catch-up fetches the open session up to a boundary taken at start-up; the live
    // subscription may reach the gateway bars later (a busy machine). Here it reaches it at T0 while
    // AAPL's catch-up stopped at T0 - 8 min: the first answer reaches back two bars only.
    const { r, driver } = await manualRig(T0);
    const events: LiveStreamEvent[] = [];
    await driver.run(r.client.connect());
    const ac = new AbortController();
    const from = T0 - 8 * M;
    const live = r.ingestor.runLiveStream([AAPL, MSFT], { signal: ac.signal, from: new Map([['AAPL', from]]), onEvent: (e) => events.push(e) });
    await driver.until('the repair of AAPL', () => events.some((e) => e.type === 'gap-repaired' && e.symbol === 'AAPL') && Object.keys(r.ingestor.liveGaps()).length === 0, 20 * M, () => JSON.stringify(events));
    await driver.advanceTo(T0 + 5 * M);
    ac.abort();
    expect((await live).flushFailures).toBe(0);
    // Exactly the missing bars, [from, the first answer's first bar), were fetched.
    expect(events.filter((e) => e.type === 'gap-repaired')).toEqual([{ type: 'gap-repaired', symbol: 'AAPL', from, to: T0 - 2 * M, bars: 6, expected: 6 }]);
    const minutes = (a: number, b: number): number[] => Array.from({ length: (b - a) / M + 1 }, (_, i) => a + i * M);
    const aapl = (await r.rawStore.readTwsBars({ symbols: ['AAPL'], start: '2024-11-26', end: '2024-11-26', dedup: true })).map((x) => x.ts);
    expect(aapl).toEqual(minutes(from, aapl.at(-1) as number));
    expect(aapl.at(-1)).toBeGreaterThanOrEqual(T0 + 3 * M);
    // Without a boundary a stream answers from its first bar on (MSFT: two bars back from T0).
    const msft = (await r.rawStore.readTwsBars({ symbols: ['MSFT'], start: '2024-11-26', end: '2024-11-26', dedup: true })).map((x) => x.ts);
    expect(msft[0]).toBe(T0 - 2 * M);
  });

  it('a minute is committed as one batch the moment its last bar is final, not on the flush interval', async () => {
    // flush_interval_ms is 2 min here: on a fixed interval a bar would wait up to 2 min.
    const { r, clock, driver } = await manualRig(T0);
    const commits: { at: number; rows: number; lastTs: Map<string, number> }[] = [];
    r.rawStore.onCommit((info) => commits.push({ at: clock.now(), rows: info.rows, lastTs: new Map(info.lastTs) }));
    await driver.run(r.client.connect());
    const ac = new AbortController();
    const live = r.ingestor.runLiveStream([AAPL, MSFT], { signal: ac.signal });
    await driver.advanceTo(T0 + 6 * M + 30_000);
    ac.abort();
    expect((await live).flushFailures).toBe(0);
    // Bars T0 .. T0+4min: each committed in its own batch holding both instruments' bar, when the
    // next bar's first update made it final: the sim updates every 5 s, so 5 s after its close
    // (tws-protocol.md §4.2: IB's cadence is 4-6 s), never before.
    for (let m = T0; m <= T0 + 4 * M; m += M) {
      const c = commits.filter((x) => x.lastTs.get('AAPL') === m || x.lastTs.get('MSFT') === m);
      const seen = c.map((x) => ({ rows: x.rows, aapl: x.lastTs.get('AAPL'), msft: x.lastTs.get('MSFT'), after: x.at - (m + M) }));
      expect(seen, new Date(m).toISOString()).toEqual([{ rows: 2, aapl: m, msft: m, after: 5_000 }]);
    }
  });

  it('the CME daily halt and the end of a session are no gap: nothing is repaired across them', async () => {
    const ES = instrumentConfigSchema.parse({ key: 'ES-202503', sec_type: 'FUT', symbol: 'ES', exchange: 'CME', currency: 'USD', last_trade_date_or_contract_month: '202503', calendar: 'CMES', use_rth: false });
    // Tuesday 2024-11-26, Chicago on CST: the halt is 22:00-23:00 UTC (16:00-17:00 CT); AAPL's session ends 21:00 UTC.
    const start = Date.UTC(2024, 10, 26, 20, 50);
    const { r, driver } = await manualRig(start, [ES, AAPL]);
    const events: LiveStreamEvent[] = [];
    await driver.run(r.client.connect());
    const ac = new AbortController();
    const live = r.ingestor.runLiveStream([ES, AAPL], { signal: ac.signal, onEvent: (e) => events.push(e) });
    await driver.advanceTo(Date.UTC(2024, 10, 26, 23, 10));
    ac.abort();
    await live;
    expect(events.filter((e) => e.type !== 'subscribed')).toEqual([]);
    expect(r.simLog.historicalRequests().filter((q) => !q.keepUpToDate)).toEqual([]);
    const es = (await r.rawStore.readTwsBars({ symbols: ['ES-202503'], start: '2024-11-26', end: '2024-11-27', dedup: true })).map((x) => x.ts);
    const minutes = (from: number, to: number): number[] => Array.from({ length: (to - from) / M }, (_, i) => from + i * M);
    // Up to the halt, then from the reopen (the session of the 27th) to the last final bar.
    expect(es).toEqual([...minutes(start - 2 * M, Date.UTC(2024, 10, 26, 22, 0)), ...minutes(Date.UTC(2024, 10, 26, 23, 0), (es.at(-1) as number) + M)]);
    expect(es.at(-1)).toBeGreaterThanOrEqual(Date.UTC(2024, 10, 26, 23, 7));
    const aapl = (await r.rawStore.readTwsBars({ symbols: ['AAPL'], start: '2024-11-26', end: '2024-11-26', dedup: true })).map((x) => x.ts);
    expect(aapl).toEqual(minutes(start - 2 * M, Date.UTC(2024, 10, 26, 21, 0)));
  });
});
