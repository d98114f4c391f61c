import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/core/clock.js';
import { InputError } from '../../src/core/errors.js';
import { FileIngestor } from '../../src/data-sources/file-ingestor.js';
import { openTempLake, type TempLake } from '../support/temp-lake.js';

let t: TempLake;
let ingestor: FileIngestor;
beforeEach(async () => {
  t = await openTempLake();
  ingestor = new FileIngestor({
    rawStore: t.raw,
    lake: t.lake,
    clock: new ManualClock(Date.parse('2024-12-01T00:00:00Z')),
    instruments: [
      { key: 'AAPL', what_to_show: 'TRADES', con_id: 265598 },
      { key: 'MSFT', what_to_show: 'TRADES' },
    ],
    barSize: '1 min',
  });
});
afterEach(async () => {
  await t.cleanup();
});

const HEADER = 'symbol,ts,open,high,low,close,volume,wap,trade_count';
function goodRows(n: number): string[] {
  return Array.from({ length: n }, (_, i) => {
    const ts = new Date(Date.parse('2024-11-26T14:30:00Z') + i * 60_000).toISOString();
    return `AAPL,${ts},10,11,9,10.5,${100 + i},10.2,${i}`;
  });
}

describe('FileIngestor', () => {
  it('ingests a CSV once: the second ingest of the same bytes adds nothing', async () => {
    const f = join(t.dir, 'bars.csv');
    writeFileSync(f, [HEADER, ...goodRows(30)].join('\n'));
    const a = await ingestor.ingestFile(f);
    const b = await ingestor.ingestFile(f);
    expect(a.written).toBe(true);
    expect(b.written).toBe(false);
    expect(b.batchId).toBe(a.batchId);
    const rows = await t.raw.readTwsBars({ start: '2024-11-26', end: '2024-11-26' });
    expect(rows).toHaveLength(30);
    expect(rows[0]).toMatchObject({ source: 'FILE', symbol: 'AAPL', con_id: 265598, open: 10, close: 10.5, volume: 100, trade_count: 0, request_id: 'bars.csv' });
  });

  it('reports the line and column of a bad row 7 and writes nothing', async () => {
    const rows = goodRows(10);
    rows[5] = rows[5]!.replace(',10.5,', ',ten,'); // physical line 7 (header is line 1)
    const f = join(t.dir, 'bad.csv');
    writeFileSync(f, [HEADER, ...rows].join('\n'));
    const err = await ingestor.ingestFile(f).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(InputError);
    expect((err as Error).message).toContain(`${f}:7: column close`);
    expect(await t.raw.readTwsBars({ start: '2024-11-26', end: '2024-11-26' })).toHaveLength(0);
  });

  it('rejects a bad header, an unknown symbol and an unparsable time, naming where', async () => {
    const cases: [string, RegExp][] = [
      [['symbol,ts,open,high,low,close', 'AAPL,1732631400,1,1,1,1'].join('\n'), /:1: column volume: required column is missing/],
      [[HEADER, ...goodRows(2), 'GOOG,1732631400,1,1,1,1,1,,'].join('\n'), /:4: column symbol: unknown symbol "GOOG"/],
      [[HEADER, 'AAPL,2024-11-26T14:30:00,1,1,1,1,1,,'].join('\n'), /:2: column ts: cannot parse/],
      [[HEADER, 'AAPL,1732631400,1,1,1'].join('\n'), /:2: expected 9 fields, found 5/],
    ];
    for (const [i, [text, re]] of cases.entries()) {
      const f = join(t.dir, `case${i}.csv`);
      writeFileSync(f, text);
      await expect(ingestor.ingestFile(f)).rejects.toThrow(re);
    }
  });

  it('ingests Parquet files with TIMESTAMPTZ or epoch columns', async () => {
    const f = join(t.dir, 'bars.parquet');
    await t.lake.run(
      `COPY (SELECT 'MSFT' AS symbol, TIMESTAMPTZ '2024-11-26 14:30:00+00' + to_minutes(i::BIGINT) AS ts, 1.0 AS open, 2.0 AS high, 0.5 AS low, 1.5 AS close, 10 AS volume FROM range(5) r(i)) TO '${f}' (FORMAT parquet)`,
    );
    const res = await ingestor.ingestFile(f);
    expect(res.rows).toBe(5);
    const rows = await t.raw.readTwsBars({ start: '2024-11-26', end: '2024-11-26' });
    expect(rows.map((r) => r.ts)).toEqual([0, 1, 2, 3, 4].map((i) => Date.parse('2024-11-26T14:30:00Z') + i * 60_000));
  });
});
