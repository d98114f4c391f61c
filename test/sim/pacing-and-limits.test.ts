import { EventName } from '@stoqey/ib';
import { afterEach, describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/core/clock.js';
import { startSimGateway, type SimGateway } from '../../src/sim/sim-server.js';
import { AAPL, IbProbe } from './ib-probe.js';

/**
 * IB's limits, enforced by the sim and observed through the real client. A ManualClock freezes
 * time, so "within 2 s" and "within 15 s" are exact rather than racy.
 */
const PACING = 'Historical Market Data Service error message:Historical data request pacing violation';
const NOW = Date.UTC(2024, 11, 2, 15, 0);
let gw: SimGateway | undefined;
const probes: IbProbe[] = [];

afterEach(async () => {
  for (const p of probes.splice(0)) p.disconnect();
  await gw?.close();
  gw = undefined;
});

async function setup(
  opts: { pacingTimeScale?: number; maxReqPerSec?: number } = {},
): Promise<{ clock: ManualClock; ib: IbProbe }> {
  const clock = new ManualClock(NOW);
  gw = await startSimGateway({
    port: 0,
    clock,
    ...(opts.pacingTimeScale ? { pacingTimeScale: opts.pacingTimeScale } : {}),
  });
  const ib = new IbProbe(gw.port, opts.maxReqPerSec ? { maxReqPerSec: opts.maxReqPerSec } : {});
  probes.push(ib);
  await ib.connect(31);
  return { clock, ib };
}

/** Outcome of one historical request: 'ok' or the error code. */
async function outcome(p: Promise<unknown>): Promise<string> {
  try {
    await p;
    return 'ok';
  } catch (err) {
    return String((err as { code: number }).code);
  }
}

describe('historical pacing', () => {
  it('answers the 6th and 7th request for one contract within 2 s with 162 pacing violation', async () => {
    const { ib } = await setup();
    const ends = ['20241118', '20241119', '20241120', '20241121', '20241122', '20241125', '20241126'];
    const results = await Promise.all(
      ends.map((d, i) =>
        outcome(ib.historical(200 + i, AAPL, `${d} 16:00:00 US/Eastern`, '1800 S', '1 min', 'TRADES', 1, 2)),
      ),
    );
    expect(results).toEqual(['ok', 'ok', 'ok', 'ok', 'ok', '162', '162']);
    expect(ib.errors.filter((e) => e.code === 162).map((e) => e.message)).toEqual([PACING, PACING]);
    const stats = (gw as SimGateway).stats();
    expect(stats.pacingViolations).toBe(2);
    expect(stats.pacingByRule).toEqual({ same_contract_burst: 2 });
    expect(stats.requestsByType['historicalData']).toBe(7);
  });

  it('counts BID_ASK twice: the third BID_ASK request within 2 s is a violation', async () => {
    const { ib } = await setup();
    const results = [];
    for (const d of ['20241120', '20241121', '20241122']) {
      results.push(
        await outcome(
          ib.historical(
            Number(d.slice(-2)),
            AAPL,
            `${d} 16:00:00 US/Eastern`,
            '1800 S',
            '1 min',
            'BID_ASK',
            1,
            2,
          ),
        ),
      );
    }
    expect(results).toEqual(['ok', 'ok', '162']);
  });

  it('refuses an identical request within 15 s and accepts it after', async () => {
    const { clock, ib } = await setup();
    const req = (id: number): Promise<string> =>
      outcome(ib.historical(id, AAPL, '20241127 16:00:00 US/Eastern', '23400 S', '1 min', 'TRADES', 1, 2));
    expect(await req(301)).toBe('ok');
    await clock.advance(14_000);
    expect(await req(302)).toBe('162');
    expect((await ib.errorFor(302)).message).toBe(PACING);
    await clock.advance(1_500);
    expect(await req(303)).toBe('ok');
    expect((gw as SimGateway).stats()).toMatchObject({
      pacingViolations: 1,
      pacingByRule: { identical_request: 1 },
    });
  });

  it('allows 60 requests in 10 minutes, refuses the 61st, then recovers (windows time-scaled x0.01)', async () => {
    const { clock, ib } = await setup({ pacingTimeScale: 0.01 });
    // Scaled windows: 2 s → 20 ms, 10 min → 6 s. Step 25 ms so the burst rule never applies.
    const results: string[] = [];
    for (let i = 0; i < 61; i++) {
      const minute = 600 + i; // 10:00, 10:01, … New York: distinct requests, all with data
      const end = `20241127 ${Math.floor(minute / 60)}:${String(minute % 60).padStart(2, '0')}:00 US/Eastern`;
      results.push(await outcome(ib.historical(400 + i, AAPL, end, '1800 S', '1 min', 'MIDPOINT', 1, 2)));
      await clock.advance(25);
    }
    expect(results).toEqual([...Array(60).fill('ok'), '162']);
    expect(ib.errors.filter((e) => e.message === PACING).map((e) => e.reqId)).toEqual([460]);
    expect((gw as SimGateway).stats().pacingByRule).toEqual({ rolling_ten_minutes: 1 });
    await clock.advance(6_000);
    expect(
      await outcome(
        ib.historical(500, AAPL, '20241127 16:00:00 US/Eastern', '1800 S', '1 min', 'TRADES', 1, 2),
      ),
    ).toBe('ok');
  });
});

describe('connection limits', () => {
  it('answers more than 50 messages a second with error 100 and drops the client', async () => {
    const { ib } = await setup({ maxReqPerSec: 1000 });
    let times = 0;
    ib.api.on(EventName.currentTime, () => times++);
    for (let i = 0; i < 60; i++) ib.api.reqCurrentTime();
    await ib.waitUntil(() => ib.disconnects > 0, 60_000, 'disconnect');
    const notice = ib.infos.find((i) => i.code === 100);
    expect(notice?.message).toMatch(/^Max rate of messages per second has been exceeded:max=50 rec=51/);
    // The clock is frozen, so START_API shares the second: it and 49 requests make the 50 allowed.
    expect(times).toBe(49);
    expect((gw as SimGateway).stats().rateLimitDisconnects).toBe(1);
  });

  it('serves several clients at once and refuses a duplicate client id with 326 and a close', async () => {
    const { ib } = await setup();
    const second = new IbProbe((gw as SimGateway).port);
    probes.push(second);
    await second.connect(32);
    const [a, b] = await Promise.all([
      ib.historical(601, AAPL, '20241127 16:00:00 US/Eastern', '3600 S', '1 min', 'TRADES', 1, 2),
      second.historical(602, AAPL, '20241127 12:00:00 US/Eastern', '3600 S', '1 min', 'TRADES', 1, 2),
    ]);
    expect(a.bars).toHaveLength(60);
    expect(b.bars).toHaveLength(60);
    expect(
      (gw as SimGateway)
        .clients()
        .map((c) => c.clientId)
        .sort(),
    ).toEqual([31, 32]);

    const dup = new IbProbe((gw as SimGateway).port);
    probes.push(dup);
    dup.api.connect(31);
    await dup.waitUntil(() => dup.disconnects > 0, 60_000, 'duplicate dropped');
    expect(dup.infos.find((i) => i.code === 326)?.message).toBe(
      'Unable to connect as the client id is already in use. Retry with a unique client id.',
    );
    // The original client with that id is untouched.
    expect(
      (await ib.historical(603, AAPL, '20241126 16:00:00 US/Eastern', '60 S', '1 min', 'TRADES', 1, 2)).bars,
    ).toHaveLength(1);
    expect((gw as SimGateway).stats().clientIdRejections).toBe(1);
    expect([ib, second, dup].flatMap((p) => p.decodeErrors())).toEqual([]);
  });
});
