import { existsSync, readFileSync } from 'node:fs';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { BarEvent } from '../../src/core/bars.js';
import { ManualClock } from '../../src/core/clock.js';
import { DataQualityError } from '../../src/core/errors.js';
import { dqRulesConfigSchema, gapsConfigSchema } from '../../src/data-quality/dq-config.js';
import { silentLogger } from '../../src/ops/logging-setup.js';
import { runTransformTwsBars, type DqResultRecord, type TransformDeps } from '../../src/pipelines/transform-pipeline.js';
import { runTransformSql, type SqlTransformDeps } from '../../src/pipelines/transform-sql.js';
import { QuarantineStore } from '../../src/storage/quarantine-store.js';
import { JsonlLedger } from '../../src/storage/state-store.js';
import { makeBar, makeBars, priceAt } from '../support/bar-factory.js';
import { openTempLake, type TempLake } from '../support/temp-lake.js';

const MIN = 60_000;
const DATE = '2024-03-12';
const utc = (s: string): number => Date.parse(s);
// XNYS 2024-03-12 (EDT): 13:30Z-20:00Z. CMES 2024-03-12: 2024-03-11T22:00Z-2024-03-12T22:00Z (reference cmes.csv),
// trading until the 16:00 CDT maintenance halt (21:00Z): 23 h = 1380 bars.
const XNYS_OPEN = utc('2024-03-12T13:30:00Z');
const XNYS_CLOSE = utc('2024-03-12T20:00:00Z');
const CME_OPEN = utc('2024-03-11T22:00:00Z');
const CME_HALT = utc('2024-03-12T21:00:00Z');

const RULES = {
  tws_bars: [
    { type: 'ohlc_consistency', severity: 'error', action: 'quarantine' },
    { type: 'range', field: 'close', min: 0.01, max: 100_000, severity: 'error', action: 'quarantine' },
    { type: 'bar_count', tolerance: { bars: 10 }, severity: 'warn', action: 'log' },
  ],
};

let t: TempLake;
let clock: ManualClock;
let ledger: JsonlLedger<DqResultRecord>;

function deps(rules: Record<string, unknown> = RULES, gaps: Record<string, unknown> = {}): TransformDeps & SqlTransformDeps {
  return {
    lake: t.lake,
    rawStore: t.raw,
    curatedStore: t.curated,
    quarantineStore: new QuarantineStore(t.lake),
    dqLedger: ledger,
    calendars: t.calendars,
    clock,
    logger: silentLogger(),
    dqRules: dqRulesConfigSchema.parse(rules),
    gaps: gapsConfigSchema.parse(gaps),
    barSize: '1 min',
  };
}

/** The raw set: two clean stocks, one future on its own calendar, and AAPL with injected faults. */
const BAD: { ts: number; patch: Partial<BarEvent>; rule: string; stage: string }[] = [
  { ts: utc('2024-03-12T14:00:00Z'), patch: { close: Number.NaN }, rule: 'finite_price', stage: 'validity' },
  { ts: utc('2024-03-12T14:05:00Z'), patch: { low: -1 }, rule: 'positive_price', stage: 'validity' },
  { ts: utc('2024-03-12T14:10:00Z'), patch: { volume: -5 }, rule: 'non_negative_volume', stage: 'validity' },
  { ts: utc('2024-03-12T14:20:00Z'), patch: { high: 1, low: 500 }, rule: 'ohlc_consistency', stage: 'dq' },
  { ts: utc('2024-03-12T14:25:00Z'), patch: { open: 2e5, high: 2e5, low: 2e5, close: 2e5 }, rule: 'range_close', stage: 'dq' },
];
const PREMARKET = utc('2024-03-12T12:00:00Z');
const MISALIGNED = utc('2024-03-12T14:30:30Z');
const MISSING = utc('2024-03-12T14:15:00Z');
const REVISED = utc('2024-03-12T15:00:00Z');

async function writeFixture(): Promise<void> {
  const badAt = new Map(BAD.map((b) => [b.ts, b.patch]));
  const aapl = makeBars('AAPL', XNYS_OPEN, XNYS_CLOSE)
    .filter((b) => b.ts !== MISSING)
    .map((b) => (badAt.has(b.ts) ? { ...b, ...badAt.get(b.ts) } : b));
  const extra = [makeBar('AAPL', PREMARKET), makeBar('AAPL', MISALIGNED)];
  await t.raw.writeTwsBars([...aapl, ...extra, ...makeBars('MSFT', XNYS_OPEN, XNYS_CLOSE)], 'page-1', utc('2024-03-12T21:00:00Z'));
  // A later batch revises one bar (the latest ingestion wins) and repairs nothing else.
  await t.raw.writeTwsBars([makeBar('AAPL', REVISED, { close: 777, high: 800 })], 'repair-1', utc('2024-03-12T22:00:00Z'));
  await t.raw.writeTwsBars(makeBars('ES-202503', CME_OPEN, CME_HALT), 'es-1', utc('2024-03-12T23:00:00Z'));
}

beforeEach(async () => {
  t = await openTempLake();
  clock = new ManualClock(utc('2024-03-13T01:00:00Z'));
  ledger = new JsonlLedger<DqResultRecord>(t.lake.path('state', 'dq_results.jsonl'));
  await writeFixture();
});
afterEach(async () => {
  await t.cleanup();
});

// The SQL transform (the job's) and the JS reference must both pass every case.
describe.each([
  ['runTransformSql', runTransformSql],
  ['runTransformTwsBars (JS reference)', runTransformTwsBars],
] as const)('%s', (_name, runTransform) => {
  it('quarantines each bad row with its rule, fills the holes and publishes the calendar grid', async () => {
    const summary = await runTransform(DATE, ['AAPL', 'MSFT', 'ES-202503', 'EURUSD'], deps());
    expect(summary.published).toBe(true);
    expect(summary.symbols).toEqual(['AAPL', 'ES-202503', 'EURUSD', 'MSFT']);

    const q = await new QuarantineStore(t.lake).read('tws_bars', DATE);
    expect(q.map((r) => [r.symbol, r.ts, r.stage, r.rule])).toEqual([
      ['AAPL', PREMARKET, 'grid', 'off_grid'],
      ...BAD.map((b) => ['AAPL', b.ts, b.stage, b.rule]),
      ['AAPL', MISALIGNED, 'grid', 'off_grid'],
    ]);
    expect(q.find((r) => r.rule === 'range_close')?.reason).toBe('close 200000 is above max 100000');
    expect(q.find((r) => r.rule === 'non_negative_volume')?.volume).toBe(-5);

    const curated = await t.curated.readCuratedBars('bars_1min', undefined, DATE, DATE);
    const bySymbol = (s: string): typeof curated => curated.filter((r) => r.symbol === s);
    // Every grid bar once, nothing outside the sessions; EURUSD has no raw data: an empty grid left NULL.
    expect(bySymbol('AAPL').map((r) => r.ts)).toEqual(Array.from({ length: 390 }, (_, i) => XNYS_OPEN + i * MIN));
    expect(bySymbol('MSFT')).toHaveLength(390);
    expect(bySymbol('ES-202503').map((r) => r.ts)).toEqual(Array.from({ length: 1380 }, (_, i) => CME_OPEN + i * MIN));
    expect(bySymbol('EURUSD').every((r) => r.close === null && r.imputation === 'max_gap_exceeded')).toBe(true);

    // Imputed AAPL bars: the quarantined ones and the one never received; flat at the previous close.
    const imputed = bySymbol('AAPL').filter((r) => r.is_imputed);
    expect(imputed.map((r) => r.ts)).toEqual([...BAD.map((b) => b.ts), MISSING].sort((a, b) => a - b));
    for (const r of imputed) {
      // The bar before each hole is an observed bar whose close the factory defines: priceAt + 0.25.
      let prev = r.ts - MIN;
      while (imputed.some((x) => x.ts === prev)) prev -= MIN;
      const c = priceAt('AAPL', prev) + 0.25;
      expect([r.open, r.high, r.low, r.close, r.volume, r.imputation, r.close_imputed]).toEqual([c, c, c, c, 0, 'ffill+zero', true]);
    }
    const revised = bySymbol('AAPL').find((r) => r.ts === REVISED);
    expect([revised?.close, revised?.is_imputed]).toEqual([777, false]);
    expect(bySymbol('MSFT').every((r) => !r.is_imputed && r.close === priceAt('MSFT', r.ts) + 0.25)).toBe(true);

    expect(summary.counts).toMatchObject({
      raw_rows: 390 - 1 + 2 + 1 + 390 + 1380, // AAPL (one never sent, two extra), the revision, MSFT, ES
      superseded: 1,
      invalid: 3,
      dq_quarantined: 2,
      off_grid: 2,
      quarantined: 7,
      incomplete: 0,
      imputed: 6,
      curated_rows: 390 + 390 + 1380 + 1440, // ES: 23 h; EURUSD: 24 h of FX session, all NULL
    });

    const [record] = ledger.readAll();
    expect(record).toMatchObject({ dataset: 'tws_bars', target: 'bars_1min', date: DATE, published: true, severity: 'error', quarantined: 7 });
    expect(record?.rules.find((r) => r.name === 'finite_price')?.failures).toBe(1);
    expect(record?.rules.find((r) => r.name === 'off_grid')?.failures).toBe(2);
    // bar_count (warn, log): EURUSD delivered nothing; AAPL lost 6 of 390, inside the tolerance of 10.
    expect(record?.failures.filter((f) => f.rule === 'bar_count').map((f) => f.symbol)).toEqual(['EURUSD']);
  });

  it('re-running gives byte-identical curated and quarantine files, also after a one-symbol re-run', async () => {
    await runTransform(DATE, undefined, deps());
    const curatedFile = t.curated.partitionFile('bars_1min', DATE);
    const quarantineFile = new QuarantineStore(t.lake).partitionFile('tws_bars', DATE);
    const first = [readFileSync(curatedFile), readFileSync(quarantineFile)];
    await clock.advance(3_600_000);
    await runTransform(DATE, undefined, deps());
    expect(readFileSync(curatedFile).equals(first[0] as Buffer)).toBe(true);
    expect(readFileSync(quarantineFile).equals(first[1] as Buffer)).toBe(true);
    await runTransform(DATE, ['AAPL'], deps());
    expect(readFileSync(curatedFile).equals(first[0] as Buffer)).toBe(true);
    expect(readFileSync(quarantineFile).equals(first[1] as Buffer)).toBe(true);
  });

  it('an error + fail rule throws DataQualityError and publishes nothing', async () => {
    const rules = { tws_bars: [...RULES.tws_bars, { type: 'range', name: 'volume_cap', field: 'volume', max: 1_000_000, severity: 'error', action: 'fail' }] };
    await t.raw.writeTwsBars([makeBar('MSFT', utc('2024-03-12T16:00:00Z'), { volume: 5e6 })], 'fat-finger', utc('2024-03-12T23:30:00Z'));
    const err = await runTransform(DATE, undefined, deps(rules)).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DataQualityError);
    expect((err as DataQualityError).exitCode).toBe(3);
    expect((err as DataQualityError).message).toContain('volume_cap');
    expect(existsSync(t.curated.partitionFile('bars_1min', DATE))).toBe(false);
    expect(existsSync(new QuarantineStore(t.lake).partitionFile('tws_bars', DATE))).toBe(false);
    const [record] = ledger.readAll();
    expect(record).toMatchObject({ published: false, failing_rules: ['volume_cap'], severity: 'error' });
    expect(record?.failures.find((f) => f.rule === 'volume_cap')?.reason).toBe('2024-03-12T16:00:00.000Z: volume 5000000 is above max 1000000');
  });

  it('an intraday run publishes only bars complete at the clock', async () => {
    clock = new ManualClock(utc('2024-03-12T14:00:30Z'));
    const summary = await runTransform(DATE, ['AAPL', 'MSFT'], deps());
    const curated = await t.curated.readCuratedBars('bars_1min', ['MSFT'], DATE, DATE);
    expect(curated.map((r) => r.ts)).toEqual(Array.from({ length: 30 }, (_, i) => XNYS_OPEN + i * MIN));
    // Bars from 14:00 on are not complete yet: MSFT 360; AAPL 360 minus the one never sent, the
    // 3 invalid and 2 DQ-quarantined ones, plus the misaligned 14:30:30 bar = 355.
    expect(summary.counts.incomplete).toBe(360 + 355);
  });

  it('judges staleness where trading stopped: a full ES session is fresh at 16:00 CDT, before the 17:00 close', async () => {
    const rules = { tws_bars: [{ type: 'staleness', max_age: '15min', severity: 'warn', action: 'log' }] };
    await runTransform(DATE, ['ES-202503', 'MSFT'], deps(rules));
    const [record] = ledger.readAll();
    // ES's last bar (15:59 CDT) is available at the halt (21:00Z); MSFT's 15:59 EDT bar at its 20:00Z close.
    expect(record?.failures.filter((f) => f.rule === 'staleness')).toEqual([]);
  });

  it('skips symbols whose exchange is closed that date', async () => {
    // 2024-03-09 is a Saturday: no XNYS or CMES session; FX is closed too.
    const summary = await runTransform('2024-03-09', undefined, deps());
    expect(summary.symbols).toEqual([]);
    expect(summary.closed).toEqual(['AAPL', 'ES-202503', 'EURUSD', 'MSFT', 'SPY']);
    expect(existsSync(t.curated.partitionFile('bars_1min', '2024-03-09'))).toBe(false);
  });
});
