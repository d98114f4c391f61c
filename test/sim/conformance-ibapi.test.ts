import { EventName, type ContractDetails } from '@stoqey/ib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/core/clock.js';
import { startSimGateway, type SimGateway } from '../../src/sim/sim-server.js';
import { CountingApiFactory, SimDriver } from '../support/sim-driver.js';
import { AAPL, ES_H5, EURUSD, IbProbe, utcSeconds, type HistoricalRow } from './ib-probe.js';

/**
 * The real @stoqey/ib IBApi client against the sim over loopback. Expected instants are worked
 * out by hand: New York is UTC-5 in late November 2024, so 09:30 ET = 14:30 UTC; 2024-11-28 is
 * Thanksgiving (closed) and 2024-11-29 closes at 13:00. The sim runs on a manual clock that
 * moves only when nothing is in flight between it and the client.
 */
const START = Date.UTC(2024, 11, 2, 15, 0); // Monday 2024-12-02 10:00 New York
let gw: SimGateway;
let ib: IbProbe;
let driver: SimDriver;

beforeAll(async () => {
  const clock = new ManualClock(START);
  gw = await startSimGateway({ port: 0, clock, pacingEnabled: false });
  ib = new IbProbe(gw.port);
  const wire = new CountingApiFactory(11);
  wire.watch(ib.api);
  driver = new SimDriver(clock, gw, wire);
  await ib.connect(11);
});

afterAll(async () => {
  ib.disconnect();
  await gw.close();
});

function expectConsistent(bars: readonly HistoricalRow[], withVolume = true): void {
  for (const b of bars) {
    expect(b.low).toBeLessThanOrEqual(Math.min(b.open, b.close));
    expect(b.high).toBeGreaterThanOrEqual(Math.max(b.open, b.close));
    if (withVolume) expect(b.volume).toBeGreaterThanOrEqual(0);
  }
}

describe('IBApi against the sim', () => {
  it('connects like a gateway: version 193, accounts, next id, farm notices, current time', async () => {
    expect(ib.api.serverVersion).toBe(193);
    expect(ib.infos.map((i) => i.code)).toEqual(expect.arrayContaining([2104, 2106, 2158]));
    expect(ib.infos.find((i) => i.code === 2104)?.message).toMatch(/^Market data farm connection is OK:/);
    const accounts = new Promise<string>((r) => ib.api.once(EventName.managedAccounts, r));
    ib.api.reqManagedAccts();
    expect(await accounts).toBe('DU1234567');
    const ids = new Promise<number>((r) => ib.api.once(EventName.nextValidId, r));
    ib.api.reqIds(1);
    expect(await ids).toBe(1);
    const time = new Promise<number>((r) => ib.api.once(EventName.currentTime, r));
    ib.api.reqCurrentTime();
    const t = await time;
    // The virtual clock started at START and runs 60x: within a few virtual minutes of it.
    expect(t).toBeGreaterThanOrEqual(START / 1000);
    expect(t).toBeLessThan(START / 1000 + 3600);
  });

  it('answers contract details with the end marker, and 200 alone for an unknown contract', async () => {
    const details: ContractDetails[] = [];
    ib.api.on(EventName.contractDetails, (reqId: number, d: ContractDetails) => {
      if (reqId === 101) details.push(d);
    });
    const end = new Promise<number>((r) => ib.api.once(EventName.contractDetailsEnd, r));
    ib.api.reqContractDetails(101, AAPL);
    expect(await end).toBe(101);
    expect(details).toHaveLength(1);
    const d = details[0] as ContractDetails;
    expect(d.contract.conId).toBe(265598);
    expect(d.contract.primaryExch).toBe('NASDAQ');
    expect(d.contract.exchange).toBe('SMART');
    expect(d.timeZoneId).toBe('US/Eastern');
    expect(d.minTick).toBe(0.01);
    expect(d.liquidHours).toMatch(/^20241202:0930-20241202:1600;20241203:0930-20241203:1600/);
    expect(d.secIdList).toEqual([{ tag: 'ISIN', value: 'US0378331005' }]);

    ib.api.reqContractDetails(102, { ...AAPL, symbol: 'NOPE' });
    const err = await ib.errorFor(102);
    expect(err.code).toBe(200);
    expect(err.message).toBe('No security definition has been found for the request');
  });

  it('reports the head timestamp in both date formats', async () => {
    const heads = new Map<number, string>();
    ib.api.on(EventName.headTimestamp, (reqId: number, ts: string) => heads.set(reqId, ts));
    ib.api.reqHeadTimestamp(111, AAPL, 'TRADES' as never, true, 2);
    ib.api.reqHeadTimestamp(112, AAPL, 'TRADES' as never, true, 1);
    await ib.waitUntil(() => heads.size === 2, 60_000, 'head timestamps');
    // The built-in AAPL history starts 2000-01-03 (a Monday); 09:30 EST = 14:30 UTC.
    expect(heads.get(111)).toBe(String(utcSeconds(2000, 1, 3, 14, 30)));
    expect(heads.get(112)).toBe('20000103 09:30:00 US/Eastern');
  });

  it('serves 390 one-minute RTH bars for 2024-11-27 (formatDate 2: epoch seconds of bar starts)', async () => {
    const r = await ib.historical(
      120,
      AAPL,
      '20241127 16:00:00 US/Eastern',
      '23400 S',
      '1 min',
      'TRADES',
      1,
      2,
    );
    expect(r.bars).toHaveLength(390);
    const first = utcSeconds(2024, 11, 27, 14, 30);
    expect(r.bars.map((b) => Number(b.date))).toEqual(Array.from({ length: 390 }, (_, i) => first + 60 * i));
    expect(r.finished).toBe('finished-20241127 09:30:00 US/Eastern-20241127 16:00:00 US/Eastern');
    expectConsistent(r.bars);
    expect(r.bars.every((b) => b.count > 0 && b.wap >= b.low && b.wap <= b.high)).toBe(true);
  });

  it('serves 210 bars on the 2024-11-29 early close (formatDate 1, UTC dash end date)', async () => {
    const r = await ib.historical(121, AAPL, '20241129-21:00:00', '23400 S', '1 min', 'TRADES', 1, 1);
    expect(r.bars).toHaveLength(210);
    expect(r.bars[0]?.date).toBe('20241129 09:30:00 US/Eastern');
    expect(r.bars[209]?.date).toBe('20241129 12:59:00 US/Eastern');
    expectConsistent(r.bars);
  });

  it('answers Thanksgiving 2024-11-28 with 162 HMDS query returned no data', async () => {
    await expect(
      ib.historical(122, AAPL, '20241128 16:00:00 US/Eastern', '23400 S', '1 min', 'TRADES', 1, 2),
    ).rejects.toMatchObject({
      code: 162,
      message: 'Historical Market Data Service error message:HMDS query returned no data: AAPL@SMART Trades',
    });
  });

  it('serves daily bars as yyyymmdd (even with formatDate 2) that aggregate the intraday bars', async () => {
    const daily = await ib.historical(
      123,
      AAPL,
      '20241129 16:00:00 US/Eastern',
      '1 M',
      '1 day',
      'TRADES',
      1,
      2,
    );
    // Sessions from 2024-10-30 to 2024-11-29, Thanksgiving excluded: 2 + 1 + 5 + 5 + 5 + 4 = 22.
    expect(daily.bars).toHaveLength(22);
    expect(daily.bars[0]?.date).toBe('20241030');
    expect(daily.bars.at(-1)?.date).toBe('20241129');
    expect(daily.bars.map((b) => b.date)).not.toContain('20241128');
    expectConsistent(daily.bars);

    const minutes = await ib.historical(
      124,
      AAPL,
      '20241127 16:00:00 US/Eastern',
      '23400 S',
      '1 min',
      'TRADES',
      1,
      2,
    );
    const day = daily.bars.find((b) => b.date === '20241127') as HistoricalRow;
    expect(day.open).toBe(minutes.bars[0]?.open);
    expect(day.close).toBe(minutes.bars.at(-1)?.close);
    expect(day.high).toBe(Math.max(...minutes.bars.map((b) => b.high)));
    expect(day.low).toBe(Math.min(...minutes.bars.map((b) => b.low)));
    expect(day.volume).toBe(minutes.bars.reduce((s, b) => s + b.volume, 0));
  });

  it('returns identical bars for overlapping pages', async () => {
    const a = await ib.historical(
      130,
      AAPL,
      '20241126 10:30:00 US/Eastern',
      '1800 S',
      '1 min',
      'TRADES',
      1,
      2,
    );
    const b = await ib.historical(131, AAPL, '20241126-16:00:00', '1800 S', '1 min', 'TRADES', 1, 2);
    const c = await ib.historical(
      132,
      AAPL,
      '20241126 11:00:00 US/Eastern',
      '3600 S',
      '1 min',
      'TRADES',
      1,
      2,
    );
    expect(a.bars).toHaveLength(30);
    expect(b.bars).toHaveLength(30);
    expect(c.bars).toEqual([...a.bars, ...b.bars]);
    const fiveMin = await ib.historical(
      133,
      AAPL,
      '20241126 11:00:00 US/Eastern',
      '3600 S',
      '5 mins',
      'TRADES',
      1,
      2,
    );
    expect(fiveMin.bars).toHaveLength(12);
    const firstFive = c.bars.slice(0, 5);
    expect(fiveMin.bars[0]).toMatchObject({
      date: firstFive[0]?.date,
      open: firstFive[0]?.open,
      close: firstFive[4]?.close,
      high: Math.max(...firstFive.map((x) => x.high)),
      low: Math.min(...firstFive.map((x) => x.low)),
      volume: firstFive.reduce((s, x) => s + x.volume, 0),
    });
  });

  it('serves FX MIDPOINT (volume -1) and CME futures outside regular hours', async () => {
    const fx = await ib.historical(
      140,
      EURUSD,
      '20241127 12:00:00 US/Eastern',
      '14400 S',
      '1 hour',
      'MIDPOINT',
      0,
      1,
    );
    expect(fx.bars).toHaveLength(4);
    expect(fx.bars[0]?.date).toBe('20241127 08:00:00 US/Eastern');
    expect(fx.bars.every((b) => b.volume === -1 && b.count === -1 && b.wap === -1)).toBe(true);
    expectConsistent(fx.bars, false);
    await expect(
      ib.historical(141, EURUSD, '20241127 12:00:00 US/Eastern', '14400 S', '1 hour', 'TRADES', 0, 1),
    ).rejects.toMatchObject({ code: 162 });

    // ES trades from 17:00 Chicago the evening before: 2024-11-26 17:00 CST = 23:00 UTC.
    const es = await ib.historical(142, ES_H5, '20241127-01:00:00', '7200 S', '30 mins', 'TRADES', 0, 2);
    expect(es.bars.map((b) => Number(b.date))).toEqual([
      utcSeconds(2024, 11, 26, 23, 0),
      utcSeconds(2024, 11, 26, 23, 30),
      utcSeconds(2024, 11, 27, 0, 0),
      utcSeconds(2024, 11, 27, 0, 30),
    ]);
    expectConsistent(es.bars);
  });

  it('validates requests as IB does: 321, 2174, 10314, over-long durations', async () => {
    await expect(
      ib.historical(150, AAPL, '20241127 16:00:00 US/Eastern', '1 D', '7 mins', 'TRADES', 1, 2),
    ).rejects.toMatchObject({
      code: 321,
      message: expect.stringContaining(
        'Historical data bar size setting is invalid. Legal ones are: 1 secs, 5 secs',
      ),
    });
    await expect(
      ib.historical(151, AAPL, '20241127 16:00:00 US/Eastern', '1 D', '1 min', 'TRADES', 1, 2, true),
    ).rejects.toMatchObject({
      code: 321,
      message: "Error validating request.-'bM' : cause - End date not supported with live updates",
    });
    await expect(ib.historical(152, AAPL, 'yesterday', '1 D', '1 min', 'TRADES', 1, 2)).rejects.toMatchObject(
      { code: 10314 },
    );
    await expect(
      ib.historical(153, AAPL, '20241127 16:00:00 US/Eastern', '2 W', '1 secs', 'TRADES', 1, 2),
    ).rejects.toMatchObject({
      code: 162,
      message: 'Historical Market Data Service error message:Time length exceed max.',
    });
    // Zone-less: read in the gateway's zone (New York), warned about, and still served.
    const zoneless = await ib.historical(154, AAPL, '20241127 16:00:00', '23400 S', '1 min', 'TRADES', 1, 2);
    expect(zoneless.bars).toHaveLength(390);
    const warning = ib.errors.find((e) => e.reqId === 154);
    expect(warning?.code).toBe(2174);
    expect(warning?.message).toMatch(
      /^Warning: You submitted request with date-time attributes without explicit time zone/,
    );
  });

  it('streams keepUpToDate updates of the current bar until cancelled, and the last update is the final bar', async () => {
    const updates: HistoricalRow[] = [];
    ib.api.on(
      EventName.historicalDataUpdate,
      (
        reqId: number,
        date: string,
        open: number,
        high: number,
        low: number,
        close: number,
        volume: number,
        count: number,
        wap: number,
      ) => {
        if (reqId === 160) updates.push({ date, open, high, low, close, volume, count, wap });
      },
    );
    const batch = await ib.historical(160, AAPL, '', '1800 S', '1 min', 'TRADES', 1, 2, true);
    expect(batch.bars.length).toBeGreaterThan(0);
    const lastBatch = Number(batch.bars.at(-1)?.date);
    // A new bar starts every minute: let the clock run through two bar changes.
    await driver.until('three bar timestamps', () => new Set(updates.map((u) => u.date)).size >= 3, 5 * 60_000);
    ib.api.cancelHistoricalData(160);
    await driver.settle();
    const seen = updates.length;
    const stamps = [...new Set(updates.map((u) => Number(u.date)))];
    expect(stamps.every((s) => s % 60 === 0 && s >= lastBatch)).toBe(true);
    expect(stamps).toEqual([...stamps].sort((x, y) => x - y));
    expectConsistent(updates);
    // Volume of one bar only grows within the bar (cumulative).
    const firstStamp = updates.filter((u) => Number(u.date) === stamps[1]);
    expect(firstStamp.map((u) => u.volume)).toEqual(
      [...firstStamp.map((u) => u.volume)].sort((x, y) => x - y),
    );

    // The last update of a completed bar equals that bar as history reports it later.
    const done = firstStamp.at(-1) as HistoricalRow;
    const iso = new Date((Number(done.date) + 60) * 1000).toISOString();
    const end = `${iso.slice(0, 10).replaceAll('-', '')}-${iso.slice(11, 19)}`;
    const hist = await ib.historical(161, AAPL, end, '60 S', '1 min', 'TRADES', 1, 2);
    expect(hist.bars).toEqual([done]);

    // Nothing more once the gateway has the cancel, however many bar boundaries pass.
    await driver.advance(3 * 60_000);
    expect(updates.length).toBe(seen);
    ib.api.cancelHistoricalData(160);
    const again = await ib.errorFor(160);
    expect(again).toMatchObject({ code: 366, message: 'No historical data query found for ticker id:160' });
  });

  it('streams 5-second real-time bars until cancelled', async () => {
    const bars: { time: number; open: number; high: number; low: number; close: number; volume: number }[] =
      [];
    ib.api.on(
      EventName.realtimeBar,
      (
        reqId: number,
        time: number,
        open: number,
        high: number,
        low: number,
        close: number,
        volume: number,
      ) => {
        if (reqId === 170) bars.push({ time, open, high, low, close, volume });
      },
    );
    ib.api.reqRealTimeBars(170, AAPL, 5, 'TRADES' as never, true);
    await driver.until('four real-time bars', () => bars.length >= 4, 60_000);
    ib.api.cancelRealTimeBars(170);
    await driver.settle();
    const n = bars.length;
    const times = bars.map((b) => b.time);
    expect(times.every((t) => t % 5 === 0)).toBe(true);
    expect(times.slice(1).map((t, i) => t - (times[i] as number))).toEqual(Array(times.length - 1).fill(5));
    for (const b of bars) {
      expect(b.low).toBeLessThanOrEqual(Math.min(b.open, b.close));
      expect(b.high).toBeGreaterThanOrEqual(Math.max(b.open, b.close));
    }
    // Consecutive 5-s bars chain: each opens where the previous closed.
    expect(bars.slice(1).every((b, i) => b.open === bars[i]?.close)).toBe(true);
    await driver.advance(60_000);
    expect(bars.length).toBe(n);
  });

  it('answers a cancel of an unknown request with 366', async () => {
    ib.api.cancelHistoricalData(999);
    expect(await ib.errorFor(999)).toMatchObject({
      code: 366,
      message: 'No historical data query found for ticker id:999',
    });
  });

  it('never made the client report a decoding error (505)', () => {
    expect(ib.decodeErrors()).toEqual([]);
    expect(ib.errors.filter((e) => e.reqId === -1)).toEqual([]);
  });
});
