import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import { instrumentConfigSchema, type InstrumentConfig } from '../../src/config/instrument-config.js';
import { parseSettings } from '../../src/config/settings.js';
import { ManualClock, SystemClock, type Clock } from '../../src/core/clock.js';
import { InputError } from '../../src/core/errors.js';
import { DbIngestor } from '../../src/data-sources/db-ingestor.js';
import { ingestDbJob } from '../../src/jobs/ingest-db-job.js';
import { drainIngestor, type BatchSink, type Ingestor } from '../../src/data-sources/ingestor.js';
import { createIngestor } from '../../src/data-sources/ingestor-registry.js';
import { SourceSchemaError } from '../../src/data-sources/pg-connection.js';
import { postgresSourceConfigSchema } from '../../src/data-sources/sources-config.js';
import { WatermarkStore } from '../../src/data-sources/watermark-store.js';
import { createAppContext } from '../../src/ops/app-context.js';
import { createLogger, silentLogger } from '../../src/ops/logging-setup.js';
import { Writable } from 'node:stream';
import { startPostgresOrSkip } from '../support/postgres-server.js';
import { openTempLake, type TempLake } from '../support/temp-lake.js';

const pg = await startPostgresOrSkip();
afterAll(() => pg?.destroy());

const INSTRUMENTS: InstrumentConfig[] = [
  { key: 'AAPL', symbol: 'AAPL', con_id: 265598 },
  { key: 'MSFT', symbol: 'MSFT' },
  { key: 'SPY', symbol: 'SPY' },
].map((i) => instrumentConfigSchema.parse({ ...i, sec_type: 'STK', exchange: 'SMART', currency: 'USD', calendar: 'XNYS' }));

interface Bar {
  symbol: string;
  ts: number;
  open: number;
  high: number;
  low: number;
  close: number;
  volume: number;
  wap: number;
  trade_count: number;
}

const MIN = 60_000;
/** `n` one-minute bars per symbol per day from 14:30Z (09:30 New York in January); values in quarters, exact in binary. */
function makeBars(symbols: readonly string[], days: readonly string[], n: number, from = 0): Bar[] {
  const out: Bar[] = [];
  for (const day of days) {
    const open0 = Date.parse(`${day}T14:30:00Z`);
    for (const [si, symbol] of symbols.entries()) {
      for (let i = from; i < from + n; i++) {
        const base = 100 * (si + 1) + (i % 40) / 4;
        out.push({ symbol, ts: open0 + i * MIN, open: base, high: base + 0.5, low: base - 0.25, close: base + 0.25, volume: 1000 + i, wap: base + 0.125, trade_count: 10 + i });
      }
    }
  }
  return out;
}

let tableSeq = 0;
/** A bars table with its own column names (mapped in config), loaded with `bars`. */
async function createBarsTable(bars: readonly Bar[]): Promise<string> {
  const table = `bars_${++tableSeq}`;
  await pg!.sql(`CREATE TABLE ${table} (ticker text NOT NULL, bar_time timestamptz NOT NULL, o numeric(12,4), h double precision, l double precision,
    c numeric, vol bigint, vwap double precision, trades integer, PRIMARY KEY (ticker, bar_time))`);
  await insertBars(table, bars);
  return table;
}

async function insertBars(table: string, bars: readonly Bar[]): Promise<void> {
  const col = <K extends keyof Bar>(k: K): unknown[] => bars.map((b) => b[k]);
  await pg!.sql(
    `INSERT INTO ${table} (ticker, bar_time, o, h, l, c, vol, vwap, trades)
     SELECT * FROM unnest($1::text[], $2::timestamptz[], $3::numeric[], $4::float8[], $5::float8[], $6::numeric[], $7::bigint[], $8::float8[], $9::int[])`,
    [col('symbol'), bars.map((b) => new Date(b.ts).toISOString()), col('open'), col('high'), col('low'), col('close'), col('volume'), col('wap'), col('trade_count')],
  );
}

function sourceConfig(table: string, extra: Record<string, unknown> = {}) {
  return postgresSourceConfigSchema.parse({
    type: 'postgres',
    name: 'warehouse',
    table: `public.${table}`,
    columns: { symbol: 'ticker', ts: 'bar_time', open: 'o', high: 'h', low: 'l', close: 'c', volume: 'vol', wap: 'vwap', trade_count: 'trades' },
    page_size: 100,
    retry: { retries: 8, initial_delay_ms: 100, max_delay_ms: 400 },
    ...extra,
  });
}

let t: TempLake;
beforeEach(async () => {
  t = await openTempLake();
});
afterEach(async () => {
  await t.cleanup();
});

function ingestor(table: string, clock: Clock = new ManualClock(Date.parse('2024-02-01T00:00:00Z')), extra: Record<string, unknown> = {}, logger = silentLogger()) {
  return createIngestor(sourceConfig(table, extra), {
    lake: t.lake,
    rawStore: t.raw,
    clock,
    logger,
    instruments: INSTRUMENTS,
    barSize: '1 min',
    env: pg!.env,
  });
}

async function rawBars(): Promise<Bar[]> {
  const rows = await t.raw.readTwsBars({ start: '2024-01-01', end: '2024-01-31' });
  for (const r of rows) expect(r).toMatchObject({ source: 'DB', bar_size: '1min', what_to_show: 'TRADES', request_id: 'warehouse' });
  expect(rows.find((r) => r.symbol === 'AAPL')?.con_id).toBe(265598);
  return rows.map((r) => ({ symbol: r.symbol, ts: r.ts, open: r.open ?? NaN, high: r.high ?? NaN, low: r.low ?? NaN, close: r.close ?? NaN, volume: r.volume ?? NaN, wap: r.wap as number, trade_count: r.trade_count as number }));
}

const byKey = (a: Bar, b: Bar): number => a.symbol.localeCompare(b.symbol) || a.ts - b.ts;
const sorted = (bars: readonly Bar[]): Bar[] => [...bars].sort(byKey);
const drain = (ing: Ingestor, sink: BatchSink = t.raw, clock: Clock = new ManualClock(), request = {}) =>
  drainIngestor(ing, request, { sink, clock, logger: silentLogger() });

function watermarks(): Map<string, number> {
  const marks = new WatermarkStore(t.lake.path('state', 'source_watermarks.jsonl')).read('warehouse');
  return new Map([...marks].map(([s, m]) => [s, m.ts]));
}

describe.skipIf(!pg)('DbIngestor against a real PostgreSQL', () => {
  it('full load: every row once, in pages of page_size, watermark = newest bar per symbol', async () => {
    const bars = makeBars(['AAPL', 'MSFT', 'SPY'], ['2024-01-02', '2024-01-03'], 60); // 360 rows
    const table = await createBarsTable(bars);
    const s = await drain(ingestor(table));
    expect(s.batches).toBe(4); // 100 + 100 + 100 + 60
    expect(s.batchesWritten).toBe(4);
    expect(s.rowsWritten).toBe(360);
    expect(await rawBars()).toEqual(sorted(bars));
    const last = Date.parse('2024-01-03T14:30:00Z') + 59 * MIN;
    expect(watermarks()).toEqual(new Map([['AAPL', last], ['MSFT', last], ['SPY', last]]));
  });

  it('warns when no index starts with the ts column (every page would scan and sort the table)', async () => {
    const table = await createBarsTable(makeBars(['AAPL'], ['2024-01-02'], 3)); // primary key (ticker, bar_time) only
    const warnings = async (): Promise<string[]> => {
      const lines: string[] = [];
      const sink = new Writable({ write: (chunk: Buffer, _enc, cb) => (lines.push(chunk.toString()), cb()) });
      await ingestor(table, undefined, {}, createLogger({ format: 'json', destination: sink })).plan({});
      return lines.map((l) => JSON.parse(l) as { level: number; msg: string }).filter((l) => l.level === 40).map((l) => l.msg);
    };
    expect(await warnings()).toEqual([`no index starts with bar_time: each page scans and sorts the rest of the table; consider CREATE INDEX ON "public"."${table}" ("bar_time")`]);
    await pg!.sql(`CREATE INDEX ON ${table} (bar_time)`);
    expect(await warnings()).toEqual([]);
  });

  it('incremental load reads only rows after each watermark; a re-run adds nothing', async () => {
    const first = makeBars(['AAPL', 'MSFT', 'SPY'], ['2024-01-02'], 50);
    const table = await createBarsTable(first);
    expect((await drain(ingestor(table))).rowsWritten).toBe(150);
    // New bars: 20 more for AAPL and MSFT that day, a whole next day for all three.
    const later = [...makeBars(['AAPL', 'MSFT'], ['2024-01-02'], 20, 50), ...makeBars(['AAPL', 'MSFT', 'SPY'], ['2024-01-03'], 30)];
    await insertBars(table, later);
    const ing = ingestor(table);
    expect((await ing.plan({})).map((w) => [w.symbols[0], w.rows])).toEqual([['AAPL', 50], ['MSFT', 50], ['SPY', 30]]);
    const s = await drain(ing);
    expect(s.rowsRead).toBe(130);
    expect(s.rowsWritten).toBe(130);
    expect(await rawBars()).toEqual(sorted([...first, ...later]));
    const again = await drain(ingestor(table));
    expect(again).toMatchObject({ batches: 0, rowsRead: 0, rowsWritten: 0 });
    expect((await t.raw.readTwsBars({ start: '2024-01-01', end: '2024-01-31' })).length).toBe(280);
  });

  it('a crash between the raw commit and the watermark advance: the re-run repeats that page as a no-op', async () => {
    const bars = makeBars(['AAPL', 'MSFT'], ['2024-01-02'], 120); // 240 rows, 3 pages
    const table = await createBarsTable(bars);
    const ing = ingestor(table);
    const clock = new ManualClock();
    for await (const batch of ing.run({})) {
      await t.raw.writeTwsBars(batch.events, batch.batchId, clock.now());
      break; // the process "dies" before acknowledge(): the watermark never moved
    }
    expect(watermarks().size).toBe(0);
    const s = await drain(ingestor(table));
    expect(s.batches).toBe(3);
    expect(s.batchesWritten).toBe(2);
    expect(s.outcomes[0]?.written).toBe(false);
    expect(await rawBars()).toEqual(sorted(bars));
  });

  const terminateIngestor = async (): Promise<number> => {
    const res = await pg!.sql(`SELECT count(*)::int AS n FROM (SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'ibpipe:warehouse') x`);
    return res.rows[0].n as number;
  };

  it('a backend terminated while idle between pages: the next page reconnects, no loss, no duplicates', async () => {
    const bars = makeBars(['AAPL', 'MSFT', 'SPY'], ['2024-01-02', '2024-01-03'], 50); // 300 rows, 3 pages
    const table = await createBarsTable(bars);
    let terminated = 0;
    const sink: BatchSink = {
      writeRelation: (relation, batch) => t.raw.writeRelation(relation, batch),
      async writeTwsBars(events, batchId, ts) {
        const r = await t.raw.writeTwsBars(events, batchId, ts);
        if (terminated === 0) terminated = await terminateIngestor();
        return r;
      },
    };
    // Usually the client sees the kill while idle and reconnects at once; if the next query races
    // it, the retry path takes over (a real clock so that either way finishes).
    const s = await drain(ingestor(table, new SystemClock()), sink);
    expect(terminated).toBe(1);
    expect(s.batches).toBe(3);
    expect(await rawBars()).toEqual(sorted(bars));
  });

  it('a backend terminated in the middle of a page query: retried after a backoff taken on the Clock, no loss, no duplicates', async () => {
    const bars = makeBars(['AAPL', 'MSFT', 'SPY'], ['2024-01-02', '2024-01-03'], 50);
    const table = await createBarsTable(bars);
    // Each page query takes half a second on the server; after the first commit the backend is
    // terminated as soon as pg_stat_activity shows it running the next page's query.
    const slow = { table: undefined, query: `SELECT b.* FROM ${table} b, pg_sleep(0.5)` };
    const clock = new ManualClock();
    let done = false;
    const killWhileActive = async (): Promise<number> => {
      while (!done) {
        const res = await pg!.sql(
          `SELECT count(*)::int AS n FROM (SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'ibpipe:warehouse' AND state = 'active' AND query LIKE '%pg_sleep%') x`,
        );
        if ((res.rows[0].n as number) > 0) return res.rows[0].n as number;
        await new Promise((r) => setTimeout(r, 5));
      }
      return 0;
    };
    let kill: Promise<number> | null = null;
    const sink: BatchSink = {
      writeRelation: (relation, batch) => t.raw.writeRelation(relation, batch),
      async writeTwsBars(events, batchId, ts) {
        const r = await t.raw.writeTwsBars(events, batchId, ts);
        kill ??= killWhileActive();
        return r;
      },
    };
    const run = drain(ingestor(table, clock, slow), sink, clock).finally(() => (done = true));
    let backoffs = 0;
    while (!done) {
      await new Promise((r) => setTimeout(r, 10));
      if (clock.pending > 0) {
        backoffs++;
        await clock.advance(100); // the first retry delay (initial_delay_ms)
      }
    }
    const s = await run;
    expect(await kill).toBe(1);
    expect(backoffs).toBe(1);
    expect(s.batches).toBe(3);
    expect(await rawBars()).toEqual(sorted(bars));
  });

  it('the server stopped and restarted mid-load: connection refused is retried with backoff until it is back', async () => {
    const bars = makeBars(['AAPL', 'MSFT'], ['2024-01-02'], 150); // 300 rows, 3 pages
    const table = await createBarsTable(bars);
    let restarted: Promise<void> | null = null;
    const sink: BatchSink = {
      writeRelation: (relation, batch) => t.raw.writeRelation(relation, batch),
      async writeTwsBars(events, batchId, ts) {
        const r = await t.raw.writeTwsBars(events, batchId, ts);
        if (!restarted) {
          pg!.stop();
          restarted = new Promise((res) => setTimeout(() => (pg!.start(), res()), 300));
        }
        return r;
      },
    };
    const s = await drain(ingestor(table, new SystemClock()), sink, new SystemClock());
    await restarted;
    expect(s.batches).toBe(3);
    expect(await rawBars()).toEqual(sorted(bars));
  });

  it('a schema mismatch fails fast, naming the column, before anything is read', async () => {
    const table = await createBarsTable(makeBars(['AAPL'], ['2024-01-02'], 5));
    const columns = { symbol: 'ticker', ts: 'bar_time', open: 'o', high: 'h', low: 'l', close: 'closing_px', volume: 'vol' };
    const missing = drain(ingestor(table, undefined, { columns }));
    await expect(missing).rejects.toThrow(SourceSchemaError);
    await expect(missing).rejects.toThrow(/column "closing_px" \(columns\.close\) not found in table public\.bars_\d+; it has "ticker", "bar_time"/);
    await pg!.sql(`CREATE TABLE ${table}_text AS SELECT ticker, bar_time, o, h, l, c::text AS c, vol FROM ${table}`);
    const wrongType = drain(ingestor(`${table}_text`, undefined, { columns: { ...columns, close: 'c' } }));
    await expect(wrongType).rejects.toThrow(/column "c" \(columns\.close\) has type text; expected a number/);
    const noTable = drain(ingestor('no_such_table'));
    await expect(noTable).rejects.toThrow(SourceSchemaError);
    expect(t.raw.listDates()).toEqual([]);
  });

  it('a parameterised query with epoch-second, end-labelled bars and a symbol map', async () => {
    await pg!.sql(`CREATE TABLE quotes (venue text, sym varchar(16), t_end bigint, o float8, h float8, l float8, c float8, v float8)`);
    // Bar [14:30, 14:31) is stored at its end, 14:31, as epoch seconds.
    await pg!.sql(`INSERT INTO quotes VALUES ('X', 'AAPL.O', 1704205860, 1, 2, 0.5, 1.5, 10), ('X', 'MSFT.O', 1704205920, 3, 4, 2, 3.5, 20),
      ('Y', 'AAPL.O', 1704205860, 9, 9, 9, 9, 9)`);
    const direct = (config: Record<string, unknown>): DbIngestor =>
      new DbIngestor({
        config: postgresSourceConfigSchema.parse(config),
        instruments: INSTRUMENTS,
        defaultBarSize: '1 min',
        watermarks: new WatermarkStore(t.lake.path('state', 'source_watermarks.jsonl')),
        target: { config: { host: pg!.host, port: pg!.port, user: pg!.user, database: pg!.database }, label: 'test' },
        clock: new ManualClock(),
        logger: silentLogger(),
      });
    const quoteColumns = { symbol: 'sym', ts: 't_end', open: 'o', high: 'h', low: 'l', close: 'c', volume: 'v' };
    await drain(
      direct({
        type: 'postgres',
        name: 'warehouse',
        query: 'SELECT * FROM quotes WHERE venue = $1;',
        params: ['X'],
        columns: quoteColumns,
        ts_epoch_unit: 's',
        ts_label: 'end',
        symbol_map: { AAPL: 'AAPL.O', MSFT: 'MSFT.O' },
        symbols: ['AAPL', 'MSFT'],
      }),
    );
    const rows = await t.raw.readTwsBars({ start: '2024-01-02', end: '2024-01-02' });
    expect(rows.map((r) => [r.symbol, new Date(r.ts).toISOString(), r.close, r.wap, r.trade_count])).toEqual([
      ['AAPL', '2024-01-02T14:30:00.000Z', 1.5, null, null],
      ['MSFT', '2024-01-02T14:31:00.000Z', 3.5, null, null],
    ]);
    // Integer epoch without a unit is refused, naming the column.
    const noUnit = direct({ type: 'postgres', name: 'other', table: 'quotes', columns: quoteColumns });
    await expect(drain(noUnit)).rejects.toThrow(/column "t_end" \(columns\.ts\) is an integer column; set ts_epoch_unit/);
  });

  it('a zone-less timestamp column needs ts_timezone; its wall times then map to UTC, and a DST-skipped one refuses the run before any page is written', async () => {
    await pg!.sql(`CREATE TABLE local_bars (sym text, t timestamp, o float8, h float8, l float8, c float8, v float8)`);
    // New York wall times: 09:30 EST = 14:30Z; a 250-row first page of good rows; then 02:30 on 2024-03-10, which New York skipped.
    await pg!.sql(`INSERT INTO local_bars SELECT 'AAPL', timestamp '2024-01-02 09:30' + make_interval(mins => i), 1, 2, 0.5, 1.5, 10 FROM generate_series(0, 249) i`);
    const localColumns = { symbol: 'sym', ts: 't', open: 'o', high: 'h', low: 'l', close: 'c', volume: 'v' };
    const source = (extra: Record<string, unknown>) => ingestor('local_bars', undefined, { table: 'public.local_bars', columns: localColumns, ...extra });
    const refused = drain(source({}));
    await expect(refused).rejects.toThrow(SourceSchemaError);
    await expect(refused).rejects.toThrow(/column "t" \(columns\.ts\) is timestamp without time zone, so its instants are unknown; set ts_timezone on source warehouse/);
    await pg!.sql(`INSERT INTO local_bars VALUES ('AAPL', timestamp '2024-03-10 02:30', 1, 2, 0.5, 1.5, 10)`);
    const skipped = drain(source({ ts_timezone: 'America/New_York' }));
    await expect(skipped).rejects.toThrow(InputError);
    await expect(skipped).rejects.toThrow(
      'source warehouse: row with sym "AAPL" and t "2024-03-10 02:30:00": column "t" (columns.ts): "2024-03-10 02:30:00" does not exist in the declared zone America/New_York (skipped by a daylight-saving change)',
    );
    expect(t.raw.listDates()).toEqual([]);
    await pg!.sql(`DELETE FROM local_bars WHERE t = timestamp '2024-03-10 02:30'`);
    await drain(source({ ts_timezone: 'America/New_York' }));
    const rows = await t.raw.readTwsBars({ start: '2024-01-02', end: '2024-01-02' });
    expect(rows).toHaveLength(250);
    expect(rows[0]?.ts).toBe(Date.parse('2024-01-02T14:30:00Z'));
  });

  it('NaN and infinite prices, NULL prices, fractional trade counts and implausible instants refuse the run naming row and column, with nothing written', async () => {
    const bars = makeBars(['AAPL', 'MSFT'], ['2024-01-02'], 100); // 200 rows, 2 pages: the bad row sits in the last page
    const cases: [string, RegExp][] = [
      [`UPDATE %t SET o = 'NaN' WHERE ticker = 'MSFT' AND bar_time = '2024-01-02T16:09:00Z'`, /row with ticker "MSFT" and bar_time "2024-01-02 16:09:00\+00": column "o" \(columns\.open\): "NaN" is NaN or infinite$/],
      [`UPDATE %t SET h = 'Infinity' WHERE ticker = 'MSFT' AND bar_time = '2024-01-02T16:09:00Z'`, /column "h" \(columns\.high\): "Infinity" is NaN or infinite$/],
      [`UPDATE %t SET l = NULL WHERE ticker = 'MSFT' AND bar_time = '2024-01-02T16:09:00Z'`, /column "l" \(columns\.low\): value is missing$/],
      [`UPDATE %t SET vwap = 'NaN' WHERE ticker = 'MSFT' AND bar_time = '2024-01-02T16:09:00Z'`, /column "vwap" \(columns\.wap\): "NaN" is NaN or infinite$/],
      [`INSERT INTO %t VALUES ('SPY', '1900-01-02T14:30:00Z', 1, 2, 0.5, 1.5, 10, 1, 1)`, /row with ticker "SPY" and bar_time "1900-01-02 14:30:00\+00": column "bar_time" \(columns\.ts\): "1900-01-02 14:30:00\+00" is outside the plausible range/],
    ];
    for (const [sql, re] of cases) {
      const table = await createBarsTable(bars);
      await pg!.sql(sql.replaceAll('%t', table));
      await expect(drain(ingestor(table))).rejects.toThrow(re);
      expect(t.raw.listDates()).toEqual([]);
      expect(watermarks().size).toBe(0);
    }
    // trade_count is an integer column in the table above; a numeric one may hold fractions
    await pg!.sql(`CREATE TABLE frac_bars AS SELECT ticker, bar_time, o, h, l, c, vol, vwap, trades::numeric + 0.5 AS trades FROM ${await createBarsTable(bars.slice(0, 3))}`);
    await expect(drain(ingestor('frac_bars', undefined, { table: 'public.frac_bars' }))).rejects.toThrow(/column "trades" \(columns\.trade_count\): "10\.5" is not an integer$/);
  });

  it('an integer epoch column: the unit is stated, and a value implausible in it (a truncated epoch) is refused', async () => {
    await pg!.sql(`CREATE TABLE epoch_bars (sym text, t bigint, o float8, h float8, l float8, c float8, v float8)`);
    await pg!.sql(`INSERT INTO epoch_bars VALUES ('AAPL', 1704205800, 1, 2, 0.5, 1.5, 10), ('AAPL', 17042058, 1, 2, 0.5, 1.5, 10)`);
    const columns = { symbol: 'sym', ts: 't', open: 'o', high: 'h', low: 'l', close: 'c', volume: 'v' };
    await expect(drain(ingestor('epoch_bars', undefined, { table: 'public.epoch_bars', columns, ts_epoch_unit: 's' }))).rejects.toThrow(
      /row with sym "AAPL" and t "17042058": column "t" \(columns\.ts\): "17042058" is outside the plausible range/,
    );
    expect(t.raw.listDates()).toEqual([]);
  });

  it('an explicit window reads that whole window, moves the watermark only when it continues from it, and picks up corrections', async () => {
    const bars = makeBars(['AAPL', 'MSFT'], ['2024-01-02', '2024-01-03'], 10);
    const table = await createBarsTable(bars);
    const jan3 = Date.parse('2024-01-03T00:00:00Z');
    const s = await drain(ingestor(table), t.raw, new ManualClock(), { start: jan3, end: jan3 + 86_400_000 });
    expect(s.rowsRead).toBe(20);
    expect(watermarks().size).toBe(0); // day 1 was never read: no claim that everything up to day 2 is in
    const full = await drain(ingestor(table));
    expect(full.rowsRead).toBe(40);
    expect(watermarks().get('AAPL')).toBe(Date.parse('2024-01-03T14:39:00Z'));
    // An explicit start re-reads the window behind the watermark: the unchanged page is a no-op …
    const day3 = { start: jan3, end: jan3 + 86_400_000 };
    const again = await drain(ingestor(table), t.raw, new ManualClock(), day3);
    expect(again).toMatchObject({ batches: 1, batchesWritten: 0, rowsRead: 20 });
    // … and a row corrected in the source since comes in as a new batch.
    await pg!.sql(`UPDATE ${table} SET c = 1234.5 WHERE ticker = 'MSFT' AND bar_time = '2024-01-03 14:35:00+00'`);
    const fixed = await drain(ingestor(table), t.raw, new ManualClock(Date.parse('2024-03-01T00:00:00Z')), day3);
    expect(fixed).toMatchObject({ batches: 1, batchesWritten: 1, rowsWritten: 20 });
    const msft = (await t.raw.readTwsBars({ symbols: ['MSFT'], start: '2024-01-03', end: '2024-01-03', dedup: true })).find((r) => r.ts === Date.parse('2024-01-03T14:35:00Z'));
    expect(msft?.close).toBe(1234.5);
    await expect(drain(ingestor(table), t.raw, new ManualClock(), { symbols: ['AAPL', 'ZZZ'] })).rejects.toThrow(InputError);
  });

  it('the ingest_db job (what the scheduler runs) loads through an AppContext whose sourceEnv the CLI filled', async () => {
    const bars = makeBars(['AAPL', 'MSFT'], ['2024-01-02'], 30);
    const table = await createBarsTable(bars);
    const settings = parseSettings({
      lake: { root: t.dir },
      instruments: INSTRUMENTS.map((i) => ({ ...i })),
      sources: [{ ...sourceConfig(table), name: 'warehouse' }],
    });
    const app = await createAppContext(settings, { clock: new ManualClock(), sourceEnv: pg!.env });
    try {
      const ctx = { app, signal: new AbortController().signal, logger: silentLogger() };
      const first = await ingestDbJob.run(ctx, { symbols: ['AAPL'] });
      expect(first.counts).toEqual({ sources: 1, batches: 1, batches_written: 1, read: 30, written: 30 });
      const second = await ingestDbJob.run(ctx, {});
      expect(second.counts).toEqual({ sources: 1, batches: 1, batches_written: 1, read: 30, written: 30 }); // MSFT only: AAPL is at its watermark
      expect((await ingestDbJob.run(ctx, {})).counts.read).toBe(0);
    } finally {
      await app.close();
    }
    expect(await rawBars()).toEqual(sorted(bars));
  });
});
