import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { RawStore } from '../../src/storage/raw-store.js';
import { makeBars } from '../support/bar-factory.js';
import { openTempLake, type TempLake } from '../support/temp-lake.js';

let t: TempLake;
beforeEach(async () => {
  t = await openTempLake();
});
afterEach(async () => {
  await t.cleanup();
});

const utc = (s: string): number => Date.parse(s);
const day = '2024-11-26';
const ORDER = 'ORDER BY symbol, ts, batch_id';

describe('RawStore.leaseDate (the live chain’s cache of a day’s raw rows)', () => {
  it('is off unless asked for', async () => {
    await t.raw.writeTwsBars(makeBars('AAPL', utc('2024-11-26T14:30:00Z'), utc('2024-11-26T14:35:00Z')), 'p1', 1);
    expect(await t.raw.leaseDate(day)).toBeNull();
  });

  it('holds exactly relationSql’s rows through appends (also by another writer), corrections and a compaction', async () => {
    t.raw.cacheRecentDates();
    // Another process's store on the same lake: its batches reach this one through the ledger.
    const other = new RawStore(t.lake, t.calendars);
    const same = async (): Promise<number> => {
      const lease = await t.raw.leaseDate(day);
      if (!lease) throw new Error('no lease');
      try {
        const cached = await t.lake.query(`SELECT * FROM ${lease.sql} ${ORDER}`);
        const direct = await t.lake.query(`SELECT * FROM ${t.raw.relationSql({ start: day, end: day })} ${ORDER}`);
        expect(cached).toEqual(direct);
        return cached.length;
      } finally {
        lease.release();
      }
    };
    const a = makeBars('MSFT', utc('2024-11-26T14:30:00Z'), utc('2024-11-26T15:00:00Z'));
    await t.raw.writeTwsBars(a, 'p1', 1);
    expect(await same()).toBe(30);
    await other.writeTwsBars(makeBars('AAPL', utc('2024-11-26T14:45:00Z'), utc('2024-11-26T15:15:00Z')), 'p2', 2);
    expect(await same()).toBe(60);
    // A correction of bars already cached: a new version row, the old one kept (dedup is the transform's).
    await t.raw.writeTwsBars(a.slice(0, 5).map((b) => ({ ...b, close: b.close + 1 })), 'p3', 3);
    expect(await same()).toBe(65);
    // The other day is untouched by this date's cache.
    await t.raw.writeTwsBars(makeBars('MSFT', utc('2024-11-27T14:30:00Z'), utc('2024-11-27T14:40:00Z')), 'p4', 4);
    expect(await same()).toBe(65);
    // Compaction replaces the files the cache was built from: rebuilt, no row twice.
    await other.compactRaw(day);
    expect(await same()).toBe(65);
    await t.raw.writeTwsBars(makeBars('SPY', utc('2024-11-26T14:30:00Z'), utc('2024-11-26T14:40:00Z')), 'p5', 5);
    expect(await same()).toBe(75);
  });

  it('gives the next lease only after the previous one is released', async () => {
    t.raw.cacheRecentDates();
    await t.raw.writeTwsBars(makeBars('AAPL', utc('2024-11-26T14:30:00Z'), utc('2024-11-26T14:35:00Z')), 'p1', 1);
    const first = await t.raw.leaseDate(day);
    let second = false;
    const next = t.raw.leaseDate(day).then((l) => {
      second = true;
      return l;
    });
    await t.raw.writeTwsBars(makeBars('AAPL', utc('2024-11-26T14:35:00Z'), utc('2024-11-26T14:40:00Z')), 'p2', 2);
    // The first holder still reads the rows it was leased (the table is not refreshed under it).
    expect(await t.lake.query(`SELECT count(*) AS n FROM ${first?.sql ?? ''}`)).toEqual([{ n: 5 }]);
    expect(second).toBe(false);
    first?.release();
    const l2 = await next;
    expect(await t.lake.query(`SELECT count(*) AS n FROM ${l2?.sql ?? ''}`)).toEqual([{ n: 10 }]);
    l2?.release();
  });
});
