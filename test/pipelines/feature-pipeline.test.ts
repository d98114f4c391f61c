import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { canMeasureMainThreadCpu, monitorMainThreadBlocking } from '../support/main-thread-blocking.js';
import { getCalendar } from '../../src/calendar/calendar-registry.js';
import type { CuratedBarRow } from '../../src/storage/tables/curated-bars.js';
import { ManualClock } from '../../src/core/clock.js';
import { VersionConflictError } from '../../src/core/errors.js';
import { silentLogger } from '../../src/ops/logging-setup.js';
import { alignmentSpecSchema } from '../../src/pipelines/alignment-config.js';
import { runAlignment } from '../../src/pipelines/alignment-pipeline.js';
import { positionalRelation, runFeaturePipeline, type FeaturePipelineDeps } from '../../src/pipelines/feature-pipeline.js';
import { computeFeatureGroup } from '../../src/pipelines/features/compute-feature-group.js';
import { featureGroupSchema, specOutputColumns, type FeatureGroup } from '../../src/pipelines/features/feature-config.js';
import { resolveSourceDataset } from '../../src/pipelines/source-dataset.js';
import { FeatureStore } from '../../src/storage/feature-store.js';
import type { LakeRow } from '../../src/storage/lake.js';
import { sqlString } from '../../src/core/sql.js';
import { openTempLake, type TempLake } from '../support/temp-lake.js';

const MIN = 60_000;
const DATES = ['2024-11-18', '2024-11-19', '2024-11-20', '2024-11-21', '2024-11-22'];
const SYMBOLS = ['AAPL', 'MSFT'];

/** The issue's example group. */
const TECH: FeatureGroup = featureGroupSchema.parse({
  name: 'technical',
  version: 'v1',
  source: 'bars_1min',
  features: [
    { name: 'sma_20', fn: 'sma', column: 'close', window: 20 },
    { name: 'ema_12', fn: 'ema', column: 'close', window: 12 },
    { name: 'rsi_14', fn: 'rsi', column: 'close', window: 14 },
    { name: 'macd', fn: 'macd', column: 'close', fast: 12, slow: 26, signal: 9 },
    { name: 'bb_20', fn: 'bollinger', column: 'close', window: 20, k: 2 },
    { name: 'atr_14', fn: 'atr', window: 14 },
    { name: 'vol_20', fn: 'rolling_volatility', column: 'close', window: 20 },
    { name: 'close_lag', fn: 'lag', column: 'close', periods: [1, 5, 10] },
  ],
});
const COLUMNS = TECH.features.flatMap(specOutputColumns);

/** A deterministic, wandering price: a function of (symbol, ts) only. */
function price(symbol: string, ts: number): number {
  const k = ts / MIN;
  const s = symbol === 'AAPL' ? 1 : 2.3;
  return 100 * s + 3 * Math.sin(k / 37 + s) + 1.5 * Math.sin(k / 5.3) + 0.4 * Math.sin(k * 1.7 + s * 3);
}

function curatedRow(symbol: string, ts: number, p: (s: string, t: number) => number, kind: 'ok' | 'ffill' | 'null' = 'ok'): CuratedBarRow {
  const c = p(symbol, ts);
  const o = p(symbol, ts - MIN);
  const masked = kind !== 'ok';
  // ok: an observed bar; ffill: a flat candle at the previous close with no volume; null: all missing.
  const bar =
    kind === 'null'
      ? { open: null, high: null, low: null, close: null, volume: null, wap: null, trade_count: null }
      : kind === 'ffill'
        ? { open: o, high: o, low: o, close: o, volume: 0, wap: o, trade_count: 0 }
        : { open: o, high: Math.max(o, c) + 0.2, low: Math.min(o, c) - 0.2, close: c, volume: 1000 + ((ts / MIN) % 17) * 10, wap: (o + c) / 2, trade_count: 10 };
  return {
    symbol,
    ts,
    available_ts: ts + MIN,
    ...bar,
    is_imputed: masked,
    imputation: kind === 'ok' ? null : kind === 'ffill' ? 'ffill' : 'max_gap_exceeded',
    open_imputed: masked,
    high_imputed: masked,
    low_imputed: masked,
    close_imputed: masked,
    volume_imputed: masked,
    wap_imputed: masked,
    trade_count_imputed: masked,
  };
}

/**
 * Writes full XNYS sessions of curated 1-min bars. MSFT has an imputed bar at 10:00 ET every
 * day and, on 2024-11-20, a run of 40 NULL bars from 11:00 ET (an over-long gap).
 */
async function writeCurated(t: TempLake, p: (s: string, ts: number) => number = price, dates = DATES): Promise<CuratedBarRow[]> {
  const all: CuratedBarRow[] = [];
  for (const date of dates) {
    const session = getCalendar('XNYS').session(date);
    if (!session) throw new Error(`no session ${date}`);
    const rows: CuratedBarRow[] = [];
    for (const symbol of SYMBOLS) {
      for (let ts = session.open; ts < session.close; ts += MIN) {
        const minute = (ts - session.open) / MIN;
        let kind: 'ok' | 'ffill' | 'null' = 'ok';
        if (symbol === 'MSFT' && minute === 30) kind = 'ffill';
        if (symbol === 'MSFT' && date === '2024-11-20' && minute >= 90 && minute < 130) kind = 'null';
        rows.push(curatedRow(symbol, ts, p, kind));
      }
    }
    await t.curated.writeCuratedBars(rows, 'bars_1min', date);
    all.push(...rows);
  }
  return all;
}

function depsFor(t: TempLake, store: FeatureStore, extra: Partial<FeaturePipelineDeps> = {}): FeaturePipelineDeps {
  return { lake: t.lake, featureStore: store, logger: silentLogger(), source: resolveSourceDataset('bars_1min'), ...extra };
}

function byKey(rows: readonly LakeRow[]): Map<string, LakeRow> {
  return new Map(rows.map((r) => [`${r.symbol as string}|${r.ts as number}`, r]));
}

/** |a − b| <= 1e-9 · max(1, |b|), with NULLs equal only to NULLs. */
function close9(a: unknown, b: unknown): boolean {
  if (a === null || b === null) return a === b;
  return Math.abs((a as number) - (b as number)) <= 1e-9 * Math.max(1, Math.abs(b as number));
}

describe('feature pipeline: lookback, masks, PIT stamps', () => {
  let t: TempLake;
  let store: FeatureStore;
  let curated: CuratedBarRow[];
  beforeAll(async () => {
    t = await openTempLake();
    store = new FeatureStore(t.lake, t.calendars, new ManualClock(Date.parse('2024-12-01T00:00:00Z')));
    curated = await writeCurated(t);
  });
  afterAll(async () => t.cleanup());

  it('computing a day alone equals that day in a multi-day run and in a full-history computation', async () => {
    const multi = await runFeaturePipeline(DATES.slice(1), SYMBOLS, TECH, 'multi', depsFor(t, store));
    expect(multi.dates).toEqual(DATES.slice(1));
    // MACD(12,26,9) needs 26 + 9 - 2 = 33 warm-up bars plus ceil(ln 1e-12 / ln(25/27)) = 360 and
    // ceil(ln 1e-12 / ln(0.8)) = 124 bars for its two EMA seeds to fade: 517 > 390 bars a day,
    // so one day needs the two sessions before it.
    expect(multi.lookbackBars).toBe(517);
    expect(multi.lookbackDates).toEqual(['2024-11-18']);

    const alone = await runFeaturePipeline(['2024-11-22'], SYMBOLS, TECH, 'alone', depsFor(t, store));
    expect(alone.lookbackDates).toEqual(['2024-11-20', '2024-11-21']);
    expect(alone.rowsWritten).toBe(2 * 390);

    const a = await store.getFeaturesForTraining('technical', 'alone', '2024-11-22', '2024-11-22');
    const m = byKey(await store.getFeaturesForTraining('technical', 'multi', '2024-11-22', '2024-11-22'));
    expect(a).toHaveLength(780);
    // Full history: each symbol's whole stored series through the pure function.
    const full = new Map<string, { ts: number[]; cols: Record<string, Float64Array> }>();
    for (const s of SYMBOLS) {
      const rows = curated.filter((r) => r.symbol === s).sort((x, y) => x.ts - y.ts);
      const res = computeFeatureGroup(
        {
          ts: rows.map((r) => r.ts),
          open: rows.map((r) => r.open),
          high: rows.map((r) => r.high),
          low: rows.map((r) => r.low),
          close: rows.map((r) => r.close),
          volume: rows.map((r) => r.volume),
          sessionDate: rows.map((r) => t.calendars.sessionDateOf(s, r.ts)),
        },
        TECH,
      );
      full.set(s, { ts: rows.map((r) => r.ts), cols: res.columns });
    }
    let compared = 0;
    for (const row of a) {
      const other = m.get(`${row.symbol as string}|${row.ts as number}`);
      const f = full.get(row.symbol as string);
      const i = f?.ts.indexOf(row.ts as number) ?? -1;
      expect(i).toBeGreaterThanOrEqual(0);
      for (const c of COLUMNS) {
        const ref = (f?.cols[c] as Float64Array)[i] as number;
        const refOrNull = Number.isFinite(ref) ? ref : null;
        if (!close9(row[c], other?.[c]) || !close9(row[c], refOrNull)) {
          throw new Error(`${row.symbol as string} ${new Date(row.ts as number).toISOString()} ${c}: alone ${String(row[c])}, multi ${String(other?.[c])}, full ${String(refOrNull)}`);
        }
        if (row[c] !== null) compared++;
      }
    }
    // Every feature has a value on every bar of the day (no warm-up left on day 5).
    expect(compared).toBe(780 * COLUMNS.length);
  });

  it('stamps available_ts = ts + 1 min, carries the gap masks and writes warm-up as NULL', async () => {
    const first = await store.getFeaturesForTraining('technical', 'multi', '2024-11-19', '2024-11-19', ['MSFT']);
    expect(first.every((r) => (r.available_ts as number) - (r.ts as number) === MIN)).toBe(true);
    expect(first.every((r) => r.feature_group === 'technical' && r.version === 'multi')).toBe(true);
    const imputed = first.filter((r) => r.is_imputed === true);
    expect(imputed.map((r) => new Date(r.ts as number).toISOString())).toEqual(['2024-11-19T15:00:00.000Z']);
    expect(imputed[0]).toMatchObject({ imputation: 'ffill', close_imputed: true, volume_imputed: true });

    // 2024-11-18 is the first stored session: computing it starts from nothing.
    const res = await runFeaturePipeline(['2024-11-18'], ['AAPL'], TECH, 'first', depsFor(t, store));
    expect(res.lookbackDates).toEqual([]);
    const rows = await store.getFeaturesForTraining('technical', 'first', '2024-11-18', '2024-11-18');
    expect(rows.slice(0, 19).every((r) => r.sma_20 === null)).toBe(true);
    expect(rows[19]?.sma_20).not.toBeNull();
    expect(rows[0]?.close_lag_1).toBeNull();
    expect(rows[1]?.close_lag_1).toBeCloseTo(price('AAPL', rows[0]?.ts as number), 12);

    // MSFT's 40 NULL bars on 2024-11-20 make the bars NULL and restart the recursions after them.
    const gap = await store.getFeaturesForTraining('technical', 'multi', '2024-11-20', '2024-11-20', ['MSFT']);
    const inGap = gap.slice(90, 130);
    expect(inGap.every((r) => r.is_imputed === true && r.imputation === 'max_gap_exceeded' && r.ema_12 === null)).toBe(true);
    expect(gap[130 + 10]?.ema_12).toBeNull(); // warming up again (first value at 11 bars after the gap)
    expect(gap[130 + 11]?.ema_12).not.toBeNull();
  });

  it('refuses a changed definition under an existing version, naming the group, before writing', async () => {
    const changed = featureGroupSchema.parse({ ...TECH, features: [...TECH.features.slice(1), { name: 'sma_20', fn: 'sma', column: 'close', window: 21 }] });
    const before = store.existingFiles('technical', 'alone', DATES);
    await expect(runFeaturePipeline(['2024-11-21'], SYMBOLS, changed, 'alone', depsFor(t, store))).rejects.toThrow(VersionConflictError);
    await expect(runFeaturePipeline(['2024-11-21'], SYMBOLS, changed, 'alone', depsFor(t, store))).rejects.toThrow(/feature group technical/);
    expect(store.existingFiles('technical', 'alone', DATES)).toEqual(before);
  });

  it('skips dates without a source partition and fails when none has one', async () => {
    const res = await runFeaturePipeline(['2024-11-22', '2024-11-23'], ['AAPL'], TECH, 'multi', depsFor(t, store));
    expect(res.skippedDates).toEqual(['2024-11-23']);
    await expect(runFeaturePipeline(['2024-11-23'], ['AAPL'], TECH, 'multi', depsFor(t, store))).rejects.toThrow(/no curated bars_1min partition/);
  });

  it('reads an aligned (resampled) dataset and stamps its bar length', async () => {
    const spec = alignmentSpecSchema.parse({ name: 'aligned_5min', source: 'bars_1min', frequency: '5min' });
    for (const d of DATES.slice(3)) await runAlignment(d, SYMBOLS, { lake: t.lake, calendars: t.calendars, logger: silentLogger() }, spec);
    const group = featureGroupSchema.parse({ name: 'five', version: 'v1', source: 'aligned_5min', features: [{ name: 'sma_3', fn: 'sma', window: 3 }] });
    const source = resolveSourceDataset('aligned_5min', [{ name: 'aligned_5min', frequency: '5min' }]);
    const res = await runFeaturePipeline(['2024-11-22'], ['AAPL'], group, 'v1', depsFor(t, store, { source }));
    expect(res.lookbackDates).toEqual(['2024-11-21']);
    const rows = await store.getFeaturesForTraining('five', 'v1', '2024-11-22', '2024-11-22');
    expect(rows).toHaveLength(78);
    expect(rows.every((r) => (r.available_ts as number) - (r.ts as number) === 5 * MIN)).toBe(true);
    // sma_3 at 09:40 ET = mean of the 5-min closes of 09:30, 09:35, 09:40 = 1-min closes at 09:34, 09:39, 09:44.
    const open = Date.parse('2024-11-22T14:30:00Z');
    const expected = (price('AAPL', open + 4 * MIN) + price('AAPL', open + 9 * MIN) + price('AAPL', open + 14 * MIN)) / 3;
    expect(rows[2]?.sma_3).toBeCloseTo(expected, 10);
  });
});

describe('feature pipeline: a range equals its days computed one at a time', () => {
  let t: TempLake;
  let store: FeatureStore;
  beforeAll(async () => {
    t = await openTempLake();
    store = new FeatureStore(t.lake, t.calendars, new ManualClock(Date.parse('2024-12-01T00:00:00Z')));
    await writeCurated(t);
  });
  afterAll(async () => t.cleanup());

  /** Every stored column of every row, keyed by (symbol, ts); values compared with Object.is. */
  async function snapshot(version: string, start: string, end: string): Promise<Map<string, LakeRow>> {
    const rows = await store.getFeaturesForTraining('technical', version, start, end);
    return new Map(rows.map((r) => [`${r.symbol as string}|${r.ts as number}`, { ...r, version: null }]));
  }

  it('bit for bit, whatever the batch size (one read, or one symbol-day per read) and on a worker thread', async () => {
    const days = DATES.slice(1);
    const whole = await runFeaturePipeline(days, SYMBOLS, TECH, 'range', depsFor(t, store, { compute: 'inline' }));
    expect(whole.batches).toBe(1);
    await runFeaturePipeline(days, SYMBOLS, TECH, 'range-worker', depsFor(t, store, { compute: 'worker' }));
    // 1,000 rows fit one symbol's day with its 517 bars of history, never two: 2 symbols x 4 days = 8 reads.
    const small = await runFeaturePipeline(days, SYMBOLS, TECH, 'range-small', depsFor(t, store, { batchRows: 1000 }));
    expect(small.batches).toBe(8);
    // Each stored session is read once per symbol however the run is cut (the 4 days and the one
    // session of lookback before them): a later read takes its history from the previous one.
    expect(whole.rowsRead).toBe(2 * 5 * 390);
    expect(small.rowsRead).toBe(whole.rowsRead);
    for (const d of days) await runFeaturePipeline([d], SYMBOLS, TECH, 'daily', depsFor(t, store));

    const daily = await snapshot('daily', days[0] as string, days[3] as string);
    expect(daily.size).toBe(4 * 2 * 390);
    for (const version of ['range', 'range-worker', 'range-small']) {
      const other = await snapshot(version, days[0] as string, days[3] as string);
      expect(other.size).toBe(daily.size);
      let values = 0;
      for (const [key, row] of daily) {
        const o = other.get(key);
        for (const [c, v] of Object.entries(row)) {
          if (!Object.is(v, o?.[c])) throw new Error(`${version} ${key} ${c}: ${String(o?.[c])} vs day by day ${String(v)}`);
          if (typeof v === 'number') values++;
        }
      }
      expect(values).toBeGreaterThan(daily.size * COLUMNS.length * 0.9);
    }

    // One symbol again: its rows are rewritten (the same, bit for bit), the other's kept, the file still sorted.
    await runFeaturePipeline([days[2] as string], ['AAPL'], TECH, 'daily', depsFor(t, store));
    expect(await snapshot('daily', days[0] as string, days[3] as string)).toEqual(daily);
    const file = store.partitionFile('technical', 'daily', days[2] as string);
    const order = await t.lake.query<{ bad: number }>(
      `SELECT count(*) FILTER (WHERE bad) AS bad FROM (SELECT (symbol, ts) <= lag((symbol, ts)) OVER (ORDER BY file_row_number) AS bad FROM read_parquet(${sqlString(file)}, file_row_number = true))`,
    );
    expect(order).toEqual([{ bad: 0 }]);
  });

  it('stamps available_ts as the running maximum of the source\'s available_ts (C3)', async () => {
    // Rewrite MSFT's 2024-11-21 with an available_ts column: bars 100..103 were imputed from bar
    // 104 (linear), so they became known only when bar 104 completed.
    const day = '2024-11-21';
    const file = t.curated.partitionFile('bars_1min', day);
    const open = Date.parse('2024-11-21T14:30:00Z');
    const late = open + 105 * MIN;
    await t.lake.writeParquetAtomic(
      file,
      `SELECT COLUMNS(c -> c <> 'available_ts'), CASE WHEN symbol = 'MSFT' AND ts >= ${sqlString(new Date(open + 100 * MIN).toISOString())}::TIMESTAMPTZ AND ts < ${sqlString(new Date(open + 104 * MIN).toISOString())}::TIMESTAMPTZ
                      THEN ${sqlString(new Date(late).toISOString())}::TIMESTAMPTZ ELSE ts + INTERVAL 1 MINUTE END AS available_ts
       FROM read_parquet(${sqlString(file)}, hive_partitioning = false) ORDER BY symbol, ts`,
    );
    await runFeaturePipeline([day, '2024-11-22'], ['MSFT'], TECH, 'avail', depsFor(t, store));
    const rows = await store.getFeaturesForTraining('technical', 'avail', day, '2024-11-22', ['MSFT']);
    expect(rows).toHaveLength(780);
    rows.forEach((r, i) => {
      const ts = r.ts as number;
      // Bars 100..104 are known at bar 104's completion; every other bar at its own.
      const expected = i >= 100 && i <= 104 ? late : ts + MIN;
      if (r.available_ts !== expected) throw new Error(`row ${i}: available_ts ${String(r.available_ts)}, expected ${expected}`);
    });

    // A lake written before curated rows had available_ts: the range starts in a file without
    // the column and goes on in one with it; the later day's stamps are the same.
    const before = t.curated.partitionFile('bars_1min', '2024-11-20');
    await t.lake.writeParquetAtomic(before, `SELECT COLUMNS(c -> c <> 'available_ts') FROM read_parquet(${sqlString(before)}, hive_partitioning = false) ORDER BY symbol, ts`);
    await runFeaturePipeline(['2024-11-20', day], ['MSFT'], TECH, 'avail-mixed', depsFor(t, store));
    const mixed = await store.getFeaturesForTraining('technical', 'avail-mixed', '2024-11-20', day, ['MSFT']);
    expect(mixed.slice(390).map((r) => r.available_ts)).toEqual(rows.slice(0, 390).map((r) => r.available_ts));
    expect(mixed.slice(0, 390).every((r) => r.available_ts === (r.ts as number) + MIN)).toBe(true);
  });

  it('counts revisions (C4) in its write: the published rows a rerun changes, and only those', async () => {
    const day = '2024-11-22';
    const stored = async (): Promise<Map<string, LakeRow>> => byKey(await store.getFeaturesForTraining('technical', 'rev', day, day));
    const first = await runFeaturePipeline([day], SYMBOLS, TECH, 'rev', depsFor(t, store));
    expect(first.revisions).toBe(0);
    const before = await stored();
    // The same data again: every row is published already, none changes.
    expect((await runFeaturePipeline([day], SYMBOLS, TECH, 'rev', depsFor(t, store))).revisions).toBe(0);
    // A corrected bar: AAPL's close at 11:50 ET moves by 1 %.
    const file = t.curated.partitionFile('bars_1min', day);
    const fix = Date.parse('2024-11-22T16:50:00Z');
    await t.lake.writeParquetAtomic(
      file,
      `SELECT * REPLACE (CASE WHEN symbol = 'AAPL' AND ts = ${sqlString(new Date(fix).toISOString())}::TIMESTAMPTZ THEN close * 1.01 ELSE close END AS close)
       FROM read_parquet(${sqlString(file)}, hive_partitioning = false) ORDER BY symbol, ts`,
    );
    const rerun = await runFeaturePipeline([day], SYMBOLS, TECH, 'rev', depsFor(t, store));
    // The oracle: the stored rows compared in JS, on the columns the contract names.
    const after = await stored();
    const changed = [...after].filter(([key, row]) => ['available_ts', 'is_imputed', ...COLUMNS].some((c) => row[c] !== before.get(key)?.[c])).map(([key]) => key);
    expect(changed.length).toBeGreaterThan(100);
    expect(changed.every((k) => k.startsWith('AAPL|') && Number(k.split('|')[1]) >= fix)).toBe(true);
    expect(rerun.revisions).toBe(changed.length);
    // Rewriting MSFT alone revises nothing (AAPL's rows are kept, not compared).
    expect((await runFeaturePipeline([day], ['MSFT'], TECH, 'rev', depsFor(t, store))).revisions).toBe(0);
  });
});

describe('feature pipeline: keys and outputs side by side', () => {
  it('pairs source keys with computed outputs by position and refuses to write when they are out of step', async () => {
    const t = await openTempLake();
    try {
      const file = t.lake.path('keys.parquet');
      await t.lake.writeParquetAtomic(
        file,
        `SELECT s AS symbol, TIMESTAMPTZ '2024-11-22 14:30:00+00' + INTERVAL (m) MINUTE AS ts, m = 1 AS is_imputed, CAST(NULL AS VARCHAR) AS imputation
         FROM (VALUES ('AAPL'), ('MSFT')) v(s), range(3) r(m) ORDER BY symbol, ts`,
      );
      const hashes = await t.lake.readDoubles(`SELECT CAST(hash('AAPL') AS DOUBLE) AS a, CAST(hash('MSFT') AS DOUBLE) AS m`);
      const [a, m] = [hashes.get('a')[0] as number, hashes.get('m')[0] as number];
      const t0 = Date.parse('2024-11-22T14:30:00Z');
      const sym = Float64Array.from([a, a, a, m, m, m]);
      const ts = Float64Array.from([0, 1, 2, 0, 1, 2].map((m) => t0 + m * MIN));
      const f = Float64Array.from([1, 2, 3, 4, 5, 6]);
      const ctx = { hasImputation: true, table: { maskColumns: [], featureColumns: ['f'] } };
      const read = (cols: Float64Array[]): Promise<LakeRow[]> =>
        t.lake.withDoubles(['__symbol', '__ts', '__available', 'f'], [[cols]], ([o]) =>
          t.lake.query(`SELECT * FROM ${positionalRelation(ctx, `read_parquet(${sqlString(file)})`, o as string, '2024-11-22')}`),
        );
      const rows = await read([sym, ts, ts.map((x) => x + MIN), f]);
      expect(rows.map((r) => [r.symbol, (r.ts as number) - t0, r.is_imputed, r.f])).toEqual([
        ['AAPL', 0, false, 1],
        ['AAPL', MIN, true, 2],
        ['AAPL', 2 * MIN, false, 3],
        ['MSFT', 0, false, 4],
        ['MSFT', MIN, true, 5],
        ['MSFT', 2 * MIN, false, 6],
      ]);
      // Outputs for the symbols in the wrong order: same ts sequence, different symbols.
      const swapped = Float64Array.from([m, m, m, a, a, a]);
      await expect(read([swapped, ts, ts, f])).rejects.toThrow(/source partition changed while they were computed \(AAPL at .* is out of step\)/);
      // One output row short: the last key has no partner.
      await expect(read([sym.subarray(0, 5), ts.subarray(0, 5), ts.subarray(0, 5), f.subarray(0, 5)])).rejects.toThrow(/MSFT at .* is out of step/);
    } finally {
      await t.cleanup();
    }
  });
});

describe('feature pipeline: no look-ahead end to end', () => {
  it('perturbing curated bars after t leaves every stored feature at or before t unchanged (property)', async () => {
    const t = await openTempLake();
    try {
      const store = new FeatureStore(t.lake, t.calendars, new ManualClock(0));
      const dates = DATES.slice(2);
      await writeCurated(t, price, dates);
      await runFeaturePipeline(dates, SYMBOLS, TECH, 'v1', depsFor(t, store));
      const baseline = byKey(await store.getFeaturesForTraining('technical', 'v1', dates[0] as string, dates[2] as string));
      const allTs = [...new Set([...baseline.values()].map((r) => r.ts as number))].sort((a, b) => a - b);

      await fc.assert(
        fc.asyncProperty(fc.integer({ min: 0, max: allTs.length - 2 }), fc.double({ min: 0.5, max: 3, noNaN: true }), async (k, scale) => {
          const cut = allTs[k] as number;
          // Every bar after the cut changes (prices scaled, so highs, lows and returns all move).
          const perturbed = (s: string, ts: number): number => (ts > cut ? price(s, ts) * scale + 7 : price(s, ts));
          await writeCurated(t, perturbed, dates);
          await runFeaturePipeline(dates, SYMBOLS, TECH, 'v1', depsFor(t, store));
          const after = await store.getFeaturesForTraining('technical', 'v1', dates[0] as string, dates[2] as string);
          let changedLater = false;
          for (const row of after) {
            const before = baseline.get(`${row.symbol as string}|${row.ts as number}`);
            for (const c of COLUMNS) {
              if ((row.ts as number) <= cut) {
                if (row[c] !== before?.[c]) throw new Error(`${c} at ${new Date(row.ts as number).toISOString()} changed (cut ${new Date(cut).toISOString()})`);
              } else if (row[c] !== before?.[c]) changedLater = true;
            }
          }
          expect(changedLater).toBe(true);
        }),
        { numRuns: 4 },
      );
    } finally {
      await t.cleanup();
    }
  });
});

describe('feature pipeline: event loop', () => {
  it.runIf(canMeasureMainThreadCpu)('keeps the event loop responsive while computing (blocked p99 < 100 ms of main-thread CPU)', async () => {
    const t = await openTempLake();
    try {
      // 2 symbols x 3 days is small; the bound is per symbol and per read, not per run.
      await writeCurated(t, price, DATES.slice(2));
      const store = new FeatureStore(t.lake, t.calendars, new ManualClock(0));
      // CPU time of the main thread between event-loop turns, not wall-clock lag: a busy machine
      // delays every turn without the pipeline blocking anything.
      const monitor = monitorMainThreadBlocking();
      await runFeaturePipeline(DATES.slice(2), SYMBOLS, TECH, 'v1', depsFor(t, store, { batchRows: 2000 }));
      const blocked = monitor.stop();
      expect(blocked.samples).toBeGreaterThan(1);
      expect(blocked.p99Ms).toBeLessThan(100);
    } finally {
      await t.cleanup();
    }
  });
});
