import { existsSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { InputError } from '../../src/core/errors.js';
import { RawStore } from '../../src/storage/raw-store.js';
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

describe('RawStore.writeRelation', () => {
  const rel = (rows: string): string =>
    `(SELECT * FROM (VALUES ${rows}) v(symbol, con_id, what_to_show, ts, open, high, low, close, volume, wap, trade_count, request_id))`;
  const row = (symbol: string, iso: string, close: number, extra = "'TRADES'"): string =>
    `('${symbol}', 7, ${extra}, TIMESTAMPTZ '${iso}', 1.0, 2.0, 0.5, ${close}, 10.0, NULL, NULL, 'f.csv')`;

  it('writes a batch from SQL with the same files-then-ledger commit; a committed id is a no-op', async () => {
    const seen: { batchId: string; rows: number; last: number | undefined }[] = [];
    t.raw.onCommit((info) => seen.push({ batchId: info.batchId, rows: info.rows, last: info.lastTs.get('AAPL') }));
    const batch = { batchId: 'rel-1', source: 'FILE', barSize: '1 min' as const, ingestionTs: utc('2024-11-27T00:00:00Z') };
    const sql = rel([row('MSFT', '2024-11-26T14:31:00Z', 3), row('AAPL', '2024-11-26T14:31:00Z', 2), row('AAPL', '2024-11-26T14:30:00Z', 1)].join(', '));
    const res = await t.raw.writeRelation(sql, batch);
    expect(res).toEqual({ batchId: 'rel-1', written: true, rows: 3, dates: ['2024-11-26'] });
    expect(t.raw.hasBatch('rel-1')).toBe(true);
    expect(seen).toEqual([{ batchId: 'rel-1', rows: 3, last: utc('2024-11-26T14:31:00Z') }]);
    const file = join(t.dir, 'raw/tws_bars/bar_size=1min/date=2024-11-26/batch-rel-1.parquet');
    const inFile = await t.lake.query(`SELECT * FROM read_parquet('${file}')`);
    expect(inFile.map((r) => [r.source, r.symbol, r.ts, r.close, r.con_id, r.what_to_show, r.batch_id, r.ingestion_ts, r.request_id])).toEqual([
      ['FILE', 'AAPL', utc('2024-11-26T14:30:00Z'), 1, 7, 'TRADES', 'rel-1', utc('2024-11-27T00:00:00Z'), 'f.csv'],
      ['FILE', 'AAPL', utc('2024-11-26T14:31:00Z'), 2, 7, 'TRADES', 'rel-1', utc('2024-11-27T00:00:00Z'), 'f.csv'],
      ['FILE', 'MSFT', utc('2024-11-26T14:31:00Z'), 3, 7, 'TRADES', 'rel-1', utc('2024-11-27T00:00:00Z'), 'f.csv'],
    ]);
    expect(await t.raw.writeRelation(rel(row('SPY', '2024-11-26T14:30:00Z', 9)), batch)).toMatchObject({ written: false, rows: 0 });
    expect(await t.raw.readTwsBars({ start: '2024-11-26', end: '2024-11-26' })).toHaveLength(3);
  });

  it('a committed batch whose file of one date was lost is written again for that date only', async () => {
    const batch = { batchId: 'rel-lost', source: 'FILE', barSize: '1 min' as const, ingestionTs: 5 };
    const sql = rel([row('AAPL', '2024-11-25T14:30:00Z', 1), row('AAPL', '2024-11-26T14:30:00Z', 2), row('AAPL', '2024-11-26T14:31:00Z', 3)].join(', '));
    await t.raw.writeRelation(sql, batch);
    const lost = join(t.dir, 'raw/tws_bars/bar_size=1min/date=2024-11-26/batch-rel-lost.parquet');
    rmSync(lost);
    t.raw.markLost([lost], 'test', 6);
    expect(t.raw.hasBatch('rel-lost')).toBe(false);
    expect(await t.raw.writeRelation(sql, batch)).toEqual({ batchId: 'rel-lost', written: true, rows: 2, dates: ['2024-11-26'] });
    expect(t.raw.hasBatch('rel-lost')).toBe(true);
    const rows = await t.raw.readTwsBars({ start: '2024-11-25', end: '2024-11-26' });
    expect(rows.map((r) => [r.close, r.batch_id])).toEqual([[1, 'rel-lost'], [2, 'rel-lost'], [3, 'rel-lost']]);
    expect((await t.raw.writeRelation(sql, batch)).written).toBe(false);
  });

  it('keeps per-row attributes when a symbol has several (what_to_show differs by row)', async () => {
    const sql = rel([row('AAPL', '2024-11-26T14:31:00Z', 2, "'MIDPOINT'"), row('AAPL', '2024-11-26T14:30:00Z', 1)].join(', '));
    await t.raw.writeRelation(sql, { batchId: 'mixed', source: 'FILE', barSize: '1 min', ingestionTs: 1 });
    const rows = await t.raw.readTwsBars({ start: '2024-11-26', end: '2024-11-26' });
    expect(rows.map((r) => [r.ts, r.what_to_show])).toEqual([
      [utc('2024-11-26T14:30:00Z'), 'TRADES'],
      [utc('2024-11-26T14:31:00Z'), 'MIDPOINT'],
    ]);
  });

  it('refuses unknown symbols and rows without a price before writing anything', async () => {
    const batch = { batchId: 'bad', source: 'FILE', barSize: '1 min' as const, ingestionTs: 1 };
    await expect(t.raw.writeRelation(rel([row('AAPL', '2024-11-26T14:30:00Z', 1), row('ZZZ', '2024-11-26T14:30:00Z', 1)].join(', ')), batch)).rejects.toThrow(
      /symbol "ZZZ" is not a configured instrument/,
    );
    await expect(t.raw.writeRelation(rel([row('AAPL', '2024-11-26T14:30:00Z', 1), row('../x', '2024-11-26T14:30:00Z', 1)].join(', ')), batch)).rejects.toThrow(
      /symbol "..\/x" is not a valid instrument key/,
    );
    await expect(t.raw.writeRelation(rel([row('AAPL', '2024-11-26T14:30:00Z', 1), row('MSFT', '2024-11-26T14:30:00Z', 'NULL' as unknown as number)].join(', ')), batch)).rejects.toThrow(
      /1 row\(s\) \(first of "MSFT"\) lack ts, what_to_show or a finite/,
    );
    await expect(t.raw.writeRelation(rel(row('AAPL', '2024-11-26T14:30:00Z', "'NaN'" as unknown as number)), batch)).rejects.toBeInstanceOf(InputError);
    expect(existsSync(join(t.dir, 'raw'))).toBe(false);
    expect(t.raw.hasBatch('bad')).toBe(false);
  });

  it('splits an hour that straddles a session-date boundary to the millisecond', async () => {
    // No exchange calendar changes date inside an hour, so a stand-in calendar does: at 17:30:00Z.
    const boundary = utc('2024-11-26T17:30:00Z');
    const half = { sessionDateOf: (ms: number): string => (ms < boundary ? '2024-11-26' : '2024-11-27') };
    const store = new RawStore(t.lake, { sessionDateOf: (_s, ms) => half.sessionDateOf(ms), calendarFor: () => half, symbols: () => ['AAPL'] });
    const sql = rel([row('AAPL', '2024-11-26T17:29:59.999Z', 1), row('AAPL', '2024-11-26T17:30:00Z', 2), row('AAPL', '2024-11-26T17:00:00Z', 0)].join(', '));
    const res = await store.writeRelation(sql, { batchId: 'split', source: 'FILE', barSize: '1 min', ingestionTs: 1 });
    expect(res.dates).toEqual(['2024-11-26', '2024-11-27']);
    const closes = async (d: string): Promise<unknown[]> =>
      (await t.lake.query(`SELECT close FROM read_parquet('${join(t.dir, `raw/tws_bars/bar_size=1min/date=${d}/batch-split.parquet`)}')`)).map((r) => r.close);
    expect(await closes('2024-11-26')).toEqual([0, 1]);
    expect(await closes('2024-11-27')).toEqual([2]);
  });
});

describe('RawStore batch index', () => {
  it('answers hasBatch and visibleFiles from the ledger lines appended since the last look, including another writer’s', async () => {
    const other = new RawStore(t.lake, t.calendars); // a second store on the same lake, as another process has
    const day = '2024-11-26';
    await t.raw.writeTwsBars(makeBars('AAPL', utc('2024-11-26T14:30:00Z'), utc('2024-11-26T14:35:00Z')), 'mine', 1);
    expect(other.hasBatch('mine')).toBe(true);
    await other.writeTwsBars(makeBars('MSFT', utc('2024-11-26T14:30:00Z'), utc('2024-11-26T14:35:00Z')), 'theirs', 2);
    expect(t.raw.hasBatch('theirs')).toBe(true);
    expect(t.raw.hasBatch('nobody')).toBe(false);
    const files = (s: RawStore): string[] => (s.visibleFiles('1 min', [day]).get(day) ?? []).map((f) => f.slice(t.dir.length + 1));
    expect(files(t.raw)).toEqual([`raw/tws_bars/bar_size=1min/date=${day}/batch-mine.parquet`, `raw/tws_bars/bar_size=1min/date=${day}/batch-theirs.parquet`]);
    // the other writer compacts: this store sees one compacted file and no superseded ones
    const compacted = await other.compactRaw(day);
    expect(files(t.raw)).toEqual([compacted.path?.slice(t.dir.length + 1)]);
    expect(t.raw.listDates()).toEqual([day]);
    // a ledger restored from an older copy (shorter): the index starts over from the file
    const ledger = join(t.dir, 'state', 'raw_batches.jsonl');
    const first = readFileSync(ledger, 'utf8').split('\n')[0] as string;
    writeFileSync(ledger, `${first}\n`);
    const committed = (s: RawStore, id: string): boolean | undefined => s.batchPresence([id]).get(id)?.committed;
    // 'mine' is committed again, but its file went with the compaction: not present, so hasBatch is false.
    expect(committed(t.raw, 'mine')).toBe(true);
    expect(t.raw.batchPresence(['mine']).get('mine')?.missing.map((m) => m.date)).toEqual([day]);
    expect(t.raw.hasBatch('mine')).toBe(false);
    expect(committed(t.raw, 'theirs')).toBe(false);
    expect(files(t.raw)).toEqual([`raw/tws_bars/bar_size=1min/date=${day}/batch-mine.parquet`]);
    // replaced by a different file of the same size or longer: detected by its inode, not its length
    const other2 = new RawStore(t.lake, t.calendars);
    expect(committed(other2, 'mine')).toBe(true);
    writeFileSync(`${ledger}.restored`, `${first.replace('"mine"', '"mime"')}\n`);
    renameSync(`${ledger}.restored`, ledger);
    expect(committed(other2, 'mine')).toBe(false);
    expect(committed(other2, 'mime')).toBe(true);
  });

  it('knows group-committed parts, follows them through a compaction, and hides lost files, for every store on the lake', async () => {
    const other = new RawStore(t.lake, t.calendars);
    const bars = (sym: string, day: string): ReturnType<typeof makeBars> => makeBars(sym, utc(`${day}T14:30:00Z`), utc(`${day}T14:35:00Z`));
    const g = await t.raw.writeBatchGroup(
      [
        { batchId: 'p1', events: bars('AAPL', '2024-11-25') },
        { batchId: 'p2', events: [...bars('MSFT', '2024-11-25'), ...bars('MSFT', '2024-11-26')] },
      ],
      1,
    );
    expect(g.groupId).toMatch(/^g-[0-9a-f]{32}$/);
    // Parts are batches; the group's own id is not one.
    expect(['p1', 'p2', g.groupId ?? ''].map((id) => other.hasBatch(id))).toEqual([true, true, false]);
    const file25 = join(t.dir, `raw/tws_bars/bar_size=1min/date=2024-11-25/batch-${g.groupId}.parquet`);
    const file26 = join(t.dir, `raw/tws_bars/bar_size=1min/date=2024-11-26/batch-${g.groupId}.parquet`);
    // Compaction of the 25th: p1 and p2 now live (partly) in the compacted file.
    await t.raw.writeTwsBars(bars('SPY', '2024-11-25'), 'p3', 2);
    const c = await other.compactRaw('2024-11-25');
    expect(t.raw.batchPresence(['p1', 'p2']).get('p2')).toEqual({ committed: true, missing: [] });
    // The 26th's file is lost: p2 is committed but incomplete, p1 untouched; readers stop listing it.
    rmSync(file26);
    t.raw.markLost([file26], 'test', 3);
    expect(other.batchPresence(['p1', 'p2'])).toEqual(
      new Map([
        ['p1', { committed: true, missing: [] }],
        ['p2', { committed: true, missing: [{ date: '2024-11-26', path: file26 }] }],
      ]),
    );
    expect([...other.visibleFiles().entries()]).toEqual([['2024-11-25', [c.path]]]);
    expect(existsSync(file25)).toBe(false);
    // Writing the group again re-writes only p2's lost date, as a record of its own.
    const again = await other.writeBatchGroup([{ batchId: 'p1', events: bars('AAPL', '2024-11-25') }, { batchId: 'p2', events: [...bars('MSFT', '2024-11-25'), ...bars('MSFT', '2024-11-26')] }], 4);
    expect(again.parts.map((p) => [p.batchId, p.written, p.rows, p.dates])).toEqual([
      ['p1', false, 0, []],
      ['p2', true, 5, ['2024-11-26']],
    ]);
    expect(t.raw.hasBatch('p2')).toBe(true);
    expect((await t.raw.readTwsBars({ start: '2024-11-25', end: '2024-11-26' })).length).toBe(20);
  });
});

describe('RawStore.writeRelation keeps files sorted by (symbol, ts)', () => {
  // Rows of `days` sessions for three symbols, in (symbol, ts) order except for one swapped
  // pair when `swap`: input order is kept only when it is already sorted.
  const relation = (days: string[], swap: boolean): { sql: string; expected: [string, number][] } => {
    const rows: [string, number][] = [];
    for (const s of ['AAPL', 'MSFT', 'SPY']) for (const d of days) for (let m = 0; m < 3; m++) rows.push([s, utc(`${d}T15:0${m}:00Z`)]);
    const input = [...rows];
    if (swap) [input[4], input[5]] = [input[5] as [string, number], input[4] as [string, number]];
    const values = input.map(([s, ts], i) => `('${s}', NULL, 'TRADES', TIMESTAMPTZ '${new Date(ts).toISOString()}', 1.0, 2.0, 0.5, ${i}, 10.0, NULL, NULL, 'f.csv')`);
    return { sql: `(SELECT * FROM (VALUES ${values.join(', ')}) v(symbol, con_id, what_to_show, ts, open, high, low, close, volume, wap, trade_count, request_id))`, expected: rows };
  };
  const fileRows = async (batchId: string): Promise<[string, number][]> => {
    const out: [string, number][] = [];
    for (const [, files] of t.raw.visibleFiles()) {
      for (const f of files.filter((p) => p.includes(batchId))) {
        out.push(...(await t.lake.query<{ symbol: string; ts: number }>(`SELECT symbol, ts FROM read_parquet('${f}')`)).map((r): [string, number] => [r.symbol, r.ts]));
      }
    }
    return out;
  };
  const byDate = (rows: [string, number][]): [string, number][] => [...rows].sort((a, b) => new Date(a[1]).toISOString().slice(0, 10).localeCompare(new Date(b[1]).toISOString().slice(0, 10)) || (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : a[1] - b[1]));
  const few = ['2024-11-25', '2024-11-26'];
  const many = ['2024-11-04', '2024-11-05', '2024-11-06', '2024-11-07', '2024-11-08', '2024-11-11', '2024-11-12', '2024-11-13', '2024-11-14', '2024-11-15'];

  for (const [name, days] of [['a few dates', few], ['many dates', many]] as const) {
    for (const swap of [false, true]) {
      it(`${name}, input ${swap ? 'with one pair out of order' : 'already in order'}`, async () => {
        const { sql, expected } = relation([...days], swap);
        const id = `order-${days.length}-${swap}`;
        await t.raw.writeRelation(sql, { batchId: id, source: 'FILE', barSize: '1 min', ingestionTs: 1 });
        expect(await fileRows(id)).toEqual(byDate(expected));
      });
    }
  }
});

describe('RawStore.summarizeRelation: the pre-write scan made ahead, in the caller\'s own read', () => {
  // Six rows of two sessions; AAPL's rows come after MSFT's (not in (symbol, ts) order); one row has a close of -1.
  const sql = `(SELECT * FROM (VALUES
      ('MSFT', NULL, 'TRADES', TIMESTAMPTZ '2024-11-25T15:00:00Z', 1.0, 2.0, 0.5, 10.0, 10.0, NULL, NULL, 'f.csv'),
      ('MSFT', NULL, 'TRADES', TIMESTAMPTZ '2024-11-26T15:00:00Z', 1.0, 2.0, 0.5, 11.0, 10.0, NULL, NULL, 'f.csv'),
      ('AAPL', NULL, 'TRADES', TIMESTAMPTZ '2024-11-25T15:01:00Z', 1.0, 2.0, 0.5, 20.0, 10.0, NULL, NULL, 'f.csv'),
      ('AAPL', NULL, 'TRADES', TIMESTAMPTZ '2024-11-25T15:00:00Z', 1.0, 2.0, 0.5, -1.0, 10.0, NULL, NULL, 'f.csv'),
      ('AAPL', NULL, 'TRADES', TIMESTAMPTZ '2024-11-26T15:00:00Z', 1.0, 2.0, 0.5, 21.0, 10.0, NULL, NULL, 'f.csv'),
      ('SPY', NULL, 'TRADES', TIMESTAMPTZ '2024-11-26T15:00:00Z', 1.0, 2.0, 0.5, 30.0, 10.0, NULL, NULL, 'f.csv'))
    v(symbol, con_id, what_to_show, ts, open, high, low, close, volume, wap, trade_count, request_id))`;
  const keep = `symbol <> 'SPY'`;

  it('counts the caller\'s predicates over every row and summarises the kept ones; writeRelation writes them sorted, with no scan of its own', async () => {
    const { summary, counts } = await t.raw.summarizeRelation(sql, { keep, counts: { n: 'true', kept: keep, negative: 'close < 0' } });
    expect(counts).toEqual({ n: 6, kept: 5, negative: 1 });
    expect(summary.descents).toBeGreaterThan(0);
    const res = await t.raw.writeRelation(`(SELECT * FROM ${sql} WHERE ${keep})`, { batchId: 'ahead', source: 'FILE', barSize: '1 min', ingestionTs: 1, summary });
    expect(res).toMatchObject({ written: true, rows: 5, dates: ['2024-11-25', '2024-11-26'] });
    const rows = await t.raw.readTwsBars({ start: '2024-11-25', end: '2024-11-26' });
    expect(rows.map((r) => [r.symbol, new Date(r.ts).toISOString().slice(0, 16), r.close])).toEqual([
      ['AAPL', '2024-11-25T15:00', -1],
      ['AAPL', '2024-11-25T15:01', 20],
      ['AAPL', '2024-11-26T15:00', 21],
      ['MSFT', '2024-11-25T15:00', 10],
      ['MSFT', '2024-11-26T15:00', 11],
    ]);
    // Each date's file in (symbol, ts) order although the input was not.
    const monday = t.raw.visibleFiles('1 min', ['2024-11-25']).get('2024-11-25') ?? [];
    const inFile = await t.lake.query<{ symbol: string; close: number }>(`SELECT symbol, close FROM read_parquet('${monday[0]}')`);
    expect(inFile.map((r) => r.close)).toEqual([-1, 20, 10]);
  });

  it('a summary that is not of the rows written refuses the batch, leaving nothing visible', async () => {
    const { summary } = await t.raw.summarizeRelation(sql, { keep });
    // The whole relation (SPY too) against the kept rows' summary: the write trusts the summary's
    // dates and total (it makes no scan of its own) and finds more rows than it was told of.
    await expect(t.raw.writeRelation(sql, { batchId: 'mismatch', source: 'FILE', barSize: '1 min', ingestionTs: 1, summary })).rejects.toThrow(/wrote 6 of 5 rows; not committed/);
    expect(t.raw.hasBatch('mismatch')).toBe(false);
    expect(t.raw.visibleFiles().size).toBe(0);
    expect(readdirSync(join(t.dir, 'raw/tws_bars/bar_size=1min'), { recursive: true }).filter((f) => String(f).endsWith('.parquet'))).toEqual([]);
  });
});
