import { readFileSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/core/clock.js';
import { InputError } from '../../src/core/errors.js';
import { sqlString } from '../../src/core/sql.js';
import type { RawBatchPart } from '../../src/storage/raw-bar-columns.js';
import { RawBatchWriter } from '../../src/storage/raw-batch-writer.js';
import type { GroupWriteResult } from '../../src/storage/raw-store.js';
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
const OPEN = (d: string): number => utc(`${d}T14:30:00Z`);

/** One XNYS session page of a symbol (390 one-minute bars), as a backfill window returns it. */
function page(symbol: string, date: string): RawBatchPart {
  return { batchId: `bf-${symbol}-${date}`, events: makeBars(symbol, OPEN(date), OPEN(date) + 390 * 60_000) };
}

interface LedgerLine {
  type: string;
  batch_id: string;
  rows: number;
  files: { date: string; path: string; rows: number }[];
  parts?: { batch_id: string; rows: number; dates: string[] }[];
}

function rawLedger(): LedgerLine[] {
  return readFileSync(join(t.dir, 'state', 'raw_batches.jsonl'), 'utf8')
    .split('\n')
    .filter((l) => l.trim())
    .map((l) => JSON.parse(l) as LedgerLine);
}

function ledgerLines(): number {
  try {
    return rawLedger().length;
  } catch {
    return 0;
  }
}

describe('RawBatchWriter (group commit)', () => {
  it('closes a group by rows: three pages become one commit, one file per date, each row keeping its page id', async () => {
    const clock = new ManualClock();
    const writer = new RawBatchWriter(t.raw, clock, { maxRows: 1000, maxDelayMs: 2000 });
    const pages = [page('MSFT', '2024-11-26'), page('AAPL', '2024-11-26'), page('AAPL', '2024-11-25')];
    const tickets = [];
    for (const p of pages) tickets.push(await writer.submit(p));
    // 3 x 390 = 1170 rows >= 1000: committed without the clock moving.
    const results = await Promise.all(tickets.map((tk) => tk.committed));
    expect(writer.commits).toBe(1);
    expect(results.map((r) => [r.batchId, r.written, r.rows, r.dates])).toEqual([
      ['bf-MSFT-2024-11-26', true, 390, ['2024-11-26']],
      ['bf-AAPL-2024-11-26', true, 390, ['2024-11-26']],
      ['bf-AAPL-2024-11-25', true, 390, ['2024-11-25']],
    ]);
    const [line] = rawLedger();
    expect(rawLedger()).toHaveLength(1);
    expect(line?.batch_id).toMatch(/^g-[0-9a-f]{32}$/);
    expect(line?.rows).toBe(1170);
    expect(line?.files.map((f) => [f.date, f.rows])).toEqual([
      ['2024-11-25', 390],
      ['2024-11-26', 780],
    ]);
    expect(new Set(line?.parts?.map((p) => p.batch_id))).toEqual(new Set(pages.map((p) => p.batchId)));
    for (const p of pages) expect(t.raw.hasBatch(p.batchId)).toBe(true);

    // Every bar as it was given, under its own page's batch id.
    const rows = await t.raw.readTwsBars({ start: '2024-11-25', end: '2024-11-26' });
    expect(rows).toHaveLength(1170);
    const want = pages.flatMap((p) => p.events.map((e) => ({ ...e, batch_id: p.batchId })));
    const key = (symbol: string, ts: number): string => `${symbol}|${ts}`;
    const byKey = new Map(want.map((w) => [key(w.symbol, w.ts), w]));
    for (const r of rows) {
      const w = byKey.get(key(r.symbol, r.ts));
      expect(r).toMatchObject({ batch_id: w?.batch_id, open: w?.open, high: w?.high, low: w?.low, close: w?.close, volume: w?.volume, wap: w?.wap, trade_count: w?.tradeCount, con_id: w?.conId, request_id: w?.requestId, source: 'TWS', what_to_show: 'TRADES' });
    }
    // The file of 11-26 holds two pages, physically sorted by (symbol, ts): row groups prune by symbol.
    const file = join(t.dir, line?.files.find((f) => f.date === '2024-11-26')?.path ?? '');
    const order = await t.lake.query<{ symbol: string; ts: number }>(`SELECT symbol, ts FROM read_parquet(${sqlString(file)})`);
    const sortedOrder = [...order].sort((a, b) => a.symbol.localeCompare(b.symbol) || a.ts - b.ts);
    expect(order).toEqual(sortedOrder);
    expect(order[0]?.symbol).toBe('AAPL');
  });

  it('closes a group by time on the clock: nothing is committed before the delay, everything at it', async () => {
    const clock = new ManualClock();
    const writer = new RawBatchWriter(t.raw, clock, { maxRows: 1_000_000, maxDelayMs: 2000 });
    const a = await writer.submit(page('SPY', '2024-11-26'));
    await clock.advance(500);
    const b = await writer.submit(page('MSFT', '2024-11-26'));
    let settled = 0;
    void a.committed.then(() => settled++);
    void b.committed.then(() => settled++);
    await clock.advance(1499); // 1999 ms after the first page
    expect(settled).toBe(0);
    expect(ledgerLines()).toBe(0);
    expect(writer.pendingRows).toBe(780);
    await clock.advance(1);
    await Promise.all([a.committed, b.committed]);
    expect(settled).toBe(2);
    expect(writer.commits).toBe(1);
    expect(rawLedger()[0]?.parts).toHaveLength(2);
    // The clock is idle again: no timer is left behind.
    expect(clock.pending).toBe(0);
  });

  it('a ticket settles only after its group line is in the raw ledger, and flush commits what is pending', async () => {
    const clock = new ManualClock();
    const writer = new RawBatchWriter(t.raw, clock, { maxRows: 1_000_000, maxDelayMs: 60_000 });
    const p = page('AAPL', '2024-11-26');
    const seen: boolean[] = [];
    const ticket = await writer.submit(p);
    const done = ticket.committed.then(() => seen.push(t.raw.hasBatch(p.batchId) && ledgerLines() === 1));
    await writer.flush();
    await done;
    expect(seen).toEqual([true]);
    expect(clock.pending).toBe(0);
  });

  it('a failing group rejects its own tickets, writes nothing, and the next group commits', async () => {
    const clock = new ManualClock();
    const writer = new RawBatchWriter(t.raw, clock, { maxRows: 500, maxDelayMs: 2000 });
    const good = page('MSFT', '2024-11-26');
    const bad: RawBatchPart = { batchId: 'bf-bad', events: [makeBar('AAPL', OPEN('2024-11-26'), { symbol: '../etc' })] };
    const t1 = await writer.submit(bad);
    const t2 = await writer.submit(good); // 391 rows < 500: the group closes at flush
    await writer.flush();
    await expect(t1.committed).rejects.toBeInstanceOf(InputError);
    await expect(t2.committed).rejects.toBeInstanceOf(InputError);
    expect(ledgerLines()).toBe(0);
    expect(readdirSync(t.dir).includes('raw') ? readdirSync(join(t.dir, 'raw')) : []).toEqual([]);
    const t3 = await writer.submit(good);
    await writer.flush();
    await expect(t3.committed).resolves.toMatchObject({ batchId: good.batchId, written: true, rows: 390 });
  });

  it('holds submitters back while a closed group waits behind a commit (memory stays bounded)', async () => {
    const clock = new ManualClock();
    let release: (() => void) | undefined;
    const gate = new Promise<void>((r) => (release = r));
    let started = 0;
    // The real store behind a gate, so a commit can be held in flight.
    const sink = {
      writeBatchGroup: async (parts: readonly RawBatchPart[], ts: number): Promise<GroupWriteResult> => {
        started++;
        await gate;
        return t.raw.writeBatchGroup(parts, ts);
      },
    };
    const writer = new RawBatchWriter(sink, clock, { maxRows: 390, maxDelayMs: 2000 });
    await writer.submit(page('AAPL', '2024-11-25')); // group 1 closes and starts committing
    await writer.submit(page('AAPL', '2024-11-26')); // group 2 closes and waits
    let third = false;
    const p3 = writer.submit(page('MSFT', '2024-11-26')).then(() => (third = true));
    await clock.advance(10);
    expect(started).toBe(1);
    expect(third).toBe(false);
    release?.();
    await p3;
    expect(third).toBe(true);
    await writer.flush();
    expect(writer.commits).toBe(3);
    expect(rawLedger().map((l) => l.parts?.length ?? 1)).toEqual([1, 1, 1]);
  });
});

describe('RawStore group writes', () => {
  it('skips parts already committed, and rewrites only the lost date of a part whose file is gone', async () => {
    const a = page('AAPL', '2024-11-25');
    const b: RawBatchPart = {
      batchId: 'bf-two-days',
      events: [...makeBars('MSFT', OPEN('2024-11-25'), OPEN('2024-11-25') + 30 * 60_000), ...makeBars('MSFT', OPEN('2024-11-26'), OPEN('2024-11-26') + 30 * 60_000)],
    };
    const first = await t.raw.writeBatchGroup([a, b], 1000);
    expect(first.parts.map((p) => p.written)).toEqual([true, true]);
    const again = await t.raw.writeBatchGroup([a, b], 2000);
    expect(again).toMatchObject({ groupId: null, rows: 0 });
    expect(again.parts.map((p) => p.written)).toEqual([false, false]);

    // The file of 11-26 disappears (a partly restored lake).
    const lostFile = join(t.dir, rawLedger()[0]?.files.find((f) => f.date === '2024-11-26')?.path ?? '');
    rmSync(lostFile);
    const presence = t.raw.batchPresence([a.batchId, b.batchId, 'never']);
    expect(presence.get(a.batchId)).toEqual({ committed: true, missing: [] });
    expect(presence.get(b.batchId)).toEqual({ committed: true, missing: [{ date: '2024-11-26', path: lostFile }] });
    expect(presence.get('never')).toEqual({ committed: false, missing: [] });
    expect(t.raw.hasBatch(b.batchId)).toBe(false);

    // Marked lost, readers stop listing it (they would fail on a missing file) …
    t.raw.markLost([lostFile], 'test', 3000);
    expect(t.raw.visibleFiles('1 min', ['2024-11-26']).get('2024-11-26') ?? []).toEqual([]);
    expect(await t.raw.readTwsBars({ start: '2024-11-25', end: '2024-11-26' })).toHaveLength(390 + 30);
    // … and writing the part again fills exactly the lost date: nothing doubled on 11-25.
    const refill = await t.raw.writeBatchGroup([a, b], 4000);
    expect(refill.parts.map((p) => [p.written, p.rows, p.dates])).toEqual([
      [false, 0, []],
      [true, 30, ['2024-11-26']],
    ]);
    const rows = await t.raw.readTwsBars({ start: '2024-11-25', end: '2024-11-26' });
    expect(rows).toHaveLength(390 + 60);
    expect(new Set(rows.map((r) => `${r.symbol}|${r.ts}|${r.batch_id}`)).size).toBe(rows.length);
    expect(t.raw.hasBatch(b.batchId)).toBe(true);
  });

  it('writes an unordered flush of many symbols sorted, with NULLs for missing wap, trade count, conId, request id and NaN prices', async () => {
    const ts = OPEN('2024-11-26');
    const events = [
      makeBar('SPY', ts + 60_000),
      makeBar('AAPL', ts + 60_000, { wap: null, tradeCount: null, conId: null, requestId: null }),
      makeBar('MSFT', ts),
      makeBar('AAPL', ts, { close: Number.NaN }),
    ];
    await t.raw.writeTwsBars(events, 'live-1', 5000);
    const file = join(t.dir, 'raw/tws_bars/bar_size=1min/date=2024-11-26/batch-live-1.parquet');
    const rows = await t.lake.query<{ symbol: string; ts: number; close: number | null; wap: number | null; trade_count: number | null; con_id: number | null; ingestion_ts: number; request_id: string | null }>(
      `SELECT symbol, ts, close, wap, trade_count, con_id, ingestion_ts, request_id FROM read_parquet(${sqlString(file)})`,
    );
    expect(rows.map((r) => [r.symbol, r.ts])).toEqual([
      ['AAPL', ts],
      ['AAPL', ts + 60_000],
      ['MSFT', ts],
      ['SPY', ts + 60_000],
    ]);
    expect(rows[0]?.close).toBeNull();
    expect(rows[1]).toMatchObject({ wap: null, trade_count: null, con_id: null, request_id: null });
    expect(rows[2]).toMatchObject({ wap: events[2]?.wap, trade_count: 10, con_id: events[2]?.conId, ingestion_ts: 5000, request_id: 'req-1' });
  });
});
