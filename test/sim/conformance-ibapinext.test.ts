import { ConnectionState, IBApiNext, type Bar, type IBApiNextError } from '@stoqey/ib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ScaledClock } from '../../src/core/clock.js';
import { startSimGateway, type SimGateway } from '../../src/sim/sim-server.js';
import { AAPL, utcSeconds } from './ib-probe.js';

/** The real IBApiNext (RxJS API, auto-connection) against the sim over loopback. */
/** Polls a condition; the bound only turns a hang into a readable failure. */
async function until(pred: () => boolean, what: string): Promise<void> {
  for (const end = Date.now() + 60_000; !pred(); ) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

const START = Date.UTC(2024, 11, 2, 15, 0); // Monday 2024-12-02 10:00 New York
const quiet = { info: () => {}, warn: () => {}, error: () => {}, debug: () => {} };
let gw: SimGateway;
let api: IBApiNext;
const errors: IBApiNextError[] = [];

beforeAll(async () => {
  gw = await startSimGateway({ port: 0, clock: new ScaledClock(START, 60), pacingEnabled: false });
  api = new IBApiNext({ host: '127.0.0.1', port: gw.port, logger: quiet });
  api.error.subscribe((e) => errors.push(e));
  await new Promise<void>((resolve) => {
    const sub = api.connectionState.subscribe((s) => {
      if (s === ConnectionState.Connected) {
        queueMicrotask(() => sub.unsubscribe());
        resolve();
      }
    });
    api.connect(21);
  });
});

afterAll(async () => {
  api.disconnect();
  await gw.close();
});

function collect<T>(
  subscribe: (next: (v: T) => void, fail: (e: unknown) => void) => { unsubscribe(): void },
  enough: (all: T[]) => boolean,
  timeoutMs = 60_000, // a bound on a hang, not a time budget
): Promise<T[]> {
  return new Promise((resolve, reject) => {
    const all: T[] = [];
    let done = false;
    const timer = setTimeout(() => {
      done = true;
      handle.unsubscribe();
      reject(new Error(`only ${all.length} values`));
    }, timeoutMs);
    const handle = subscribe(
      (v) => {
        if (done) return;
        // IBApiNext re-emits one mutated object per live subscription: keep snapshots.
        all.push({ ...v });
        if (enough(all)) {
          done = true;
          clearTimeout(timer);
          queueMicrotask(() => handle.unsubscribe());
          resolve(all);
        }
      },
      (e) => {
        clearTimeout(timer);
        reject(e);
      },
    );
  });
}

describe('IBApiNext against the sim', () => {
  it('reads current time and managed accounts', async () => {
    const t = await api.getCurrentTime();
    expect(t).toBeGreaterThanOrEqual(START / 1000);
    expect(await api.getManagedAccounts()).toEqual(['DU1234567']);
  });

  it('gets contract details, and rejects an unknown contract with 200', async () => {
    const details = await api.getContractDetails(AAPL);
    expect(details).toHaveLength(1);
    expect(details[0]?.contract.conId).toBe(265598);
    expect(details[0]?.longName).toBe('APPLE INC');
    await expect(api.getContractDetails({ ...AAPL, symbol: 'NOPE' })).rejects.toMatchObject({ code: 200 });
  });

  it('gets the head timestamp', async () => {
    expect(await api.getHeadTimestamp(AAPL, 'TRADES' as never, true, 2)).toBe(
      String(utcSeconds(2000, 1, 3, 14, 30)),
    );
  });

  it('gets historical bars: 390 intraday (formatDate 2), 210 on the early close (formatDate 1), daily', async () => {
    const full = await api.getHistoricalData(
      AAPL,
      '20241127 16:00:00 US/Eastern',
      '23400 S',
      '1 min' as never,
      'TRADES' as never,
      1,
      2,
    );
    expect(full).toHaveLength(390);
    expect(full[0]?.time).toBe(String(utcSeconds(2024, 11, 27, 14, 30)));
    expect(full[389]?.time).toBe(String(utcSeconds(2024, 11, 27, 20, 59)));
    const short = await api.getHistoricalData(
      AAPL,
      '20241129 16:00:00 US/Eastern',
      '23400 S',
      '1 min' as never,
      'TRADES' as never,
      1,
      1,
    );
    expect(short).toHaveLength(210);
    expect(short[0]?.time).toBe('20241129 09:30:00 US/Eastern');
    const daily = await api.getHistoricalData(
      AAPL,
      '20241129 16:00:00 US/Eastern',
      '5 D',
      '1 day' as never,
      'TRADES' as never,
      1,
      2,
    );
    // Five trading days back from Friday 2024-11-29, skipping Thanksgiving.
    expect(daily.map((b: Bar) => b.time)).toEqual([
      '20241122',
      '20241125',
      '20241126',
      '20241127',
      '20241129',
    ]);
    await expect(
      api.getHistoricalData(
        AAPL,
        '20241128 16:00:00 US/Eastern',
        '23400 S',
        '1 min' as never,
        'TRADES' as never,
        1,
        2,
      ),
    ).rejects.toMatchObject({
      code: 162,
      error: { message: expect.stringContaining('HMDS query returned no data') },
    });
  });

  it('streams keepUpToDate updates through getHistoricalDataUpdates and cancels on unsubscribe', async () => {
    const seen = await collect<Bar>(
      (next, fail) =>
        api
          .getHistoricalDataUpdates(AAPL, '1 min' as never, 'TRADES' as never, 2)
          .subscribe({ next, error: fail }),
      (all) => new Set(all.map((b) => b.time)).size >= 2,
    );
    const times = [...new Set(seen.map((b) => Number(b.time)))];
    expect(times[1]).toBe((times[0] as number) + 60);
    for (const b of seen) {
      expect(b.low).toBeLessThanOrEqual(Math.min(b.open ?? Infinity, b.close ?? Infinity));
      expect(b.high).toBeGreaterThanOrEqual(Math.max(b.open ?? -Infinity, b.close ?? -Infinity));
    }
    // Unsubscribing cancelled the live query on the gateway.
    await until(() => gw.clients().flatMap((c) => c.streams).length === 0, 'the gateway to drop the stream');
  });

  it('streams real-time bars through getRealTimeBars', async () => {
    const bars = await collect<Bar>(
      (next, fail) => api.getRealTimeBars(AAPL, 'TRADES' as never, true).subscribe({ next, error: fail }),
      (all) => all.length >= 3,
    );
    const times = bars.map((b) => Number(b.time));
    expect(times.every((t) => t % 5 === 0)).toBe(true);
    expect(times[2]).toBe((times[0] as number) + 10);
    await until(() => gw.clients().flatMap((c) => c.streams).length === 0, 'the gateway to drop the stream');
  });

  it('saw no decoding errors (505) and no connection-level errors', () => {
    expect(errors.filter((e) => e.code === 505 || e.reqId === -1)).toEqual([]);
    expect(errors.map((e) => e.code).sort()).toEqual([162, 200]);
  });
});
