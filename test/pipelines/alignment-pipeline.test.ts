import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CuratedBarRow } from '../../src/storage/tables/curated-bars.js';
import { silentLogger } from '../../src/ops/logging-setup.js';
import { alignmentSpecSchema, alignmentsConfigSchema, asOfPolicyConfigSchema, type AlignmentSpecInput } from '../../src/pipelines/alignment-config.js';
import { runAlignment, type AlignmentResult } from '../../src/pipelines/alignment-pipeline.js';
import { openTempLake, type TempLake } from '../support/temp-lake.js';

const DAY = '2024-11-26';
const PREV = '2024-11-25';
// New York is on EST (UTC-5) in late November.
const et = (hm: string, date = DAY): number => Date.parse(`${date}T${hm}:00-05:00`);
const hm = (ms: number): string => new Date(ms - 5 * 3600_000).toISOString().slice(11, 16);

function bar(symbol: string, time: string, v: Partial<CuratedBarRow> = {}, date = DAY): CuratedBarRow {
  return {
    symbol,
    ts: et(time, date),
    available_ts: et(time, date) + 60_000,
    open: 10,
    high: 11,
    low: 9,
    close: 10,
    volume: 100,
    wap: 10,
    trade_count: 5,
    is_imputed: false,
    imputation: null,
    open_imputed: false,
    high_imputed: false,
    low_imputed: false,
    close_imputed: false,
    volume_imputed: false,
    wap_imputed: false,
    trade_count_imputed: false,
    ...v,
  };
}

/** A bar left NULL by an over-long gap: every column missing and masked. */
function nullBar(symbol: string, time: string): CuratedBarRow {
  return bar(symbol, time, {
    open: null,
    high: null,
    low: null,
    close: null,
    volume: null,
    wap: null,
    trade_count: null,
    is_imputed: true,
    imputation: 'max_gap_exceeded',
    open_imputed: true,
    high_imputed: true,
    low_imputed: true,
    close_imputed: true,
    volume_imputed: true,
    wap_imputed: true,
    trade_count_imputed: true,
  });
}

let t: TempLake;
const deps = (): { lake: TempLake['lake']; calendars: TempLake['calendars']; logger: ReturnType<typeof silentLogger> } => ({
  lake: t.lake,
  calendars: t.calendars,
  logger: silentLogger(),
});
const spec = (s: AlignmentSpecInput): ReturnType<typeof alignmentSpecSchema.parse> => alignmentSpecSchema.parse(s);

async function readAligned(name: string, date = DAY): Promise<Record<string, unknown>[]> {
  const file = t.lake.path('aligned', name, `date=${date}`, 'data.parquet');
  return t.lake.query(`SELECT * FROM read_parquet('${file}', hive_partitioning = false)`);
}

beforeAll(async () => {
  t = await openTempLake();
  // AAPL: ten 1-min bars 09:30..09:39; 09:37 is an imputed flat candle (ffill, volume 0).
  const aapl: CuratedBarRow[] = [
    bar('AAPL', '09:30', { open: 100, high: 101, low: 99.5, close: 100.5, volume: 10, wap: 100.2, trade_count: 3 }),
    bar('AAPL', '09:31', { open: 100.5, high: 102, low: 100, close: 101.5, volume: 20, wap: 101, trade_count: 4 }),
    bar('AAPL', '09:32', { open: 101.5, high: 101.6, low: 98, close: 99, volume: 30, wap: 99.5, trade_count: 5 }),
    bar('AAPL', '09:33', { open: 99, high: 100, low: 98.5, close: 99.8, volume: 40, wap: 99.4, trade_count: 6 }),
    bar('AAPL', '09:34', { open: 99.8, high: 100.1, low: 99.7, close: 100, volume: 0, wap: 99.9, trade_count: 0 }),
    bar('AAPL', '09:35', { open: 100, high: 100.5, low: 99.9, close: 100.4, volume: 5, wap: 100.3, trade_count: 1 }),
    bar('AAPL', '09:36', { open: 100.4, high: 100.4, low: 100, close: 100.1, volume: 15, wap: 100.2, trade_count: 2 }),
    bar('AAPL', '09:37', {
      open: 100.1,
      high: 100.1,
      low: 100.1,
      close: 100.1,
      volume: 0,
      wap: 100.2,
      trade_count: 0,
      is_imputed: true,
      imputation: 'ffill',
      open_imputed: true,
      high_imputed: true,
      low_imputed: true,
      close_imputed: true,
      volume_imputed: true,
      wap_imputed: true,
      trade_count_imputed: true,
    }),
    bar('AAPL', '09:38', { open: 100.1, high: 103, low: 100, close: 102.9, volume: 25, wap: 102, trade_count: 7 }),
    bar('AAPL', '09:39', { open: 102.9, high: 103.2, low: 102.5, close: 103, volume: 10, wap: 103.1, trade_count: 2 }),
  ];
  // MSFT: 09:30 left NULL, then four observed bars.
  const msft = [nullBar('MSFT', '09:30'), ...['09:31', '09:32', '09:33', '09:34'].map((x, i) => bar('MSFT', x, { open: 50 + i, close: 50.5 + i }))];
  // SPY: 09:30, 09:31, 09:33 (09:32 missing), close = 400 + minute.
  const spy = ['09:30', '09:31', '09:33'].map((x) => bar('SPY', x, { close: 400 + Number(x.slice(3)) }));
  await t.curated.writeCuratedBars([...aapl, ...msft, ...spy], 'bars_1min', DAY);

  // Reference data (not bars): one row per symbol per day at 17:00 ET, known at its ts.
  for (const [date, v] of [
    [PREV, 1.5],
    [DAY, 2.5],
  ] as const) {
    const file = t.lake.path('curated', 'ref_daily', `date=${date}`, 'data.parquet');
    await t.lake.writeParquetAtomic(
      file,
      `SELECT 'AAPL' AS symbol, CAST(epoch_ms(${et('17:00', date)}) AS TIMESTAMPTZ) AS ts, CAST(${v} AS DOUBLE) AS dividend`,
    );
  }
});
afterAll(async () => t.cleanup());

describe('resampling (OHLCV-correct, masks OR-ed)', () => {
  it('aggregates 1-min bars into 5-min bars by hand-worked values', async () => {
    const res = await runAlignment(DAY, ['AAPL', 'MSFT'], deps(), spec({ name: 'five', source: 'bars_1min', frequency: '5min' }));
    expect(res).toMatchObject({ rowsRead: 15, rowsWritten: 3 });
    const rows = await readAligned('five');
    expect(rows.map((r) => `${r.symbol} ${hm(r.ts as number)}`)).toEqual(['AAPL 09:30', 'AAPL 09:35', 'MSFT 09:30']);
    const [a1, a2, m1] = rows;
    // 09:30-09:34: open of 09:30, max high 102, min low 98, close of 09:34, volume 100,
    // wap = (10*100.2 + 20*101 + 30*99.5 + 40*99.4 + 0*99.9) / 100 = 99.93, trade_count 18.
    expect(a1).toMatchObject({ open: 100, high: 102, low: 98, close: 100, volume: 100, trade_count: 18, is_imputed: false, imputation: null, close_imputed: false });
    expect(a1?.wap).toBeCloseTo((10 * 100.2 + 20 * 101 + 30 * 99.5 + 40 * 99.4) / 100, 12);
    // 09:35-09:39 holds the imputed 09:37 bar: every mask true, imputation carried.
    // wap = (5*100.3 + 15*100.2 + 0*100.2 + 25*102 + 10*103.1) / 55.
    expect(a2).toMatchObject({ open: 100, high: 103.2, low: 99.9, close: 103, volume: 55, trade_count: 12, is_imputed: true, imputation: 'ffill', close_imputed: true, volume_imputed: true });
    expect(a2?.wap).toBeCloseTo((5 * 100.3 + 15 * 100.2 + 25 * 102 + 10 * 103.1) / 55, 12);
    // MSFT: 09:30 is NULL, so open is the first observed (09:31's 50); close is 09:34's 53.5;
    // the bucket is masked because one input was.
    expect(m1).toMatchObject({ open: 50, close: 53.5, high: 11, low: 9, volume: 400, is_imputed: true, open_imputed: true, imputation: 'max_gap_exceeded' });
  });

  it('re-running for one symbol keeps the other symbols of the date', async () => {
    await runAlignment(DAY, ['MSFT'], deps(), spec({ name: 'five', source: 'bars_1min', frequency: '5min' }));
    const rows = await readAligned('five');
    expect(rows.map((r) => r.symbol)).toEqual(['AAPL', 'AAPL', 'MSFT']);
  });
});

describe('as-of joins of a market factor (SPY onto AAPL)', () => {
  const run = async (join: Record<string, unknown>): Promise<[AlignmentResult, Record<string, unknown>[]]> => {
    const res = await runAlignment(DAY, ['AAPL'], deps(), spec({ name: 'withspy', source: 'bars_1min', joins: [{ dataset: 'bars_1min', as: 'spy', symbol: 'SPY', columns: ['close'], ...join }] }));
    const rows = (await readAligned('withspy')).filter((r) => (r.ts as number) <= et('09:34'));
    return [res, rows];
  };
  const matched = (rows: Record<string, unknown>[]): string[] => rows.map((r) => `${hm(r.ts as number)}->${r.spy_ts === null ? '-' : hm(r.spy_ts as number)}`);

  it('backward on availability: a bar sees the factor bars complete when it completes', async () => {
    const [res, rows] = await run({});
    // AAPL 09:32 completes at 09:33; SPY 09:33 completes at 09:34, so 09:32 gets SPY 09:31.
    expect(matched(rows)).toEqual(['09:30->09:30', '09:31->09:31', '09:32->09:31', '09:33->09:33', '09:34->09:33']);
    expect(rows.map((r) => r.spy_close)).toEqual([430, 431, 431, 433, 433]);
    expect(rows[0]).toMatchObject({ spy_is_imputed: false, spy_close_imputed: false });
    // 09:35..09:39 all match SPY 09:33 (no later SPY bar).
    expect(res.joins).toEqual([{ as: 'spy', dataset: 'bars_1min', matched: 10 }]);
  });

  it('a tolerance drops matches that are too old', async () => {
    const [, rows] = await run({ as_of: { direction: 'backward', tolerance: '30s' } });
    expect(matched(rows)).toEqual(['09:30->09:30', '09:31->09:31', '09:32->-', '09:33->09:33', '09:34->-']);
    expect(rows[2]?.spy_close).toBeNull();
  });

  it('forward and nearest on bar starts', async () => {
    const [, fwd] = await run({ as_of: { direction: 'forward' }, on: 'ts' });
    expect(matched(fwd)).toEqual(['09:30->09:30', '09:31->09:31', '09:32->09:33', '09:33->09:33', '09:34->-']);
    // 09:32 is one minute from both 09:31 and 09:33: the tie goes to the earlier bar.
    const [, near] = await run({ as_of: { direction: 'nearest' }, on: 'ts' });
    expect(matched(near)).toEqual(['09:30->09:30', '09:31->09:31', '09:32->09:31', '09:33->09:33', '09:34->09:33']);
  });

  it('exact joins match the same bar start only', async () => {
    const [, rows] = await run({ how: 'exact' });
    expect(matched(rows)).toEqual(['09:30->09:30', '09:31->09:31', '09:32->-', '09:33->09:33', '09:34->-']);
  });
});

describe('joins of other datasets', () => {
  it('reference data as-of from the previous session partition', async () => {
    await runAlignment(DAY, ['AAPL', 'MSFT'], deps(), spec({ name: 'withref', source: 'bars_1min', joins: [{ dataset: 'ref_daily', as: 'ref', columns: ['dividend'] }] }));
    const rows = await readAligned('withref');
    // Today's row is stamped 17:00, after the bars: every AAPL bar sees yesterday's 1.5. MSFT has none.
    expect(rows.filter((r) => r.symbol === 'AAPL').map((r) => r.ref_dividend)).toEqual(new Array(10).fill(1.5));
    expect(rows.find((r) => r.symbol === 'AAPL')?.ref_ts).toBe(et('17:00', PREV));
    expect(rows.filter((r) => r.symbol === 'MSFT').every((r) => r.ref_dividend === null)).toBe(true);
    expect(Object.keys(rows[0] ?? {})).not.toContain('ref_is_imputed');
  });

  it('resamples a joined bar dataset before an exact join', async () => {
    await runAlignment(
      DAY,
      ['AAPL'],
      deps(),
      spec({ name: 'fivejoin', source: 'bars_1min', frequency: '5min', joins: [{ dataset: 'bars_1min', as: 'f', columns: ['close', 'volume'], how: 'exact', frequency: '5min' }] }),
    );
    const rows = await readAligned('fivejoin');
    expect(rows.map((r) => [hm(r.ts as number), r.close, r.f_close, r.f_volume, r.f_close_imputed])).toEqual([
      ['09:30', 100, 100, 100, false],
      ['09:35', 103, 103, 55, true],
    ]);
  });

  it('rejects a column the joined dataset lacks and a missing source partition', async () => {
    await expect(
      runAlignment(DAY, ['AAPL'], deps(), spec({ name: 'bad', source: 'bars_1min', joins: [{ dataset: 'ref_daily', as: 'r', columns: ['nope'] }] })),
    ).rejects.toThrow(/no column nope/);
    await expect(runAlignment('2024-11-20', ['AAPL'], deps(), spec({ name: 'bad', source: 'bars_1min' }))).rejects.toThrow(/no curated bars_1min partition/);
  });
});

describe('alignment config', () => {
  it('parses the as-of policy and rejects inconsistent specs with paths', () => {
    expect(asOfPolicyConfigSchema.parse({ direction: 'nearest', tolerance: '5m' })).toEqual({ direction: 'nearest', toleranceMs: 300_000, allowExactMatches: true });
    expect(asOfPolicyConfigSchema.parse({})).toEqual({ direction: 'backward', toleranceMs: null, allowExactMatches: true });
    expect(asOfPolicyConfigSchema.safeParse({ direction: 'sideways' }).success).toBe(false);
    expect(spec({ name: 'a', source: 'bars_1min' }).frequency).toBe('1min');
    const bad = alignmentsConfigSchema.safeParse([
      { name: 'a', source: 'bars_1min', frequency: '90s' },
      { name: 'b', source: 'bars_1min', joins: [{ dataset: 'x', as: 'p', columns: ['c'], how: 'exact', as_of: {} }] },
    ]);
    expect(bad.error?.issues.map((i) => i.path.join('.'))).toEqual(['0.frequency', '1.joins.0.as_of']);
    const dup = alignmentsConfigSchema.safeParse([
      { name: 'a', source: 'bars_1min' },
      { name: 'a', source: 'bars_5min' },
    ]);
    expect(dup.error?.issues.map((i) => `${i.path.join('.')}: ${i.message}`)).toEqual(['1.name: duplicate alignment a (also alignments[0])']);
  });
});
