import { describe, expect, it } from 'vitest';
import { getCalendar } from '../../src/calendar/calendar-registry.js';
import { linearKnownAt, runKnownAt, runningAvailability } from '../../src/data-quality/availability.js';
import { gapsConfigSchema } from '../../src/data-quality/dq-config.js';
import { fillGaps, type ObservedBar } from '../../src/data-quality/gaps.js';
import { instrumentCutoff, instrumentCutoffs, isFinalRun, withinCutoff } from '../../src/data-quality/intraday-cutoff.js';

const MIN = 60_000;
const utc = (s: string): number => Date.parse(s);
const xnys = getCalendar('XNYS');
// 2024-03-12 (EDT): 09:30 ET = 13:30Z, close 20:00Z; 390 one-minute bars.
const DATE = '2024-03-12';
const OPEN = utc('2024-03-12T13:30:00Z');
const CLOSE = utc('2024-03-12T20:00:00Z');
const grid = Array.from({ length: 390 }, (_, i) => OPEN + i * MIN);
const at = (i: number): number => OPEN + i * MIN;

function bar(i: number, close: number): ObservedBar {
  return { symbol: 'AAPL', ts: at(i), open: close, high: close + 1, low: close - 1, close, volume: 100, wap: close, trade_count: 5 };
}

describe('availability rules (pure)', () => {
  it('a run that cannot outgrow max_gap_bars before the session ends depends on nothing later', () => {
    // Slots 380..384 missing, 5 bars before the end: at most 10 bars long, under a limit of 30.
    expect(runKnownAt(380, 385, grid, 390, MIN, 30)).toBeNull();
  });

  it('a short run is settled by the bar that closes it; an over-limit run by its (limit+1)-th bar', () => {
    // Missing 10..12 (3 bars), closed by slot 13: known once bar 13 is complete.
    expect(runKnownAt(10, 13, grid, 390, MIN, 30)).toBe(at(13) + MIN);
    // Missing 10..49 (40 bars) under a limit of 30: over the limit once slot 40 (the 31st) is complete.
    expect(runKnownAt(10, 50, grid, 390, MIN, 30)).toBe(at(40) + MIN);
    // An intraday prefix of 20 slots ending inside the run: not settled before slot 40 either.
    expect(runKnownAt(10, 20, grid, 20, MIN, 30)).toBe(at(40) + MIN);
  });

  it('linear is known when the bar it interpolates towards is; without one, at the session end', () => {
    expect(linearKnownAt(13, grid, MIN)).toBe(at(13) + MIN);
    expect(linearKnownAt(-1, grid, MIN)).toBe(CLOSE);
  });

  it('feature availability is the running maximum, with ts + bar where the source has none', () => {
    const ts = Float64Array.from([0, 60, 120, 180, 240].map((s) => s * 1000));
    const av = Float64Array.from([60_000, 300_000, Number.NaN, 240_000, 300_000]);
    expect([...runningAvailability(ts, av, MIN)]).toEqual([60_000, 300_000, 300_000, 300_000, 300_000]);
    expect([...runningAvailability(ts, null, MIN)]).toEqual([60_000, 120_000, 180_000, 240_000, 300_000]);
  });
});

describe('curated available_ts (the gap engine)', () => {
  it('stamps observed bars ts + bar and each imputed bar with the latest bar its value needed', () => {
    // Bars 100..102 missing (closed by 103); bars 360..389 missing to the close (30 bars, at the limit).
    const rows = grid.map((_, i) => i).filter((i) => !(i >= 100 && i <= 102) && i < 360).map((i) => bar(i, 100 + i));
    const cfg = gapsConfigSchema.parse({ imputation: { close: 'linear', volume: 'zero' }, max_gap_bars: 30 });
    const res = fillGaps(rows, { config: cfg, calendarFor: () => xnys, symbols: ['AAPL'], startDate: DATE, endDate: DATE });
    const byIndex = (i: number) => res.rows[i] as (typeof res.rows)[number];
    expect(byIndex(99).available_ts).toBe(at(100));
    // Interpolated towards bar 103 (and the run's length is settled by it too).
    for (const i of [100, 101, 102]) {
      expect(byIndex(i).close).toBeCloseTo(100 + i, 9);
      expect(byIndex(i).available_ts).toBe(at(103) + MIN);
    }
    expect(byIndex(103).available_ts).toBe(at(104));
    // The trailing run: no observed bar after it, so linear leaves close NULL, settled at the
    // session's end; volume (zero) depends on nothing later, as the run cannot exceed 30 bars.
    expect(byIndex(360)).toMatchObject({ close: null, volume: 0, available_ts: CLOSE });
    expect(byIndex(389)).toMatchObject({ close: null, volume: 0, available_ts: CLOSE });
  });

  it('under ffill/zero/constant/none a short gap is stamped when its closing bar is complete', () => {
    const rows = grid.map((_, i) => i).filter((i) => i !== 50).map((i) => bar(i, 100 + i));
    for (const imputation of [{ close: 'ffill' }, { close: 'zero' }, { close: { constant: 7 } }, { close: 'none' }]) {
      const cfg = gapsConfigSchema.parse({ imputation, max_gap_bars: 30 });
      const res = fillGaps(rows, { config: cfg, calendarFor: () => xnys, symbols: ['AAPL'], startDate: DATE, endDate: DATE });
      expect(res.rows[50]?.available_ts, JSON.stringify(imputation)).toBe(at(51) + MIN);
      expect(res.rows[51]?.available_ts).toBe(at(52));
    }
  });
});

describe('intraday cutoff', () => {
  const session = { close: CLOSE };
  it('cuts at the newest raw bar until close + final grace, then curates the whole grid', () => {
    expect(isFinalRun(session, CLOSE + 10 * MIN - 1, 10 * MIN)).toBe(false);
    expect(isFinalRun(session, CLOSE + 10 * MIN, 10 * MIN)).toBe(true);
    const cut = instrumentCutoff(session, at(200), 10 * MIN, at(150));
    expect(cut).toEqual({ final: false, lastBarStart: at(150) });
    expect(withinCutoff(cut, at(150), MIN, at(200))).toBe(true);
    expect(withinCutoff(cut, at(151), MIN, at(200))).toBe(false);
    // No raw rows yet: nothing curated.
    expect(instrumentCutoff(session, at(200), 10 * MIN, undefined)).toEqual({ final: false, lastBarStart: null });
    expect(withinCutoff(instrumentCutoff(session, at(200), 10 * MIN, undefined), at(0), MIN, at(200))).toBe(false);
    // The final run does not look at raw: every bar complete at the clock.
    const final = instrumentCutoff(session, CLOSE + 11 * MIN, 10 * MIN, at(150));
    expect(final.final).toBe(true);
    expect(withinCutoff(final, at(389), MIN, CLOSE + 11 * MIN)).toBe(true);
    // Bars must be complete by the clock even below the cut.
    expect(withinCutoff(instrumentCutoff(session, at(150) + 30_000, 10 * MIN, at(150)), at(150), MIN, at(150) + 30_000)).toBe(false);
    expect([...instrumentCutoffs(new Map([['A', session], ['B', session]]), at(200), 10 * MIN, new Map([['A', at(10)]])).entries()]).toEqual([
      ['A', { final: false, lastBarStart: at(10) }],
      ['B', { final: false, lastBarStart: null }],
    ]);
  });
});
