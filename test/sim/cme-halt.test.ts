import { EventName, type ContractDetails } from '@stoqey/ib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/core/clock.js';
import { startSimGateway, type SimGateway } from '../../src/sim/sim-server.js';
import { CountingApiFactory, SimDriver } from '../support/sim-driver.js';
import { ES_H5, IbProbe, utcSeconds, type HistoricalRow } from './ib-probe.js';

/**
 * ES over the wire around CME Globex's daily maintenance halt, 16:00-17:00 Chicago. On
 * Wednesday 2024-11-27 Chicago is on CST (UTC-6): the halt is 22:00-23:00 UTC, then the
 * session of the 28th (Thanksgiving, 12:00 close) opens at 23:00 UTC. The virtual clock starts
 * one minute before the reopen, inside the halt; it is a manual clock that moves only when
 * nothing is in flight between the sim and the client.
 */
const START = Date.UTC(2024, 10, 27, 22, 59, 0);
const REOPEN = utcSeconds(2024, 11, 27, 23, 0);
let gw: SimGateway;
let ib: IbProbe;
let driver: SimDriver;

beforeAll(async () => {
  const clock = new ManualClock(START);
  gw = await startSimGateway({ port: 0, clock, pacingEnabled: false });
  ib = new IbProbe(gw.port);
  const wire = new CountingApiFactory(21);
  wire.watch(ib.api);
  driver = new SimDriver(clock, gw, wire);
  await ib.connect(21);
});

afterAll(async () => {
  ib.disconnect();
  await gw.close();
});

describe('the sim serves no ES bar in the daily halt', () => {
  it('streams nothing during the halt: real-time bars and keepUpToDate updates resume at 17:00 CST', async () => {
    const realtime: number[] = [];
    const updates: HistoricalRow[] = [];
    ib.api.on(EventName.realtimeBar, (reqId: number, time: number) => {
      if (reqId === 301) realtime.push(time);
    });
    ib.api.on(EventName.historicalDataUpdate, (reqId: number, date: string, open: number, high: number, low: number, close: number, volume: number, count: number, wap: number) => {
      if (reqId === 302) updates.push({ date, open, high, low, close, volume, count, wap });
    });
    ib.api.reqRealTimeBars(301, ES_H5, 5, 'TRADES' as never, false);
    // The last two hours as of now: the 16:00-17:00 CST hour adds nothing to the batch.
    const batch = await ib.historical(302, ES_H5, '', '7200 S', '1 min', 'TRADES', 0, 2, true);
    const subscribedAt = gw.clock.now();
    expect(subscribedAt).toBeLessThan(REOPEN * 1000); // still in the halt, so the check below is not vacuous
    expect(batch.bars.length).toBeGreaterThan(0);
    expect(Number(batch.bars.at(-1)?.date)).toBe(utcSeconds(2024, 11, 27, 21, 59)); // 15:59 CST
    expect(batch.bars.every((b) => Number(b.date) < utcSeconds(2024, 11, 27, 22, 0))).toBe(true);

    await driver.until('bars after the reopen', () => realtime.length >= 3 && updates.length > 0, 5 * 60_000);
    ib.api.cancelRealTimeBars(301);
    ib.api.cancelHistoricalData(302);
    expect(realtime[0]).toBe(REOPEN);
    expect(realtime.every((t) => t >= REOPEN)).toBe(true);
    expect(updates.every((u) => Number(u.date) >= REOPEN)).toBe(true);
  });

  it('answers history across the halt without it, and a request for the halt alone with 162', async () => {
    const r = await ib.historical(310, ES_H5, '20241127-23:00:00', '7200 S', '1 min', 'TRADES', 0, 2);
    const first = utcSeconds(2024, 11, 27, 21, 0);
    expect(r.bars.map((b) => Number(b.date))).toEqual(Array.from({ length: 60 }, (_, i) => first + 60 * i));
    await expect(ib.historical(311, ES_H5, '20241127-23:00:00', '3600 S', '1 min', 'TRADES', 0, 2)).rejects.toMatchObject({ code: 162 });
  });

  it('lists trading hours up to 16:00 and reopening at 17:00 in the contract details', async () => {
    const details: ContractDetails[] = [];
    ib.api.on(EventName.contractDetails, (reqId: number, d: ContractDetails) => {
      if (reqId === 320) details.push(d);
    });
    const end = new Promise<number>((r) => ib.api.once(EventName.contractDetailsEnd, r));
    ib.api.reqContractDetails(320, ES_H5);
    expect(await end).toBe(320);
    // Chicago dates from Wednesday the 27th: Thanksgiving and the Friday close at 12:00, the weekend is closed.
    expect(details[0]?.tradingHours).toMatch(
      /^20241126:1700-20241127:1600;20241127:1700-20241128:1200;20241128:1700-20241129:1200;20241130:CLOSED;20241201:CLOSED;20241201:1700-20241202:1600;/,
    );
  });
});
