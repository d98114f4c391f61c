import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';
import { EventName } from '@stoqey/ib';
import { afterAll, describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/core/clock.js';
import { startSimGateway } from '../../src/sim/sim-server.js';
import { readTableFile } from '../../src/storage/table-file.js';
import { IbProbe, utcSeconds } from './ib-probe.js';

/** Replaying recorded bars (CSV or Parquet) instead of the synthetic market. */
const dir = mkdtempSync(join(tmpdir(), 'ibpipe-replay-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

// Ten recorded 1-min bars from 2024-11-27 09:30 New York (14:30 UTC), written by hand.
const ROWS = Array.from({ length: 10 }, (_, i) => {
  const o = 50 + i;
  return {
    ts: `2024-11-27T14:${30 + i}:00Z`,
    open: o,
    high: o + 0.5,
    low: o - 0.25,
    close: o + 0.25,
    volume: 100 * (i + 1),
  };
});

function csv(withSymbol: boolean): string {
  const header = withSymbol ? 'symbol,ts,open,high,low,close,volume' : 'ts,open,high,low,close,volume';
  const lines = ROWS.map(
    (r) => `${withSymbol ? 'RPL,' : ''}${r.ts},${r.open},${r.high},${r.low},${r.close},${r.volume}`,
  );
  const other = withSymbol ? ['OTHER,2024-11-27T14:30:00Z,1,1,1,1,1'] : [];
  return [header, ...lines, ...other].join('\n');
}

const INSTRUMENT = {
  key: 'RPL',
  sec_type: 'STK' as const,
  symbol: 'RPL',
  exchange: 'SMART',
  primary_exchange: 'NYSE',
  currency: 'USD',
  con_id: 777001,
  calendar: 'XNYS' as const,
  start_price: 1,
  volatility: 0.2,
};
const RPL = { symbol: 'RPL', secType: 'STK' as never, exchange: 'SMART', currency: 'USD' };

describe('replay', () => {
  it('serves a CSV file bar for bar, aggregated and split for other bar sizes', async () => {
    const file = join(dir, 'bars.csv');
    writeFileSync(file, csv(true));
    const gw = await startSimGateway({
      port: 0,
      clock: new ManualClock(Date.UTC(2024, 11, 2)),
      readReplayFile: readTableFile,
      builtinInstruments: false,
      instruments: [{ ...INSTRUMENT, replay_file: file }],
    });
    const ib = new IbProbe(gw.port);
    try {
      await ib.connect(61);
      const minutes = await ib.historical(
        1,
        RPL,
        '20241127 16:00:00 US/Eastern',
        '23400 S',
        '1 min',
        'TRADES',
        1,
        2,
      );
      expect(minutes.bars.map((b) => [Number(b.date), b.open, b.high, b.low, b.close, b.volume])).toEqual(
        ROWS.map((r, i) => [utcSeconds(2024, 11, 27, 14, 30 + i), r.open, r.high, r.low, r.close, r.volume]),
      );
      const five = await ib.historical(
        2,
        RPL,
        '20241127 16:00:00 US/Eastern',
        '23400 S',
        '5 mins',
        'TRADES',
        1,
        2,
      );
      expect(five.bars.map((b) => [b.open, b.high, b.low, b.close, b.volume])).toEqual([
        [50, 54.5, 49.75, 54.25, 1500],
        [55, 59.5, 54.75, 59.25, 4000],
      ]);
      const secs = await ib.historical(
        3,
        RPL,
        '20241127 09:31:00 US/Eastern',
        '60 S',
        '5 secs',
        'TRADES',
        1,
        2,
      );
      expect(secs.bars).toHaveLength(12);
      expect(secs.bars[0]?.open).toBe(50);
      expect(secs.bars[11]?.close).toBe(50.25);
      expect(Math.max(...secs.bars.map((b) => b.high))).toBe(50.5);
      expect(Math.min(...secs.bars.map((b) => b.low))).toBe(49.75);
      expect(secs.bars.reduce((s, b) => s + b.volume, 0)).toBe(100);
      const heads: string[] = [];
      ib.api.on(EventName.headTimestamp, (_id: number, t: string) => heads.push(t));
      ib.api.reqHeadTimestamp(4, RPL, 'TRADES' as never, true, 2);
      await ib.waitUntil(() => heads.length === 1, 60_000, 'head');
      expect(heads[0]).toBe(String(utcSeconds(2024, 11, 27, 14, 30)));
      expect(ib.decodeErrors()).toEqual([]);
    } finally {
      ib.disconnect();
      await gw.close();
    }
  });

  it('reads Parquet too', async () => {
    const file = join(dir, 'bars.parquet');
    const db = await DuckDBInstance.create(':memory:');
    const conn = await db.connect();
    writeFileSync(join(dir, 'plain.csv'), csv(false));
    await conn.run(
      `COPY (SELECT CAST(ts AS TIMESTAMPTZ) AS ts, open, high, low, close, volume FROM read_csv_auto('${join(dir, 'plain.csv')}')) TO '${file}' (FORMAT parquet)`,
    );
    conn.closeSync();
    db.closeSync();
    const gw = await startSimGateway({
      port: 0,
      clock: new ManualClock(Date.UTC(2024, 11, 2)),
      readReplayFile: readTableFile,
      builtinInstruments: false,
      instruments: [{ ...INSTRUMENT, replay_file: file }],
    });
    const ib = new IbProbe(gw.port);
    try {
      await ib.connect(62);
      const r = await ib.historical(
        1,
        RPL,
        '20241127 10:00:00 US/Eastern',
        '1800 S',
        '1 min',
        'TRADES',
        1,
        1,
      );
      expect(r.bars).toHaveLength(10);
      expect(r.bars[9]).toMatchObject({
        date: '20241127 09:39:00 US/Eastern',
        open: 59,
        close: 59.25,
        volume: 1000,
      });
    } finally {
      ib.disconnect();
      await gw.close();
    }
  });
});
