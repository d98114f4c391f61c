import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { InstrumentCalendars } from '../../src/calendar/instrument-calendars.js';
import { dateLabelsBetween } from '../../src/core/dates.js';
import { BAR_SIZES, type BarEvent, type BarSize } from '../../src/core/bars.js';
import { ManualClock } from '../../src/core/clock.js';
import { dqRulesConfigSchema, gapsConfigSchema } from '../../src/data-quality/dq-config.js';
import { silentLogger } from '../../src/ops/logging-setup.js';
import { runTransformTwsBars, type DqResultRecord, type TransformDeps } from '../../src/pipelines/transform-pipeline.js';
import { TransformRange, type SqlTransformDeps } from '../../src/pipelines/transform-sql.js';
import { CuratedStore } from '../../src/storage/curated-store.js';
import { Lake } from '../../src/storage/lake.js';
import { QuarantineStore } from '../../src/storage/quarantine-store.js';
import { RawStore } from '../../src/storage/raw-store.js';
import { JsonlLedger } from '../../src/storage/state-store.js';
import { seededRandom } from '../../bench/support/synthetic-market.js';
import { TEST_INSTRUMENTS } from '../support/temp-lake.js';

/**
 * Differential test of the set-based transform (transform-sql.ts) against the JS reference
 * (transform-pipeline.ts: rules.ts, validator.ts, gaps.ts): random raw sets with injected faults,
 * random DQ rules of every type and every imputation method, run through both; every curated
 * row, quarantine row, count, gap report, DQ ledger line and refusal must be the same.
 *
 * One DuckDB instance for every case (the lake's folders are emptied between cases); bars of
 * 5 min to 1 h keep each case small while still covering whole sessions, early closes, holidays,
 * the CME halt, a weekend with a DST change and intraday runs.
 */

const SYMBOLS = TEST_INSTRUMENTS.map((i) => i.key);
/** Consecutive date windows with something to see: a weekend + DST, Thanksgiving + early closes, Christmas, a July 3 early close. */
const WINDOWS: readonly [string, string][] = [
  ['2024-03-08', '2024-03-11'],
  ['2024-11-27', '2024-11-29'],
  ['2024-12-24', '2024-12-25'],
  ['2024-07-03', '2024-07-03'],
];
const BAR_SIZE_CHOICES: readonly BarSize[] = ['5 mins', '15 mins', '1 hour'];
const FREQ: Record<string, string> = { '5 mins': '5min', '15 mins': '15min', '1 hour': '1h' };
const DAY = 86_400_000;

type Fault = 'dup_later' | 'dup_same' | 'dup_earlier' | 'dup_tie' | 'nan_close' | 'inf_high' | 'zero_low' | 'neg_open' | 'neg_volume' | 'nan_volume'
  | 'wap_minus1' | 'count_minus1' | 'wap_null' | 'count_null' | 'ohlc_hi_lo' | 'ohlc_open' | 'ohlc_close' | 'misaligned' | 'premarket' | 'in_break' | 'spike' | 'bid';
const FAULTS: readonly Fault[] = ['dup_later', 'dup_same', 'dup_earlier', 'dup_tie', 'nan_close', 'inf_high', 'zero_low', 'neg_open', 'neg_volume', 'nan_volume', 'wap_minus1', 'count_minus1', 'wap_null', 'count_null', 'ohlc_hi_lo', 'ohlc_open', 'ohlc_close', 'misaligned', 'premarket', 'in_break', 'spike', 'bid'];

// `fail` is rarer: a refused date publishes nothing, so there is less to compare.
const severityAction = (entity: boolean) =>
  entity
    ? fc.constantFrom({ severity: 'warn', action: 'log' }, { severity: 'error', action: 'log' }, { severity: 'warn', action: 'log' }, { severity: 'error', action: 'fail' })
    : fc.constantFrom({ severity: 'warn', action: 'log' }, { severity: 'error', action: 'quarantine' }, { severity: 'warn', action: 'quarantine' }, { severity: 'error', action: 'quarantine' }, { severity: 'error', action: 'log' }, { severity: 'error', action: 'fail' });

const ruleArb: fc.Arbitrary<Record<string, unknown>> = fc.oneof(
  fc.record({
    type: fc.constant('range'),
    field: fc.constantFrom('close', 'volume', 'wap', 'trade_count', 'open', 'ts', 'what_to_show', 'no_such_column'),
    min: fc.option(fc.constantFrom(0, 60, 95.5, 100), { nil: undefined }),
    max: fc.constantFrom(105, 140, 1200, 1e13),
    sa: severityAction(false),
  }),
  fc.record({ type: fc.constant('enum'), field: fc.constantFrom('what_to_show', 'trade_count', 'source'), values: fc.constantFrom(['TRADES', 'MIDPOINT'], [3, 4, 5, 6, 7, 8], ['TWS', 7]), sa: severityAction(false) }),
  fc.record({ type: fc.constant('not_null'), fields: fc.subarray(['wap', 'trade_count', 'open', 'con_id', 'no_such_column'], { minLength: 1 }), sa: severityAction(false) }),
  fc.record({ type: fc.constant('ohlc_consistency'), sa: severityAction(false) }),
  fc.record({
    type: fc.constant('monotonic_time'),
    how: fc.constantFrom({}, { entity: 'source', time: 'ingestion_ts' }, { entity: 'symbol', time: 'volume', strict: false }, { time: 'what_to_show' }, { entity: 'trade_count', time: 'close' }),
    sa: severityAction(false),
  }),
  fc.record({ type: fc.constant('unique'), keys: fc.constantFrom(['symbol', 'ts'], ['symbol', 'volume'], ['source', 'trade_count'], ['what_to_show', 'no_such_column']), sa: severityAction(false) }),
  fc.record({ type: fc.constant('outlier'), field: fc.constantFrom('close', 'volume', 'wap', 'trade_count'), window: fc.integer({ min: 2, max: 6 }), threshold: fc.constantFrom(1, 1.5, 2.5, 4), sa: severityAction(false) }),
  fc.record({ type: fc.constant('bar_count'), tolerance: fc.constantFrom({ bars: 0 }, { bars: 3 }, { fraction: 0.05 }, { fraction: 0.3 }), sa: severityAction(true) }),
  fc.record({ type: fc.constant('staleness'), max_age: fc.constantFrom('1min', '20min', '2h'), sa: severityAction(true) }),
);

const strategyArb = fc.oneof(fc.constantFrom('ffill', 'linear', 'zero', 'none'), fc.record({ constant: fc.constantFrom(0, -1, 2.5, 42) }));
const imputationArb = fc.oneof(
  fc.constant(undefined),
  fc.record({ close: strategyArb }),
  fc.record({ close: fc.constantFrom('linear', 'ffill'), wap: fc.constantFrom('linear', 'none'), trade_count: fc.constantFrom('linear', 'zero') }),
  fc.record(
    { open: strategyArb, high: strategyArb, low: strategyArb, close: strategyArb, volume: strategyArb, wap: strategyArb, trade_count: strategyArb },
    { requiredKeys: [] },
  ),
);

const scenarioArb = fc.record({
  window: fc.constantFrom(...WINDOWS),
  barSize: fc.constantFrom(...BAR_SIZE_CHOICES),
  symbols: fc.subarray(SYMBOLS, { minLength: 1 }),
  /** A requested symbol that gets no bars at all. */
  empty: fc.option(fc.constantFrom(...SYMBOLS), { nil: undefined }),
  /** The first symbol has no bars on the first date (a whole session missing). */
  dropSession: fc.boolean(),
  holeRate: fc.constantFrom(0, 0.05, 0.15, 0.3),
  /** Longest hole (bars); max_gap_bars is drawn on the same scale so both sides of the limit occur. */
  maxHole: fc.integer({ min: 1, max: 6 }),
  faultRate: fc.constantFrom(0, 0.03, 0.1),
  rules: fc.array(ruleArb, { minLength: 1, maxLength: 6 }),
  imputation: imputationArb,
  maxGap: fc.integer({ min: 1, max: 6 }),
  overLimit: fc.constantFrom({ severity: 'warn', action: 'log' }, { severity: 'error', action: 'fail' }),
  /** Run at: after the last session, or a fraction into the last date's sessions (intraday; past 1: after the close, maybe within the final grace). */
  intraday: fc.option(fc.double({ min: 0, max: 1.3, noNaN: true }), { nil: undefined }),
  finalGrace: fc.constantFrom('0s', '10min', '2h'),
  /** Live-like: on the last date each instrument's bars stop somewhere before this fraction of its session (the cutoff at the data). */
  arrival: fc.option(fc.double({ min: 0, max: 1.1, noNaN: true }), { nil: undefined }),
  /** Grid rows per SQL pass: small values split the range into several passes. */
  passRows: fc.constantFrom(50, 100_000),
  seed: fc.integer({ min: 1, max: 2 ** 31 - 1 }),
});
type Scenario = typeof scenarioArb extends fc.Arbitrary<infer T> ? T : never;

interface RawBatch {
  id: string;
  ingestion: number;
  bars: BarEvent[];
}

/** The raw batches of a scenario: a main batch, plus revisions, stale copies and ties of some bars. */
function rawBatches(s: Scenario, calendars: InstrumentCalendars, dates: readonly string[]): RawBatch[] {
  const rand = seededRandom(s.seed);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)] as T;
  const freq = BAR_SIZES[s.barSize];
  const main: BarEvent[] = [];
  const later: BarEvent[] = [];
  const earlier: BarEvent[] = [];
  const tie: BarEvent[] = [];
  for (const symbol of s.symbols) {
    if (symbol === s.empty) continue;
    const cal = calendars.calendarFor(symbol);
    let price = 100 + rand() * 10;
    for (const date of dates) {
      const session = cal.session(date);
      if (!session || (s.dropSession && symbol === s.symbols[0] && date === dates[0])) continue;
      const grid = cal.expectedBarStarts(session, freq);
      // Relative to the run's instant: the data stops around (mostly before) the clock.
      const arrived =
        s.arrival !== undefined && date === dates.at(-1) ? session.open + (s.intraday ?? 1) * s.arrival * (0.5 + rand() / 2) * (session.close - session.open) : Number.POSITIVE_INFINITY;
      let hole = 0;
      grid.forEach((ts, k) => {
        if (ts > arrived) return;
        if (hole > 0) {
          hole--;
          return;
        }
        if (rand() < s.holeRate) {
          hole = Math.floor(rand() * s.maxHole);
          return;
        }
        price = Math.round(price * Math.exp((rand() - 0.5) * 0.01) * 10_000) / 10_000;
        const bar: BarEvent = {
          source: 'TWS',
          symbol,
          conId: 1000 + symbol.length,
          barSize: s.barSize,
          whatToShow: 'TRADES',
          ts,
          open: price,
          high: Math.round((price + rand()) * 100) / 100 + 0.5,
          low: Math.round((price - rand()) * 100) / 100 - 0.5,
          close: Math.round((price + (rand() - 0.5) * 0.4) * 10_000) / 10_000,
          volume: rand() < 0.1 ? 0 : Math.floor(rand() * 1000) + (rand() < 0.1 ? 0.5 : 0),
          wap: Math.round(price * 1000) / 1000,
          tradeCount: Math.floor(rand() * 6) + 3,
          requestId: `req-${k % 3}`,
        };
        if (rand() >= s.faultRate) {
          main.push(bar);
          return;
        }
        const fault = pick(FAULTS);
        const revised = { ...bar, close: Math.round((bar.close + 0.37) * 10_000) / 10_000, high: bar.high + 1 };
        switch (fault) {
          case 'dup_later': main.push(bar); later.push(revised); break;
          case 'dup_same': main.push(bar); later.push(bar); break;
          case 'dup_earlier': main.push(bar); earlier.push(revised); break;
          case 'dup_tie': main.push(bar); tie.push(revised); break;
          case 'nan_close': main.push({ ...bar, close: Number.NaN }); break;
          case 'inf_high': main.push({ ...bar, high: Number.POSITIVE_INFINITY }); break;
          case 'zero_low': main.push({ ...bar, low: 0 }); break;
          case 'neg_open': main.push({ ...bar, open: -bar.open }); break;
          case 'neg_volume': main.push({ ...bar, volume: -5 }); break;
          case 'nan_volume': main.push({ ...bar, volume: Number.NaN }); break;
          case 'wap_minus1': main.push({ ...bar, wap: -1 }); break;
          case 'count_minus1': main.push({ ...bar, tradeCount: -1 }); break;
          case 'wap_null': main.push({ ...bar, wap: null }); break;
          case 'count_null': main.push({ ...bar, tradeCount: null }); break;
          case 'ohlc_hi_lo': main.push({ ...bar, high: bar.low - 1 }); break;
          case 'ohlc_open': main.push({ ...bar, open: bar.high + 0.25 }); break;
          case 'ohlc_close': main.push({ ...bar, close: bar.low - 0.25 }); break;
          case 'misaligned': main.push({ ...bar, ts: ts + 30_000 }); break;
          // Before the open (XNYS pre-market) or in the CME halt / after the close: off the grid, same session date.
          // (After the close only where the data is not cut live: such a bar would be the newest.)
          case 'premarket': main.push(k === 0 ? { ...bar, ts: ts - freq } : Number.isFinite(arrived) ? bar : { ...bar, ts: session.close + (k + 1) * 1000 }); break;
          // Inside a trading break (CME's daily halt, at the end of its session), on and off the grid step.
          case 'in_break': {
            const b = session.breaks?.[0];
            main.push(b && !Number.isFinite(arrived) ? { ...bar, ts: b.start + ((k * 60_000) % (b.end - b.start)) } : bar);
            break;
          }
          case 'spike': main.push({ ...bar, close: bar.close * 1.6, high: bar.high * 1.6 }); break;
          case 'bid': main.push({ ...bar, whatToShow: 'BID' }); break;
        }
      });
    }
  }
  const t0 = Date.parse(`${dates.at(-1) as string}T23:30:00Z`);
  // A bar written twice in one batch with different values has no defined winner: keep ties across batches only.
  return [
    { id: 'main', ingestion: t0, bars: main },
    { id: 'zz-tie', ingestion: t0, bars: tie },
    { id: 'later', ingestion: t0 + 60_000, bars: later },
    { id: 'earlier', ingestion: t0 - 60_000, bars: earlier },
  ].filter((b) => b.bars.length > 0);
}

function rulesConfig(s: Scenario): Record<string, unknown> {
  const rules = s.rules.map((r, i) => {
    const { sa, how, ...rest } = r as { sa: Record<string, string>; how?: Record<string, unknown> } & Record<string, unknown>;
    const rule: Record<string, unknown> = { ...rest, ...how, ...sa, name: `r${i}_${String(r.type)}` };
    if (rule.min === undefined) delete rule.min;
    return rule;
  });
  return { tws_bars: rules };
}

let dir: string;
let lake: Lake;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'ibpipe-diff-'));
  lake = await Lake.open({ root: dir, threads: 1 });
});
afterAll(async () => {
  await lake.close();
  rmSync(dir, { recursive: true, force: true });
});

interface Outcome {
  summary: unknown;
  error: string | null;
  curated: unknown[];
  /** The curated file's (symbol, ts) in stored order: both paths write it sorted. */
  stored: unknown[];
  quarantine: unknown[];
}

async function snapshot(curated: CuratedStore, quarantine: QuarantineStore, dataset: string, date: string, run: () => Promise<unknown>): Promise<Outcome> {
  let summary: unknown = null;
  let error: string | null = null;
  try {
    summary = await run();
  } catch (err) {
    error = `${(err as Error).name}: ${(err as Error).message}`;
  }
  const file = curated.partitionFile(dataset, date);
  const stored = existsSync(file) ? (await lake.query(`SELECT symbol, epoch_ms(ts) AS ts FROM read_parquet('${file}', hive_partitioning = false)`)).map((r) => [r.symbol, r.ts]) : [];
  return { summary, error, curated: await curated.readCuratedBars(dataset, undefined, date, date), stored, quarantine: await quarantine.read('tws_bars', date) };
}

async function runCase(s: Scenario): Promise<void> {
  for (const sub of ['raw', 'curated', 'quarantine', 'state']) rmSync(join(dir, sub), { recursive: true, force: true });
  const calendars = new InstrumentCalendars(TEST_INSTRUMENTS);
  const raw = new RawStore(lake, calendars);
  const curated = new CuratedStore(lake);
  const quarantine = new QuarantineStore(lake);
  const dates = dateLabelsBetween(s.window[0], s.window[1]);
  for (const b of rawBatches(s, calendars, dates)) await raw.writeTwsBars(b.bars, b.id, b.ingestion);

  const requested = [...new Set([...s.symbols, ...(s.empty ? [s.empty] : [])])];
  const last = dates.at(-1) as string;
  const lastSessions = requested.map((sym) => calendars.calendarFor(sym).session(last)).filter((x) => x !== undefined);
  let now = Date.parse(`${last}T00:00:00Z`) + 2 * DAY;
  if (s.intraday !== undefined && lastSessions.length > 0) {
    const open = Math.min(...lastSessions.map((x) => x.open));
    const close = Math.max(...lastSessions.map((x) => x.close));
    now = Math.round(open + s.intraday * (close - open));
  }
  const gaps = gapsConfigSchema.parse({
    frequency: FREQ[s.barSize],
    max_gap_bars: s.maxGap,
    over_limit: s.overLimit,
    final_grace: s.finalGrace,
    ...(s.imputation ? { imputation: s.imputation } : {}),
  });
  const dqRules = dqRulesConfigSchema.parse(rulesConfig(s));
  const dataset = `bars_${gaps.frequency}`;
  const base = { lake, rawStore: raw, curatedStore: curated, quarantineStore: quarantine, calendars, clock: new ManualClock(now), logger: silentLogger(), dqRules, gaps, barSize: s.barSize };
  const jsDeps: TransformDeps = { ...base, dqLedger: new JsonlLedger<DqResultRecord>(join(dir, 'state', 'dq_js.jsonl')) };
  const sqlDeps: SqlTransformDeps = { ...base, dqLedger: new JsonlLedger<DqResultRecord>(join(dir, 'state', 'dq_sql.jsonl')) };

  const js: Outcome[] = [];
  for (const date of dates) js.push(await snapshot(curated, quarantine, dataset, date, () => runTransformTwsBars(date, requested, jsDeps)));
  rmSync(join(dir, 'curated'), { recursive: true, force: true });
  rmSync(join(dir, 'quarantine'), { recursive: true, force: true });
  const range = new TransformRange(dates, requested, sqlDeps, { maxGridRows: s.passRows });
  const sql: Outcome[] = [];
  try {
    for (const date of dates) sql.push(await snapshot(curated, quarantine, dataset, date, () => range.run(date)));
  } finally {
    await range.close();
  }
  // A few thousand grid rows at most: the whole range is one set of statements, not one per date.
  if (s.passRows === 100_000) expect(range.passes, 'passes over the range').toBe(1);
  dates.forEach((date, i) => {
    const [a, b] = [js[i] as Outcome, sql[i] as Outcome];
    expect(b.error, `${date}: error`).toBe(a.error);
    expect(b.summary, `${date}: summary`).toEqual(a.summary);
    expect(b.quarantine, `${date}: quarantine rows`).toEqual(a.quarantine);
    expect(b.curated, `${date}: curated rows`).toEqual(a.curated);
    expect(b.stored, `${date}: curated file order`).toEqual(a.stored);
  });
  expect(sqlDeps.dqLedger.readAll(), 'DQ ledger lines').toEqual(jsDeps.dqLedger.readAll());
}

const sa = (severity: string, action: string): Record<string, string> => ({ severity, action });
/** Every rule type once, with each action. */
const ALL_RULES: Record<string, unknown>[] = [
  { type: 'ohlc_consistency', sa: sa('error', 'quarantine') },
  { type: 'range', field: 'close', min: 95.5, max: 140, sa: sa('warn', 'quarantine') },
  { type: 'enum', field: 'what_to_show', values: ['TRADES', 'MIDPOINT'], sa: sa('error', 'quarantine') },
  { type: 'not_null', fields: ['wap', 'trade_count'], sa: sa('warn', 'log') },
  { type: 'monotonic_time', how: { entity: 'source', time: 'ingestion_ts' }, sa: sa('warn', 'log') },
  { type: 'unique', keys: ['symbol', 'volume'], sa: sa('error', 'log') },
  { type: 'outlier', field: 'close', window: 3, threshold: 1.5, sa: sa('warn', 'log') },
  { type: 'bar_count', tolerance: { fraction: 0.05 }, sa: sa('warn', 'log') },
  { type: 'staleness', max_age: '20min', sa: sa('error', 'log') },
];
const EVERY_METHOD = { open: 'ffill', high: 'linear', low: { constant: 2.5 }, close: 'linear', volume: 'zero', wap: 'none', trade_count: 'linear' } as const;
/**
 * Scenarios that always run (fast-check runs them before the random ones), so each fault the
 * issue names is there on every run: early closes (Thanksgiving Friday, July 3, Christmas Eve),
 * the CME halt with bars inside it, an instrument with no bars, a session with none, holes on
 * both sides of max_gap_bars, an intraday run cut at the data, a refused date.
 */
const EXAMPLES: Scenario[] = [
  { window: ['2024-11-27', '2024-11-29'], barSize: '15 mins', symbols: ['AAPL', 'ES-202503', 'MSFT'], empty: 'EURUSD', dropSession: true, holeRate: 0.15, maxHole: 6, faultRate: 0.1, rules: ALL_RULES, imputation: EVERY_METHOD, maxGap: 3, overLimit: { severity: 'warn', action: 'log' }, intraday: undefined, finalGrace: '10min', arrival: undefined, passRows: 50, seed: 17 },
  { window: ['2024-07-03', '2024-07-03'], barSize: '5 mins', symbols: ['ES-202503', 'SPY'], empty: 'AAPL', dropSession: false, holeRate: 0.3, maxHole: 6, faultRate: 0.1, rules: ALL_RULES, imputation: { close: 'ffill', volume: 'zero' }, maxGap: 2, overLimit: { severity: 'warn', action: 'log' }, intraday: 0.7, finalGrace: '10min', arrival: 0.9, passRows: 100_000, seed: 4242 },
  { window: ['2024-12-24', '2024-12-25'], barSize: '5 mins', symbols: ['ES-202503', 'EURUSD', 'MSFT'], empty: undefined, dropSession: false, holeRate: 0.05, maxHole: 4, faultRate: 0.03, rules: ALL_RULES, imputation: EVERY_METHOD, maxGap: 4, overLimit: { severity: 'warn', action: 'log' }, intraday: undefined, finalGrace: '0s', arrival: undefined, passRows: 100_000, seed: 99 },
  { window: ['2024-03-08', '2024-03-11'], barSize: '1 hour', symbols: ['AAPL', 'ES-202503', 'EURUSD'], empty: undefined, dropSession: true, holeRate: 0.15, maxHole: 4, faultRate: 0.1, rules: [{ type: 'range', field: 'volume', min: 0, max: 1200, sa: sa('error', 'fail') }, ...ALL_RULES], imputation: undefined, maxGap: 1, overLimit: { severity: 'error', action: 'fail' }, intraday: undefined, finalGrace: '10min', arrival: undefined, passRows: 50, seed: 7 },
];

describe('set-based transform = JS reference (differential, fast-check)', () => {
  it('writes the same curated rows, quarantine rows, counts, reports and DQ ledger lines', async () => {
    await fc.assert(fc.asyncProperty(scenarioArb, runCase), { numRuns: 24, endOnFailure: true, examples: EXAMPLES.map((e) => [e]) });
  }, 240_000);
});
