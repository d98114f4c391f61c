import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/core/clock.js';
import { InputError } from '../../src/core/errors.js';
import { PROBLEMS } from '../../src/data-sources/bar-value-rules.js';
import { FileIngestor, type FileIngestorDeps } from '../../src/data-sources/file-ingestor.js';
import { openTempLake, type TempLake } from '../support/temp-lake.js';

let t: TempLake;
const ingestor = (extra: Partial<FileIngestorDeps> = {}): FileIngestor =>
  new FileIngestor({
    rawStore: t.raw,
    lake: t.lake,
    clock: new ManualClock(Date.parse('2024-12-01T00:00:00Z')),
    instruments: [
      { key: 'AAPL', what_to_show: 'TRADES', con_id: 265598 },
      { key: 'MSFT', what_to_show: 'TRADES' },
      { key: 'ES-202503', what_to_show: 'TRADES', con_id: 495512563 },
    ],
    barSize: '1 min',
    ...extra,
  });
beforeEach(async () => {
  t = await openTempLake();
});
afterEach(async () => {
  await t.cleanup();
});

const HEADER = 'symbol,ts,open,high,low,close,volume,wap,trade_count';
function goodRows(n: number, symbol = 'AAPL'): string[] {
  return Array.from({ length: n }, (_, i) => {
    const ts = new Date(Date.parse('2024-11-26T14:30:00Z') + i * 60_000).toISOString();
    return `${symbol},${ts},10,11,9,10.5,${100 + i},10.2,${i}`;
  });
}

/** Nothing of a refused file reached the lake: no raw folder, no batch ledger. */
function expectLakeUntouched(): void {
  expect(existsSync(join(t.dir, 'raw'))).toBe(false);
  expect(existsSync(join(t.dir, 'state', 'raw_batches.jsonl'))).toBe(false);
}

async function refusal(ing: FileIngestor, file: string): Promise<InputError> {
  const err = await ing.ingestFile(file).catch((e: unknown) => e);
  expect(err).toBeInstanceOf(InputError);
  expect((err as InputError).exitCode).toBe(2);
  return err as InputError;
}

describe('FileIngestor: CSV', () => {
  it('ingests a CSV once: the second ingest of the same bytes adds nothing', async () => {
    const f = join(t.dir, 'bars.csv');
    writeFileSync(f, [HEADER, ...goodRows(30)].join('\n'));
    const a = await ingestor().ingestFile(f);
    const b = await ingestor().ingestFile(f);
    expect(a.written).toBe(true);
    expect(b.written).toBe(false);
    expect(b.batchId).toBe(a.batchId);
    const rows = await t.raw.readTwsBars({ start: '2024-11-26', end: '2024-11-26' });
    expect(rows).toHaveLength(30);
    expect(rows[0]).toMatchObject({ source: 'FILE', symbol: 'AAPL', con_id: 265598, what_to_show: 'TRADES', open: 10, close: 10.5, volume: 100, wap: 10.2, trade_count: 0, request_id: 'bars.csv', batch_id: a.batchId });
    expect(rows[0]?.ingestion_ts).toBe(Date.parse('2024-12-01T00:00:00Z'));
  });

  it('an attribute every instrument shares reaches every row of a known symbol, and only those', async () => {
    // One instrument: its con_id and what_to_show are the same for the whole universe.
    const one = ingestor({ instruments: [{ key: 'AAPL', what_to_show: 'MIDPOINT', con_id: 265598 }] });
    const f = join(t.dir, 'one.csv');
    writeFileSync(f, [HEADER, ...goodRows(3)].join('\n'));
    await one.ingestFile(f);
    const rows = await t.raw.readTwsBars({ start: '2024-11-26', end: '2024-11-26' });
    expect(rows.map((r) => [r.symbol, r.con_id, r.what_to_show])).toEqual(Array.from({ length: 3 }, () => ['AAPL', 265598, 'MIDPOINT']));
    const g = join(t.dir, 'other.csv');
    writeFileSync(g, [HEADER, ...goodRows(2), ...goodRows(1, 'MSFT')].join('\n'));
    expect((await refusal(one, g)).message).toMatch(/:4:1: column symbol: "MSFT" is not a configured instrument/);
  });

  it('epoch seconds, milliseconds, microseconds and nanoseconds all name the same instant', async () => {
    const f = join(t.dir, 'epochs.csv');
    const ms = Date.parse('2024-11-26T14:30:00Z');
    const cells = [`${ms / 1000}`, `${ms + 60_000}`, `${(ms + 120_000) * 1000}`, `${BigInt(ms + 180_000) * 1_000_000n}`];
    writeFileSync(f, [HEADER, ...cells.map((c) => `MSFT,${c},1,2,0.5,1.5,10,,`)].join('\r\n') + '\r\n');
    await ingestor().ingestFile(f);
    const rows = await t.raw.readTwsBars({ start: '2024-11-26', end: '2024-11-26' });
    expect(rows.map((r) => r.ts)).toEqual([0, 1, 2, 3].map((i) => ms + i * 60_000));
    expect(rows.map((r) => [r.wap, r.trade_count])).toEqual(Array(4).fill([null, null]));
  });

  it('refuses every impossible or ambiguous value, naming file:line:column, the value and why; nothing is written', async () => {
    // [cell column, bad cell] placed in row 6 (physical line 7; the header is line 1)
    const cases: [column: 'ts' | 'open' | 'close' | 'volume', cell: string, problem: string][] = [
      ['ts', '2024-02-30T14:30:00Z', PROBLEMS.calendarDate],
      ['ts', '2024-11-31T14:30:00Z', PROBLEMS.calendarDate],
      ['ts', '2023-02-29T14:30:00Z', PROBLEMS.calendarDate],
      ['ts', '2024-11-26T24:00:00Z', PROBLEMS.timeOfDay],
      ['ts', '17326314', PROBLEMS.epochRange],
      ['ts', '1900-01-01T14:30:00Z', PROBLEMS.range],
      ['ts', '2024-11-26T14:35:00', PROBLEMS.zoneless],
      ['open', '0x10', PROBLEMS.decimal],
      ['close', 'Infinity', PROBLEMS.decimal],
      ['volume', 'NaN', PROBLEMS.decimal],
      ['close', '', PROBLEMS.missing],
    ];
    const fields = HEADER.split(',');
    for (const [i, [column, cell, problem]] of cases.entries()) {
      const rows = goodRows(10);
      const parts = (rows[5] as string).split(',');
      parts[fields.indexOf(column)] = cell;
      rows[5] = parts.join(',');
      const f = join(t.dir, `bad-${i}.csv`);
      writeFileSync(f, [HEADER, ...rows].join('\n'));
      const err = await refusal(ingestor(), f);
      // the 1-based character column where the cell starts, counted independently of the reader
      const col = parts.slice(0, fields.indexOf(column)).join(',').length + 2;
      const shown = cell === '' ? '' : `"${cell}" `;
      expect(err.message).toBe(`${f}:7:${col}: column ${column}: ${shown}${problem}`);
    }
    expectLakeUntouched();
  });

  it('counts physical lines through blank lines and CRLF, shows a cell with a line break escaped, and counts the other bad rows', async () => {
    const f = join(t.dir, 'tricky.csv');
    const lines = [
      HEADER, // 1
      'AAPL,2024-11-26T14:30:00Z,10,11,9,10.5,100,10.2,1', // 2
      '', // 3: blank, not a record
      '"AAPL","2024-11-26T14:31:00Z",10,11,9,10.5,"1', // 4: a quoted volume spanning two lines
      '01",10.2,1', // 5
      'MSFT,2024-11-26T14:32:00Z,10,11,9,10.5,100,10.2,2.5', // 6: trade_count 2.5
      'MSFT,2024-11-26T14:33:00Z,10,11,9,10.5,100,10.2,3.5', // 7: another
    ];
    writeFileSync(f, lines.join('\r\n'));
    const err = await refusal(ingestor(), f);
    const col = lines[3]!.lastIndexOf(',') + 2;
    expect(err.message).toBe(`${f}:4:${col}: column volume: "1\\r\\n01" ${PROBLEMS.decimal} (2 more refused row(s))`);
    expectLakeUntouched();
  });

  it('rejects a bad header, an unknown symbol and malformed lines, naming where', async () => {
    const cases: [string, RegExp][] = [
      [['symbol,ts,open,high,low,close', 'AAPL,1732631400,1,1,1,1'].join('\n'), /:1: column volume: required column is missing/],
      [['symbol,ts,open,high,low,close,volume,vwap', 'AAPL,1732631400,1,1,1,1,1,1'].join('\n'), /:1: column vwap: unknown column/],
      [['', HEADER].join('\n'), /:1: expected a header row/],
      [[HEADER, ...goodRows(2), 'GOOG,1732631400,1,1,1,1,1,,'].join('\n'), /:4:1: column symbol: "GOOG" is not a configured instrument$/],
      [[HEADER, 'AAPL,1732631400,1,1,1'].join('\n'), /:2:\d+: expected 9 fields \(as in the header\), found 5: "AAPL,1732631400,1,1,1"$/],
      [[HEADER, 'AAPL,1732631400,1,1,1,1,1,1,1,1'].join('\n'), /:2:\d+: expected 9 fields \(as in the header\), found 10/],
      [[HEADER, ...goodRows(3), 'AAPL,"1732631400,1,1,1,1,1,1,1', ...goodRows(2)].join('\n'), /:5:\d+: unterminated or misplaced quote/],
    ];
    for (const [i, [text, re]] of cases.entries()) {
      const f = join(t.dir, `case${i}.csv`);
      writeFileSync(f, text);
      expect((await refusal(ingestor(), f)).message).toMatch(re);
    }
    expectLakeUntouched();
  });

  // A 20 MB cell takes the same path as any line over DuckDB's line limit (max_line_size,
  // 2,000,000 bytes by default): a cell just over it is enough, and cheap.
  it('a cell over the line limit is refused by line and column without being echoed', async () => {
    const f = join(t.dir, 'huge.csv');
    const rows = goodRows(4);
    rows[2] = `AAPL,${'9'.repeat(2_000_100)},1,1,1,1,1,,`; // 5 + 2,000,100 + 12 bytes
    writeFileSync(f, [HEADER, ...rows].join('\n'));
    const err = await refusal(ingestor(), f);
    expect(err.message.length).toBeLessThan(400);
    expect(err.message).toMatch(new RegExp(`^${f}:4:1: line is 2,000,117 bytes long, over the 2,000,000-byte limit of a CSV line: "AAPL,9{50,}"…$`));
    expectLakeUntouched();
  });

  it('zone-less times in a declared zone: New York wall times become UTC instants; a DST-repeated time is refused', async () => {
    const f = join(t.dir, 'ny.csv');
    writeFileSync(f, [HEADER, 'AAPL,2024-11-26 09:30:00,1,2,0.5,1.5,10,,', 'AAPL,2024-07-01T09:30,1,2,0.5,1.5,10,,'].join('\n'));
    await ingestor({ tsTimezone: 'America/New_York' }).ingestFile(f);
    const rows = await t.raw.readTwsBars({ start: '2024-07-01', end: '2024-11-26' });
    expect(rows.map((r) => new Date(r.ts).toISOString())).toEqual(['2024-07-01T13:30:00.000Z', '2024-11-26T14:30:00.000Z']);
    const g = join(t.dir, 'fallback.csv');
    writeFileSync(g, [HEADER, 'AAPL,2024-11-03 00:30:00,1,2,0.5,1.5,10,,', 'AAPL,2024-11-03 01:30:00,1,2,0.5,1.5,10,,'].join('\n'));
    const err = await refusal(ingestor({ tsTimezone: 'America/New_York' }), g);
    expect(err.message).toBe(`${g}:3:6: column ts: "2024-11-03 01:30:00" ${PROBLEMS.ambiguous}`);
  });
});

describe('FileIngestor: Parquet', () => {
  const parquet = async (name: string, select: string): Promise<string> => {
    const f = join(t.dir, name);
    await t.lake.run(`COPY (${select}) TO '${f}' (FORMAT parquet)`);
    return f;
  };
  const base = (ts: string): string =>
    `SELECT 'MSFT' AS symbol, ${ts} AS ts, 1.0 AS open, 2.0 AS high, 0.5 AS low, 1.5 AS close, 10 AS volume FROM range(5) r(i)`;

  it('ingests TIMESTAMPTZ and epoch columns', async () => {
    const a = await parquet('tz.parquet', base(`TIMESTAMPTZ '2024-11-26 14:30:00+00' + to_minutes(i::BIGINT)`));
    const b = await parquet('epoch.parquet', base(`1732631700000 + i * 60000`)); // ms, from 14:35
    expect((await ingestor().ingestFile(a)).rows).toBe(5);
    expect((await ingestor().ingestFile(b)).rows).toBe(5);
    const rows = await t.raw.readTwsBars({ start: '2024-11-26', end: '2024-11-26' });
    expect(rows.map((r) => r.ts)).toEqual(Array.from({ length: 10 }, (_, i) => Date.parse('2024-11-26T14:30:00Z') + i * 60_000));
  });

  it('refuses a TIMESTAMP without time zone (a naive pandas datetime), naming the column; reads it in a declared zone', async () => {
    const f = await parquet('naive.parquet', base(`TIMESTAMP '2024-11-26 09:30:00' + to_minutes(i::BIGINT)`));
    const err = await refusal(ingestor(), f);
    expect(err.message).toMatch(new RegExp(`^${f}: column ts: is a TIMESTAMP without time zone, so its instants are unknown .*ts_timezone`));
    expectLakeUntouched();
    await ingestor({ tsTimezone: 'America/New_York' }).ingestFile(f);
    const rows = await t.raw.readTwsBars({ start: '2024-11-26', end: '2024-11-26' });
    expect(rows.map((r) => r.ts)).toEqual(Array.from({ length: 5 }, (_, i) => Date.parse('2024-11-26T14:30:00Z') + i * 60_000));
  });

  it('names row and column of a refused cell: NaN price, a 1900 instant, a DST-skipped wall time, a 3 MB text cell cut short', async () => {
    const cases: [string, string, RegExp][] = [
      ['nan.parquet', `SELECT 'MSFT' AS symbol, TIMESTAMPTZ '2024-11-26 14:30:00+00' + to_minutes(i::BIGINT) AS ts, CASE WHEN i = 3 THEN 'NaN'::DOUBLE ELSE 1 END AS open, 2.0 AS high, 0.5 AS low, 1.5 AS close, 10 AS volume FROM range(5) r(i)`, /: row 4, column open: "nan" is NaN or infinite$/],
      ['y1900.parquet', base(`CASE WHEN i = 1 THEN TIMESTAMPTZ '1900-01-01 00:00:00+00' ELSE TIMESTAMPTZ '2024-11-26 14:30:00+00' END`), /: row 2, column ts: "1900-01-01 00:00:00\+00" is outside the plausible range 1980-01-01 \.\. 2100-01-01 UTC$/],
      ['huge.parquet', base(`CASE WHEN i = 2 THEN repeat('x', 3 * 1024 * 1024) ELSE '2024-11-26T14:30:00Z' END`), /: row 3, column ts: "x{60}"… \(3,145,728 characters\) is not an ISO-8601 instant/],
      ['hex.parquet', `SELECT 'MSFT' AS symbol, '2024-11-26T14:30:00Z' AS ts, '0x10' AS open, 2.0 AS high, 0.5 AS low, 1.5 AS close, 10 AS volume`, /: row 1, column open: "0x10" is not a decimal number/],
      // Too large for the raw store's BIGINT: named as a cell, not left to fail the write's conversion.
      ['count.parquet', `SELECT 'MSFT' AS symbol, TIMESTAMPTZ '2024-11-26 14:30:00+00' + to_minutes(i::BIGINT) AS ts, 1.0 AS open, 2.0 AS high, 0.5 AS low, 1.5 AS close, 10 AS volume, CASE WHEN i = 1 THEN 1e30 ELSE 7 END::DOUBLE AS trade_count FROM range(3) r(i)`, /: row 2, column trade_count: "1e\+30" is not an integer$/],
      // 1e300 is no instant in any epoch unit (and too large for any timestamp type DuckDB converts to).
      ['epoch.parquet', `SELECT 'MSFT' AS symbol, CASE WHEN i = 2 THEN 1e300 ELSE 1732631400 + i * 60 END::DOUBLE AS ts, 1.0 AS open, 2.0 AS high, 0.5 AS low, 1.5 AS close, 10 AS volume FROM range(3) r(i)`, /: row 3, column ts: "1e\+300" as an epoch number is outside the plausible range .* in every unit/],
      // 1e28 fits the DECIMAL the epoch is read as, but scaling it to ms overflowed: the read failed as a whole.
      ['epoch28.parquet', `SELECT 'MSFT' AS symbol, CASE WHEN i = 1 THEN 1e28 ELSE 1732631400 + i * 60 END::DOUBLE AS ts, 1.0 AS open, 2.0 AS high, 0.5 AS low, 1.5 AS close, 10 AS volume FROM range(3) r(i)`, /: row 2, column ts: "1e\+28" as an epoch number is outside the plausible range .* in every unit/],
    ];
    for (const [name, select, re] of cases) {
      const f = await parquet(name, select);
      const err = await refusal(ingestor(), f);
      expect(err.message.startsWith(f)).toBe(true);
      expect(err.message.length).toBeLessThan(400);
      expect(err.message).toMatch(re);
    }
    const dst = await parquet('dst.parquet', base(`CASE WHEN i = 4 THEN TIMESTAMP '2024-03-10 02:30:00' ELSE TIMESTAMP '2024-03-08 09:30:00' END`));
    expect((await refusal(ingestor({ tsTimezone: 'America/New_York' }), dst)).message).toBe(`${dst}: row 5, column ts: "2024-03-10 02:30:00" ${PROBLEMS.nonexistent}`);
    expectLakeUntouched();
  });

  // The fused check-and-summary scan fails reading this file, so checkFile falls back to the plain
  // check, whose verdict is what the user sees (without the fallback: a StorageError, exit 1).
  it('a Parquet file with corrupt pages is refused naming the file (the fused scan falls back to the plain check)', async () => {
    const f = await parquet('pages.parquet', base(`TIMESTAMPTZ '2024-11-26 14:30:00+00' + to_minutes(i::BIGINT)`));
    const bytes = readFileSync(f);
    for (let i = 4; i < 12; i++) bytes[i] = (bytes[i] as number) ^ 0xa5; // the first page header, after the PAR1 magic
    writeFileSync(f, bytes);
    expect((await refusal(ingestor(), f)).message).toMatch(new RegExp(`^${f}: cannot read as Parquet \\(`));
    const g = join(t.dir, 'text.parquet');
    writeFileSync(g, 'symbol,ts\nnot,parquet\n');
    expect((await refusal(ingestor(), g)).message).toMatch(new RegExp(`^${g}: not a readable Parquet file`));
    expectLakeUntouched();
  });
});

describe('FileIngestor: partitions and order', () => {
  it('files checked before any is written keep their summaries up to a bound; beyond it a write scans its file again, with the same rows', async () => {
    const a = join(t.dir, 'a.csv');
    const b = join(t.dir, 'b.csv');
    writeFileSync(a, [HEADER, ...goodRows(3, 'MSFT'), ...goodRows(3, 'AAPL')].join('\n'));
    writeFileSync(b, [HEADER, ...goodRows(4, 'AAPL')].join('\n'));
    // a's summary: 2 symbols + 1 (calendar, hour) row; b's: 1 + 1. A bound of 4 keeps a's, not b's.
    const ing = ingestor({ maxHeldSummaryRows: 4 });
    const ca = await ing.checkFile(a);
    const cb = await ing.checkFile(b);
    expect(ca.summary).toBeDefined();
    expect(cb.summary).toBeUndefined();
    await ing.writeFile(ca);
    await ing.writeFile(cb);
    // Once a is written its summary is let go, so the next check keeps one again.
    expect((await ing.checkFile(b)).summary).toBeDefined();
    const rows = await t.raw.readTwsBars({ start: '2024-11-26', end: '2024-11-26' });
    expect(rows.map((r) => `${r.symbol} ${new Date(r.ts).toISOString().slice(11, 16)} ${r.request_id}`).sort()).toEqual([
      'AAPL 14:30 a.csv', 'AAPL 14:30 b.csv', 'AAPL 14:31 a.csv', 'AAPL 14:31 b.csv', 'AAPL 14:32 a.csv', 'AAPL 14:32 b.csv', 'AAPL 14:33 b.csv',
      'MSFT 14:30 a.csv', 'MSFT 14:31 a.csv', 'MSFT 14:32 a.csv',
    ]);
  });

  it('writes each session date of each calendar to its own file, sorted by (symbol, ts), every value intact', async () => {
    // ES trades Sunday 17:00 Chicago (23:00Z) into Monday: those bars belong to Monday's session;
    // AAPL's Friday and Monday bars to their New York dates. Rows arrive in time order, mixed.
    const f = join(t.dir, 'mixed.csv');
    const rows: string[] = [];
    const expected: { symbol: string; ts: number; close: number }[] = [];
    const add = (symbol: string, iso: string, close: number): void => {
      rows.push(`${symbol},${iso},1,2,0.5,${close},10,,`);
      expected.push({ symbol, ts: Date.parse(iso), close });
    };
    for (let i = 0; i < 3; i++) add('AAPL', new Date(Date.parse('2024-11-22T20:57:00Z') + i * 60_000).toISOString(), 100 + i);
    for (let i = 0; i < 3; i++) add('ES-202503', new Date(Date.parse('2024-11-24T23:00:00Z') + i * 60_000).toISOString(), 200 + i);
    for (let i = 0; i < 3; i++) {
      add('MSFT', new Date(Date.parse('2024-11-25T14:30:00Z') + i * 60_000).toISOString(), 300 + i);
      add('AAPL', new Date(Date.parse('2024-11-25T14:30:00Z') + i * 60_000).toISOString(), 400 + i);
    }
    writeFileSync(f, [HEADER, ...rows].join('\n'));
    const res = await ingestor().ingestFile(f);
    expect(res.dates).toEqual(['2024-11-22', '2024-11-25']);
    expect(t.raw.visibleFiles('1 min', ['2024-11-24']).size).toBe(0);
    const monday = await t.lake.query<{ symbol: string; ts: number; close: number }>(
      `SELECT symbol, ts, close FROM read_parquet('${join(t.dir, 'raw/tws_bars/bar_size=1min/date=2024-11-25', `batch-${res.batchId}.parquet`)}')`,
    );
    const byKey = (a: { symbol: string; ts: number }, b: { symbol: string; ts: number }): number => (a.symbol < b.symbol ? -1 : a.symbol > b.symbol ? 1 : a.ts - b.ts);
    expect(monday).toEqual(expected.filter((e) => e.ts >= Date.parse('2024-11-24T23:00:00Z')).sort(byKey));
    const all = await t.raw.readTwsBars({ start: '2024-11-22', end: '2024-11-25' });
    expect(all.map((r) => ({ symbol: r.symbol, ts: r.ts, close: r.close })).sort(byKey)).toEqual([...expected].sort(byKey));
    expect(all.find((r) => r.symbol === 'ES-202503')).toMatchObject({ con_id: 495512563, what_to_show: 'TRADES' });
  });

  it('a file spanning many sessions is written through one read into a temporary table, with the same result', async () => {
    const f = join(t.dir, 'history.csv');
    const days = ['2024-11-04', '2024-11-05', '2024-11-06', '2024-11-07', '2024-11-08', '2024-11-11', '2024-11-12', '2024-11-13', '2024-11-14', '2024-11-15', '2024-11-18', '2024-11-19'];
    const rows = days.flatMap((d, k) => ['MSFT', 'AAPL'].map((s, j) => `${s},${d}T15:00:00Z,1,2,0.5,${k * 10 + j},10,,`));
    writeFileSync(f, [HEADER, ...rows].join('\n'));
    const res = await ingestor().ingestFile(f);
    expect(res.dates).toEqual(days);
    for (const [k, d] of days.entries()) {
      const files = t.raw.visibleFiles('1 min', [d]).get(d) ?? [];
      expect(files).toHaveLength(1);
      const got = await t.lake.query<{ symbol: string; close: number }>(`SELECT symbol, close FROM read_parquet('${files[0]}')`);
      expect(got).toEqual([
        { symbol: 'AAPL', close: k * 10 + 1 },
        { symbol: 'MSFT', close: k * 10 },
      ]);
    }
  });
});
