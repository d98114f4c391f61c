import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { InputError } from '../../src/core/errors.js';
import { makeBar, makeBars } from '../support/bar-factory.js';
import { openTempLake, type TempLake } from '../support/temp-lake.js';

let t: TempLake;
beforeEach(async () => {
  t = await openTempLake();
});
afterEach(async () => {
  await t.cleanup();
});

const utc = (s: string): number => Date.parse(s);

describe('RawStore', () => {
  it('round-trips bars across a DST change', async () => {
    // 2024-03-08 (EST, opens 14:30Z) and 2024-03-11 (EDT, opens 13:30Z): the US switched on 03-10.
    const before = makeBars('AAPL', utc('2024-03-08T14:30:00Z'), utc('2024-03-08T14:40:00Z'));
    const after = makeBars('AAPL', utc('2024-03-11T13:30:00Z'), utc('2024-03-11T13:40:00Z'));
    await t.raw.writeTwsBars([...before, ...after], 'b1', utc('2024-03-11T20:00:00Z'));
    const rows = await t.raw.readTwsBars({ start: '2024-03-08', end: '2024-03-11' });
    expect(rows).toHaveLength(20);
    expect(rows.map((r) => r.ts)).toEqual([...before, ...after].map((b) => b.ts));
    expect(rows[0]).toMatchObject({ symbol: 'AAPL', open: before[0]!.open, close: before[0]!.close, volume: before[0]!.volume, wap: before[0]!.wap, trade_count: 10, con_id: before[0]!.conId, bar_size: '1min', batch_id: 'b1', source: 'TWS' });
    expect((rows[10] as unknown as Record<string, unknown>).date).toBeUndefined();
    // partitions are New York session dates
    const dirs = readdirSync(join(t.dir, 'raw/tws_bars/bar_size=1min')).sort();
    expect(dirs).toEqual(['date=2024-03-08', 'date=2024-03-11']);
  });

  it('partitions a CME bar by its session date, not its UTC date', async () => {
    // Sunday 2024-11-24 17:00 Chicago = 23:00Z opens Monday 2024-11-25's session.
    const bars = makeBars('ES-202503', utc('2024-11-24T23:00:00Z'), utc('2024-11-24T23:05:00Z'));
    await t.raw.writeTwsBars(bars, 'es1', 1);
    expect(existsSync(join(t.dir, 'raw/tws_bars/bar_size=1min/date=2024-11-25', 'batch-es1.parquet'))).toBe(true);
    const rows = await t.raw.readTwsBars({ start: '2024-11-25', end: '2024-11-25', symbols: ['ES-202503'] });
    expect(rows.map((r) => r.ts)).toEqual(bars.map((b) => b.ts));
    expect(await t.raw.readTwsBars({ start: '2024-11-24', end: '2024-11-24' })).toHaveLength(0);
  });

  it('is idempotent per batch id', async () => {
    const bars = makeBars('MSFT', utc('2024-11-26T14:30:00Z'), utc('2024-11-26T15:30:00Z'));
    const first = await t.raw.writeTwsBars(bars, 'page-1', 10);
    const second = await t.raw.writeTwsBars(bars, 'page-1', 20);
    expect(first.written).toBe(true);
    expect(second.written).toBe(false);
    expect(await t.raw.readTwsBars({ start: '2024-11-26', end: '2024-11-26' })).toHaveLength(60);
  });

  it('dedups overlapping batches by the latest ingestion', async () => {
    const ts = utc('2024-11-26T14:30:00Z');
    await t.raw.writeTwsBars([makeBar('SPY', ts, { close: 1 })], 'a', 100);
    await t.raw.writeTwsBars([makeBar('SPY', ts, { close: 2 }), makeBar('SPY', ts + 60_000)], 'b', 200);
    const all = await t.raw.readTwsBars({ start: '2024-11-26', end: '2024-11-26' });
    expect(all).toHaveLength(3);
    const dedup = await t.raw.readTwsBars({ start: '2024-11-26', end: '2024-11-26', dedup: true });
    expect(dedup.map((r) => [r.ts, r.close])).toEqual([
      [ts, 2],
      [ts + 60_000, makeBar('SPY', ts + 60_000).close],
    ]);
  });

  it('refuses hostile symbols and bad rows before writing anything', async () => {
    const good = makeBar('AAPL', utc('2024-11-26T14:30:00Z'));
    for (const sym of ['../../etc', 'A/B', '..']) {
      await expect(t.raw.writeTwsBars([good, { ...good, symbol: sym }], `x${sym.length}`, 1)).rejects.toBeInstanceOf(InputError);
    }
    await expect(t.raw.writeTwsBars([good, { ...good, ts: 1.5 }], 'y', 1)).rejects.toThrow(/row 1: ts/);
    await expect(t.raw.writeTwsBars([good], '../evil', 1)).rejects.toBeInstanceOf(InputError);
    // an unknown (unconfigured) but well-formed symbol is refused too: it has no calendar
    await expect(t.raw.writeTwsBars([{ ...good, symbol: 'ZZZ' }], 'z', 1)).rejects.toThrow(/unknown symbol/);
    expect(existsSync(join(t.dir, 'raw'))).toBe(false);
  });

  it('compacts a date losslessly into one sorted file', async () => {
    const day = '2024-11-26';
    const a = makeBars('MSFT', utc('2024-11-26T14:30:00Z'), utc('2024-11-26T15:00:00Z'));
    const b = makeBars('AAPL', utc('2024-11-26T14:45:00Z'), utc('2024-11-26T15:15:00Z'));
    await t.raw.writeTwsBars(a, 'p1', 1);
    await t.raw.writeTwsBars(b, 'p2', 2);
    await t.raw.writeTwsBars(a.slice(0, 5), 'p3', 3);
    const before = await t.raw.readTwsBars({ start: day, end: day });
    const res = await t.raw.compactRaw(day);
    expect(res.filesBefore).toBe(3);
    const files = readdirSync(join(t.dir, 'raw/tws_bars/bar_size=1min', `date=${day}`));
    expect(files).toHaveLength(1);
    expect(files[0]).toMatch(/^compacted-[0-9a-f]{16}\.parquet$/);
    const after = await t.raw.readTwsBars({ start: day, end: day });
    expect(after).toEqual(before);
    // file order is (symbol, ts)
    const inFile = await t.lake.query<{ symbol: string; ts: number }>(`SELECT symbol, ts FROM read_parquet('${res.path}')`);
    const sorted = [...inFile].sort((x, y) => x.symbol.localeCompare(y.symbol) || x.ts - y.ts);
    expect(inFile).toEqual(sorted);
    // batches stay idempotent after compaction
    expect((await t.raw.writeTwsBars(a, 'p1', 9)).written).toBe(false);
  });
});
