import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { BarEvent, BarSize } from '../../../src/core/bars.js';
import type { IbContractDetails } from '../../../src/data-sources/tws/ib-api-port.js';
import { contractFromDetails, type IbBarPayload, ibBarToBarEvent, specToIbContract, toRequestContract } from '../../../src/data-sources/tws/ib-bar-mapping.js';
import { type BarPayloadFixture, type ContractDetailsFixture, FIXTURE_DIR, fixtureText, recordIbPayloads } from '../../support/record-ib-payloads.js';
import { AAPL } from './tws-rig.js';

function load<T>(name: string): T {
  return JSON.parse(readFileSync(join(FIXTURE_DIR, `${name}.json`), 'utf8')) as T;
}

/** The recorded bars mapped as the client maps them (a null count is what the library delivered as undefined). */
function mapped(f: BarPayloadFixture, requestId = 'req-1'): BarEvent[] {
  return f.bars.map(([time, open, high, low, close, volume, count, wap]) => {
    const payload: IbBarPayload = { time, open, high, low, close, volume, count: count ?? (undefined as unknown as number), wap };
    return ibBarToBarEvent(payload, { contract: { conId: f.contract.conId, timeZone: f.contract.timeZoneId }, symbol: 'AAPL', barSize: f.request.barSize as BarSize, whatToShow: f.request.whatToShow, requestId });
  });
}

/** Expected bars written out by hand: [ts, open, high, low, close, volume, wap, tradeCount]. */
type Row = [number, number, number, number, number, number, number | null, number | null];
function bars(whatToShow: string, barSize: BarSize, rows: Row[]): BarEvent[] {
  return rows.map(([ts, open, high, low, close, volume, wap, tradeCount]) => ({ source: 'TWS', symbol: 'AAPL', conId: 265598, barSize, whatToShow, ts, open, high, low, close, volume, wap, tradeCount, requestId: 'req-1' }));
}

// 09:30-09:34 New York on Monday 2024-11-25 (EST, UTC-5) = 14:30-14:34 UTC.
const minute = (m: number): number => Date.UTC(2024, 10, 25, 14, 30 + m);

const TRADES_1MIN = bars('TRADES', '1 min', [
  [minute(0), 219.97, 220.08, 219.97, 220.04, 50954, 220.0268, 850],
  [minute(1), 220.04, 220.09, 219.95, 220, 45061, 220.0223, 753],
  [minute(2), 220, 220.1, 219.94, 220.09, 51869, 220.0126, 865],
  [minute(3), 220.09, 220.16, 220.03, 220.06, 49738, 220.0867, 829],
  [minute(4), 220.06, 220.09, 219.84, 219.89, 41321, 219.9487, 689],
]);

describe('IB bar payload -> BarEvent, on payloads recorded from the simulated gateway', () => {
  it('1-min TRADES bars in epoch seconds (formatDate 2): bar starts in UTC, volume, WAP and count as sent', () => {
    expect(mapped(load<BarPayloadFixture>('aapl-1min-trades-epoch'))).toEqual(TRADES_1MIN);
  });

  it('the same bars in `yyyymmdd hh:mm:ss US/Eastern` (formatDate 1) map to the same instants', () => {
    expect(mapped(load<BarPayloadFixture>('aapl-1min-trades-zoned'))).toEqual(TRADES_1MIN);
  });

  it('MIDPOINT bars carry -1 for volume, WAP and count: volume 0, WAP and trade count NULL', () => {
    expect(mapped(load<BarPayloadFixture>('aapl-1min-midpoint-epoch'))).toEqual(
      bars('MIDPOINT', '1 min', [
        [minute(0), 219.97, 220.08, 219.97, 220.04, 0, null, null],
        [minute(1), 220.04, 220.09, 219.95, 220, 0, null, null],
        [minute(2), 220, 220.1, 219.94, 220.09, 0, null, null],
        [minute(3), 220.09, 220.16, 220.03, 220.06, 0, null, null],
        [minute(4), 220.06, 220.09, 219.84, 219.89, 0, null, null],
      ]),
    );
  });

  it('daily bars come as `yyyymmdd` session dates: local midnight in the contract zone (05:00 UTC in November), Thanksgiving absent', () => {
    const midnight = (d: number): number => Date.UTC(2024, 10, d, 5, 0);
    expect(mapped(load<BarPayloadFixture>('aapl-1day-trades'))).toEqual(
      bars('TRADES', '1 day', [
        [midnight(25), 219.97, 220.31, 217.37, 217.76, 8796061, 219.3342, 146663],
        [midnight(26), 215.94, 216.86, 214.41, 215.82, 8872997, 215.5481, 147953],
        [midnight(27), 214.37, 216.8, 214.27, 216.78, 8786072, 215.5161, 146456],
        [midnight(29), 213.68, 215.07, 212.63, 214.86, 4769600, 213.9847, 79519],
      ]),
    );
  });

  it('hand-made edge payloads: a fractional count is rounded, a missing or non-finite WAP / count is NULL, negative volume is 0', () => {
    const ctx = { contract: { conId: 1, timeZone: 'UTC' }, symbol: 'X', barSize: '1 min' as const, whatToShow: 'TRADES', requestId: 'r' };
    const base = { time: '1732545000', open: 1, high: 2, low: 0.5, close: 1.5 };
    expect(ibBarToBarEvent({ ...base, volume: 10, count: 2.6, wap: Number.NaN }, ctx)).toMatchObject({ volume: 10, tradeCount: 3, wap: null });
    expect(ibBarToBarEvent({ ...base, volume: -5, count: undefined as unknown as number, wap: 0 }, ctx)).toMatchObject({ volume: 0, tradeCount: null, wap: 0 });
    expect(() => ibBarToBarEvent({ ...base, time: 'yesterday', volume: 1, count: 1, wap: 1 }, ctx)).toThrow(/unrecognised IB bar time/);
  });
});

describe('IB contract details <-> contracts', () => {
  it('the recorded AAPL details resolve to its conId, zone and hours, the spec filling what IB leaves out', () => {
    const f = load<ContractDetailsFixture>('aapl-contract-details');
    const d = f.details[0] as unknown as IbContractDetails;
    const resolved = contractFromDetails(d, AAPL);
    expect(resolved).toEqual({
      conId: 265598,
      symbol: 'AAPL',
      secType: 'STK',
      exchange: 'SMART',
      primaryExchange: 'NASDAQ',
      currency: 'USD',
      localSymbol: 'AAPL',
      lastTradeDateOrContractMonth: undefined,
      timeZone: 'US/Eastern',
      tradingHours: '20241202:0400-20241202:2000;20241203:0400-20241203:2000;20241204:0400-20241204:2000;20241205:0400-20241205:2000;20241206:0400-20241206:2000;20241207:CLOSED;20241208:CLOSED',
      liquidHours: '20241202:0930-20241202:1600;20241203:0930-20241203:1600;20241204:0930-20241204:1600;20241205:0930-20241205:1600;20241206:0930-20241206:1600;20241207:CLOSED;20241208:CLOSED',
      longName: 'APPLE INC',
    });
    // An answer without a conId resolves nothing; one without a zone is taken as UTC.
    expect(contractFromDetails({ contract: { symbol: 'AAPL' } }, AAPL)).toBeNull();
    expect(contractFromDetails({ contract: { conId: 7 } }, AAPL)).toMatchObject({ conId: 7, symbol: 'AAPL', timeZone: 'UTC', primaryExchange: 'NASDAQ', tradingHours: '' });
    if (!resolved) throw new Error('unreachable');
    expect(toRequestContract(resolved)).toEqual({ conId: 265598, symbol: 'AAPL', secType: 'STK', exchange: 'SMART', currency: 'USD', primaryExch: 'NASDAQ', localSymbol: 'AAPL' });
  });

  it('a spec asks by its fields, with a futures month and multiplier when configured', () => {
    expect(specToIbContract(AAPL)).toEqual({ symbol: 'AAPL', secType: 'STK', exchange: 'SMART', currency: 'USD', primaryExch: 'NASDAQ' });
    expect(specToIbContract({ ...AAPL, sec_type: 'FUT', symbol: 'ES', exchange: 'CME', primary_exchange: undefined, last_trade_date_or_contract_month: '202503', multiplier: '50', con_id: 5 })).toEqual({
      symbol: 'ES',
      secType: 'FUT',
      exchange: 'CME',
      currency: 'USD',
      conId: 5,
      lastTradeDateOrContractMonth: '202503',
      multiplier: 50,
    });
  });
});

describe('the committed payload fixtures', () => {
  it('are what @stoqey/ib delivers from the sim today (re-record with `npx tsx test/support/record-ib-payloads.ts`)', async () => {
    const { bars: recorded, contracts } = await recordIbPayloads();
    for (const f of [...recorded, ...contracts]) expect(fixtureText(f), f.name).toBe(readFileSync(join(FIXTURE_DIR, `${f.name}.json`), 'utf8'));
  });
});
