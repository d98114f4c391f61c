import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/core/clock.js';
import { dqRulesConfigSchema, gapsConfigSchema } from '../../src/data-quality/dq-config.js';
import { silentLogger } from '../../src/ops/logging-setup.js';
import { runTransformTwsBars, type DqResultRecord, type TransformDeps } from '../../src/pipelines/transform-pipeline.js';
import { runTransformSql, type SqlTransformDeps } from '../../src/pipelines/transform-sql.js';
import { QuarantineStore } from '../../src/storage/quarantine-store.js';
import { JsonlLedger } from '../../src/storage/state-store.js';
import { makeBars, priceAt } from '../support/bar-factory.js';
import { openTempLake, type TempLake } from '../support/temp-lake.js';

const MIN = 60_000;
const DATE = '2024-03-12';
const OPEN = Date.parse('2024-03-12T13:30:00Z'); // 09:30 EDT
const CLOSE = Date.parse('2024-03-12T20:00:00Z');
const at = (i: number): number => OPEN + i * MIN;

let t: TempLake;
let ledger: JsonlLedger<DqResultRecord>;

function deps(now: number): TransformDeps & SqlTransformDeps {
  return {
    lake: t.lake,
    rawStore: t.raw,
    curatedStore: t.curated,
    quarantineStore: new QuarantineStore(t.lake),
    dqLedger: ledger,
    calendars: t.calendars,
    clock: new ManualClock(now),
    logger: silentLogger(),
    dqRules: dqRulesConfigSchema.parse({ tws_bars: [{ type: 'bar_count', tolerance: { bars: 0 }, severity: 'warn', action: 'log' }] }),
    gaps: gapsConfigSchema.parse({ final_grace: '10min' }),
    barSize: '1 min',
  };
}

beforeEach(async () => {
  t = await openTempLake();
  ledger = new JsonlLedger<DqResultRecord>(t.lake.path('state', 'dq_results.jsonl'));
  // AAPL's live bars are in up to 10:10 (bar 40) but bar 20 never came; MSFT's up to 10:00 (bar 30); SPY has none.
  const aapl = makeBars('AAPL', at(0), at(41)).filter((b) => b.ts !== at(20));
  await t.raw.writeTwsBars([...aapl, ...makeBars('MSFT', at(0), at(31))], 'live-1', at(42));
});
afterEach(async () => {
  await t.cleanup();
});

// The SQL transform (the job's) and the JS reference must both pass every case.
describe.each([
  ['runTransformSql', runTransformSql],
  ['runTransformTwsBars (JS reference)', runTransformTwsBars],
] as const)('transform: the intraday cutoff is at the data (%s)', (_name, runTransform) => {
  it('curates each instrument up to its newest raw bar, never a trailing bar still on its way', async () => {
    // 10:15:30: bars up to 10:14 (44) are complete by the clock; AAPL's stop at 40, MSFT's at 30.
    const summary = await runTransform(DATE, ['AAPL', 'MSFT', 'SPY'], deps(at(45) + 30_000));
    expect(summary.final).toBe(false);
    const rows = await t.curated.readCuratedBars('bars_1min', undefined, DATE, DATE);
    const of = (s: string) => rows.filter((r) => r.symbol === s);
    expect(of('AAPL').map((r) => r.ts)).toEqual(Array.from({ length: 41 }, (_, i) => at(i)));
    expect(of('MSFT').map((r) => r.ts)).toEqual(Array.from({ length: 31 }, (_, i) => at(i)));
    expect(of('SPY')).toEqual([]);
    // Bar 20 is behind a later stored bar: a real gap, flat at bar 19's close.
    const gap = of('AAPL')[20];
    expect(gap).toMatchObject({ is_imputed: true, imputation: 'ffill+zero', close: priceAt('AAPL', at(19)) + 0.25 });
    expect(of('AAPL').filter((r) => r.is_imputed)).toHaveLength(1);
    expect(of('MSFT').some((r) => r.is_imputed)).toBe(false);
    // Complete by the clock but not here yet: AAPL 41..44, MSFT 31..44, SPY 0..44.
    expect(summary.counts.not_arrived).toBe(4 + 14 + 45);
    // bar_count judges the same cut grid: only AAPL's real gap is missing.
    const [record] = ledger.readAll();
    expect(record?.final).toBe(false);
    expect(record?.failures.filter((f) => f.rule === 'bar_count').map((f) => [f.symbol, f.reason])).toEqual([['AAPL', `${DATE}: 40 of 41 expected bars (1 missing, tolerance 0)`]]);
  });

  it('curates the whole grid once the session is over plus the final grace', async () => {
    const before = await runTransform(DATE, ['AAPL', 'SPY'], deps(CLOSE + 10 * MIN - 1));
    expect(before.final).toBe(false);
    expect((await t.curated.readCuratedBars('bars_1min', ['AAPL'], DATE, DATE)).length).toBe(41);
    const final = await runTransform(DATE, ['AAPL', 'SPY'], deps(CLOSE + 10 * MIN));
    expect(final.final).toBe(true);
    const rows = await t.curated.readCuratedBars('bars_1min', undefined, DATE, DATE);
    expect(rows.filter((r) => r.symbol === 'AAPL')).toHaveLength(390);
    expect(rows.filter((r) => r.symbol === 'SPY')).toHaveLength(390);
    // After bar 40 the rest of the day never came: a run longer than max_gap_bars, all NULL.
    const aapl = rows.filter((r) => r.symbol === 'AAPL');
    for (const i of [41, 389]) expect(aapl[i]).toMatchObject({ is_imputed: true, imputation: 'max_gap_exceeded', close: null });
    expect(final.counts.not_arrived).toBe(0);
  });
});
