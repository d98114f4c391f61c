import { describe, expect, it } from 'vitest';
import { getCalendar } from '../../src/calendar/calendar-registry.js';
import type { CuratedBarRow } from '../../src/storage/tables/curated-bars.js';
import { gapsConfigSchema, type GapsConfig } from '../../src/data-quality/dq-config.js';
import { fillGaps, overLimitOutcome, resolveImputation, type ObservedBar } from '../../src/data-quality/gaps.js';

const MIN = 60_000;
const utc = (s: string): number => Date.parse(s);
const xnys = getCalendar('XNYS');
const cmes = getCalendar('CMES');

function bar(symbol: string, ts: number, close: number, volume = 100): ObservedBar {
  return { symbol, ts, open: close - 0.25, high: close + 0.5, low: close - 0.5, close, volume, wap: close - 0.1, trade_count: 7 };
}

function cfg(over: Record<string, unknown> = {}): GapsConfig {
  return gapsConfigSchema.parse(over);
}

/** Bar starts of [open, close) every minute, from instants written out by hand. */
function handGrid(open: string, close: string): number[] {
  const out: number[] = [];
  for (let t = utc(open); t < utc(close); t += MIN) out.push(t);
  return out;
}

/** Deterministic PRNG (mulberry32), so the random series are reproducible. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * The pandas recipe, written independently of the engine: s.reindex(grid), then
 * ffill(limit) / interpolate(limit_area='inside') / fillna(0), then NaN over every run of
 * missing bars longer than the limit (the engine's "over-limit gaps stay NULL").
 */
function pandasReference(grid: number[], observed: Map<number, number>, limit: number, method: 'ffill' | 'linear' | 'zero'): (number | null)[] {
  const s = grid.map((t) => observed.get(t) ?? Number.NaN);
  const filled = [...s];
  if (method === 'ffill') {
    let last = Number.NaN;
    let streak = 0;
    for (let i = 0; i < s.length; i++) {
      const v = s[i] as number;
      if (!Number.isNaN(v)) {
        last = v;
        streak = 0;
      } else {
        streak++;
        if (streak <= limit) filled[i] = last;
      }
    }
  } else if (method === 'linear') {
    const known = s.flatMap((v, i) => (Number.isNaN(v) ? [] : [i]));
    for (let k = 0; k + 1 < known.length; k++) {
      const a = known[k] as number;
      const b = known[k + 1] as number;
      for (let i = a + 1; i < b; i++) filled[i] = (s[a] as number) + (((s[b] as number) - (s[a] as number)) * (i - a)) / (b - a);
    }
  } else {
    for (let i = 0; i < s.length; i++) if (Number.isNaN(s[i] as number)) filled[i] = 0;
  }
  // Mask runs longer than the limit.
  for (let i = 0; i < s.length; ) {
    if (!Number.isNaN(s[i] as number)) {
      i++;
      continue;
    }
    let j = i;
    while (j < s.length && Number.isNaN(s[j] as number)) j++;
    if (j - i > limit) for (let k = i; k < j; k++) filled[k] = Number.NaN;
    i = j;
  }
  return filled.map((v) => (Number.isNaN(v) ? null : v));
}

function at(rows: CuratedBarRow[], ts: number): CuratedBarRow {
  const r = rows.find((x) => x.ts === ts);
  if (!r) throw new Error(`no row at ${new Date(ts).toISOString()}`);
  return r;
}

describe('fillGaps', () => {
  it('fills a missing 10:15 bar with a flat candle at the previous close, volume 0, mask set', () => {
    // 2024-03-12 is EDT: 09:30 ET = 13:30Z, 10:15 ET = 14:15Z.
    const grid = handGrid('2024-03-12T13:30:00Z', '2024-03-12T20:00:00Z');
    const missing = utc('2024-03-12T14:15:00Z');
    const rows = grid.filter((t) => t !== missing).map((t, i) => bar('AAPL', t, 170 + i / 100, 1000 + i));
    const res = fillGaps(rows, { config: cfg(), calendarFor: () => xnys, symbols: ['AAPL'], startDate: '2024-03-12', endDate: '2024-03-12' });

    expect(res.rows.map((r) => r.ts)).toEqual(grid);
    const prev = at(res.rows, missing - MIN);
    const filled = at(res.rows, missing);
    expect(prev.is_imputed).toBe(false);
    expect(prev.close_imputed).toBe(false);
    // Under max_gap_bars 30 the flat candle exists only because the gap turned out to be short:
    // that is known once the 10:16 bar is complete, at 10:17.
    expect(prev.available_ts).toBe(missing);
    expect(filled).toEqual({
      symbol: 'AAPL',
      ts: missing,
      available_ts: missing + 2 * MIN,
      open: prev.close,
      high: prev.close,
      low: prev.close,
      close: prev.close,
      volume: 0,
      wap: prev.wap,
      trade_count: 0,
      is_imputed: true,
      imputation: 'ffill+zero',
      open_imputed: true,
      high_imputed: true,
      low_imputed: true,
      close_imputed: true,
      volume_imputed: true,
      wap_imputed: true,
      trade_count_imputed: true,
    });
    expect(res.reports).toEqual([
      { symbol: 'AAPL', date: '2024-03-12', expected: 390, observed: 389, missing: 1, imputed: 1, unfilled: 0, gaps: 1, longestGap: 1, overLimit: [] },
    ]);
    expect(res.rows.filter((r) => r.is_imputed)).toHaveLength(1);
  });

  it('leaves a gap longer than max_gap_bars NULL and reports it as a DQ failure', () => {
    const grid = handGrid('2024-03-12T13:30:00Z', '2024-03-12T20:00:00Z');
    const longStart = utc('2024-03-12T15:00:00Z'); // 6 missing bars: 15:00..15:05
    const shortStart = utc('2024-03-12T17:00:00Z'); // 5 missing bars: 17:00..17:04
    const isMissing = (t: number): boolean => (t >= longStart && t < longStart + 6 * MIN) || (t >= shortStart && t < shortStart + 5 * MIN);
    const rows = grid.filter((t) => !isMissing(t)).map((t) => bar('MSFT', t, 400));
    const config = cfg({ max_gap_bars: 5 });
    const res = fillGaps(rows, { config, calendarFor: () => xnys, symbols: ['MSFT'], startDate: '2024-03-12', endDate: '2024-03-12' });

    for (let k = 0; k < 6; k++) {
      const r = at(res.rows, longStart + k * MIN);
      expect([r.open, r.high, r.low, r.close, r.volume, r.wap, r.trade_count]).toEqual([null, null, null, null, null, null, null]);
      expect(r.is_imputed).toBe(true);
      expect(r.close_imputed).toBe(true);
      expect(r.imputation).toBe('max_gap_exceeded');
    }
    for (let k = 0; k < 5; k++) expect(at(res.rows, shortStart + k * MIN).close).toBe(400);
    const report = res.reports[0];
    expect(report).toMatchObject({ expected: 390, observed: 379, missing: 11, imputed: 5, unfilled: 6, gaps: 2, longestGap: 6 });
    expect(report?.overLimit).toEqual([{ start: longStart, bars: 6 }]);

    const outcome = overLimitOutcome(res.reports, config);
    expect(outcome).toMatchObject({ name: 'max_gap_bars', severity: 'warn', action: 'log' });
    expect(outcome.failures).toHaveLength(1);
    expect(outcome.failures[0]).toMatchObject({ row: null, entity: 'MSFT' });
    expect(outcome.failures[0]?.reason).toContain('6 missing 1min bars from 2024-03-12T15:00:00.000Z');
  });

  it('creates no bar after the 2024-11-29 early close and reports bars past it as off-grid', () => {
    // Day after Thanksgiving: 09:30-13:00 EST = 14:30Z-18:00Z; the feed below runs to 21:00Z.
    const feed = handGrid('2024-11-29T14:30:00Z', '2024-11-29T21:00:00Z');
    const rows = feed.filter((t) => t !== utc('2024-11-29T17:59:00Z')).map((t) => bar('SPY', t, 600));
    const res = fillGaps(rows, { config: cfg(), calendarFor: () => xnys, symbols: ['SPY'], startDate: '2024-11-29', endDate: '2024-11-29' });

    expect(res.rows.map((r) => r.ts)).toEqual(handGrid('2024-11-29T14:30:00Z', '2024-11-29T18:00:00Z'));
    expect(res.rows).toHaveLength(210);
    expect(at(res.rows, utc('2024-11-29T17:59:00Z')).is_imputed).toBe(true);
    expect(res.offGrid).toHaveLength(180);
    expect(res.offGrid[0]?.index).toBe(209);
    expect(res.offGrid[0]?.reason).toContain('outside');
    expect(res.reports[0]).toMatchObject({ date: '2024-11-29', expected: 210, observed: 209, missing: 1 });
  });

  it('keeps the grid inside sessions across a DST change, weekend and no data at all', () => {
    // XNYS Fri 2024-03-08 (EST) 14:30Z-21:00Z, Mon 2024-03-11 (EDT) 13:30Z-20:00Z; US DST began Sun 03-10.
    const res = fillGaps([], { config: cfg(), calendarFor: () => xnys, symbols: ['JPM'], startDate: '2024-03-08', endDate: '2024-03-11' });
    const expected = [...handGrid('2024-03-08T14:30:00Z', '2024-03-08T21:00:00Z'), ...handGrid('2024-03-11T13:30:00Z', '2024-03-11T20:00:00Z')];
    expect(res.rows.map((r) => r.ts)).toEqual(expected);
    expect(res.reports.map((r) => [r.date, r.expected, r.longestGap])).toEqual([
      ['2024-03-08', 390, 390],
      ['2024-03-11', 390, 390],
    ]);
    // A whole empty session is one 390-bar gap, over the limit of 30: everything stays NULL.
    expect(res.rows.every((r) => r.close === null && r.volume === null && r.imputation === 'max_gap_exceeded')).toBe(true);
  });

  it('never fills across the night: a session starting with missing bars stays NULL under ffill', () => {
    // CMES 2024-03-11 opens Sun 2024-03-10 22:00Z (17:00 CDT) and closes 2024-03-11 22:00Z (reference cmes.csv);
    // Globex halts 16:00-17:00 Chicago, so the last bar starts 15:59: 22:59Z on Friday (CST), 20:59Z on Monday (CDT).
    const fri = handGrid('2024-03-07T23:00:00Z', '2024-03-08T22:00:00Z');
    const mon = handGrid('2024-03-10T22:00:00Z', '2024-03-11T21:00:00Z');
    const rows = [...fri.map((t) => bar('ES', t, 5100)), ...mon.slice(3).map((t) => bar('ES', t, 5200))];
    const base = { config: cfg(), calendarFor: () => cmes, symbols: ['ES'], startDate: '2024-03-08', endDate: '2024-03-11' };
    const res = fillGaps(rows, base);
    expect(res.rows.map((r) => r.ts)).toEqual([...fri, ...mon]);
    for (const t of mon.slice(0, 3)) {
      const r = at(res.rows, t);
      expect(r.close).toBeNull();
      expect(r.open).toBeNull();
      expect(r.volume).toBe(0);
      expect(r.imputation).toBe('zero');
    }
    expect(res.reports[1]).toMatchObject({ date: '2024-03-11', expected: 1380, missing: 3, imputed: 0, unfilled: 3 });

    // Opting in seeds the leading gap from the previous session's last close.
    const seeded = fillGaps(rows, { ...base, leading: 'previous_session' });
    expect(at(seeded.rows, mon[0] as number).close).toBe(5100);
    expect(at(seeded.rows, mon[0] as number).imputation).toBe('ffill+zero');
    // ...and the first session from the seeds passed in.
    const first = fillGaps(rows.slice(2), { ...base, leading: 'previous_session', seeds: new Map([['ES', { close: 5000, wap: 4999 }]]) });
    expect(at(first.rows, fri[0] as number)).toMatchObject({ close: 5000, open: 5000, wap: 4999, volume: 0 });
  });

  it('fills no bar in the CME Globex halt (16:00-17:00 Chicago), winter and summer', () => {
    // Winter: sessions 2024-11-26 and -27 trade 23:00Z-22:00Z (CST); the halt is 22:00-23:00Z.
    const tue = handGrid('2024-11-25T23:00:00Z', '2024-11-26T22:00:00Z');
    const wed = handGrid('2024-11-26T23:00:00Z', '2024-11-27T22:00:00Z');
    expect([tue.length, wed.length]).toEqual([1380, 1380]);
    // Every bar observed except 15:58 and 15:59 CST of Tuesday (a 2-bar gap just before the halt).
    const missing = new Set([utc('2024-11-26T21:58:00Z'), utc('2024-11-26T21:59:00Z')]);
    const rows = [...tue, ...wed].filter((t) => !missing.has(t)).map((t) => bar('ES', t, 6000));
    const winter = fillGaps(rows, { config: cfg(), calendarFor: () => cmes, symbols: ['ES'], startDate: '2024-11-26', endDate: '2024-11-27' });
    expect(winter.rows.map((r) => r.ts)).toEqual([...tue, ...wed]);
    expect(winter.rows.filter((r) => r.ts >= utc('2024-11-26T22:00:00Z') && r.ts < utc('2024-11-26T23:00:00Z'))).toEqual([]);
    expect(winter.reports.map((r) => [r.date, r.expected, r.missing, r.imputed])).toEqual([
      ['2024-11-26', 1380, 2, 2],
      ['2024-11-27', 1380, 0, 0],
    ]);
    expect(winter.rows.filter((r) => r.is_imputed).map((r) => r.ts)).toEqual([...missing]);

    // Summer: session 2024-07-16 trades 2024-07-15T22:00Z-2024-07-16T21:00Z (CDT); nothing observed at all.
    const summer = fillGaps([], { config: cfg({ max_gap_bars: 100_000 }), calendarFor: () => cmes, symbols: ['ES'], startDate: '2024-07-16', endDate: '2024-07-16' });
    expect(summer.rows.map((r) => r.ts)).toEqual(handGrid('2024-07-15T22:00:00Z', '2024-07-16T21:00:00Z'));
    expect(summer.reports[0]).toMatchObject({ expected: 1380, missing: 1380 });

    // A bar a source sends inside the halt is off the grid, said to be in the break.
    const stray = fillGaps([bar('ES', utc('2024-11-26T22:30:00Z'), 6000)], { config: cfg(), calendarFor: () => cmes, symbols: ['ES'], startDate: '2024-11-26', endDate: '2024-11-26' });
    expect(stray.offGrid).toEqual([{ index: 0, reason: '2024-11-26T22:30:00.000Z falls in a trading break of CMES session 2024-11-26' }]);
  });

  it('fills only complete bars when run intraday at asOf', () => {
    const grid = handGrid('2024-03-12T13:30:00Z', '2024-03-12T14:01:00Z'); // 13:30..14:00 observed so far
    const rows = grid.filter((t) => t !== utc('2024-03-12T13:58:00Z')).map((t) => bar('NVDA', t, 900));
    const asOf = utc('2024-03-12T14:00:30Z'); // the 14:00 bar is still forming
    const res = fillGaps(rows, { config: cfg(), calendarFor: () => xnys, symbols: ['NVDA'], startDate: '2024-03-12', endDate: '2024-03-12', asOf });
    expect(res.rows.map((r) => r.ts)).toEqual(handGrid('2024-03-12T13:30:00Z', '2024-03-12T14:00:00Z'));
    expect(res.incomplete).toEqual([rows.length - 1]);
    expect(res.offGrid).toEqual([]);
    expect(res.reports[0]).toMatchObject({ expected: 30, observed: 29, imputed: 1 });
  });

  it('reports bars that are off the frequency grid', () => {
    const t = utc('2024-03-12T14:00:00Z');
    const res = fillGaps([bar('AAPL', t, 1), bar('AAPL', t + 30_000, 1)], { config: cfg(), calendarFor: () => xnys, symbols: ['AAPL'], startDate: '2024-03-12', endDate: '2024-03-12' });
    expect(res.offGrid).toEqual([{ index: 1, reason: '2024-03-12T14:00:30.000Z is not on the 1min grid of session 2024-03-12' }]);
  });

  it('rejects duplicate (symbol, ts) input', () => {
    const t = utc('2024-03-12T14:00:00Z');
    expect(() => fillGaps([bar('A', t, 1), bar('A', t, 2)], { config: cfg(), calendarFor: () => xnys, symbols: [], startDate: '2024-03-12', endDate: '2024-03-12' })).toThrow(/duplicate/);
  });

  it('applies linear, constant and none per column', () => {
    const grid = handGrid('2024-03-12T13:30:00Z', '2024-03-12T20:00:00Z');
    const gap = new Set([utc('2024-03-12T14:01:00Z'), utc('2024-03-12T14:02:00Z'), utc('2024-03-12T14:03:00Z')]);
    const rows = grid.filter((t) => !gap.has(t)).map((t, i) => bar('X', t, 100 + i));
    const config = cfg({ imputation: { close: 'linear', open: 'ffill', volume: { constant: -1 }, wap: 'none', trade_count: 'zero' } });
    const res = fillGaps(rows, { config, calendarFor: () => xnys, symbols: ['X'], startDate: '2024-03-12', endDate: '2024-03-12' });
    const before = at(res.rows, utc('2024-03-12T14:00:00Z'));
    const after = at(res.rows, utc('2024-03-12T14:04:00Z'));
    // high and low follow close (linear) when unlisted.
    const step = ((after.close as number) - (before.close as number)) / 4;
    const mid = at(res.rows, utc('2024-03-12T14:02:00Z'));
    expect(mid.close).toBeCloseTo((before.close as number) + 2 * step, 12);
    expect(mid.high).toBeCloseTo((before.high as number) + ((after.high as number) - (before.high as number)) / 2, 12);
    expect(mid.open).toBe(before.close);
    expect(mid.volume).toBe(-1);
    expect(mid.wap).toBeNull();
    expect(mid.trade_count).toBe(0);
    expect(mid.imputation).toBe('ffill+linear+constant+zero');
    expect(res.reports[0]).toMatchObject({ missing: 3, imputed: 3, unfilled: 0 });
  });

  it('resolves unlisted columns from close and volume', () => {
    expect(resolveImputation({ close: 'ffill' })).toEqual({ open: 'ffill', high: 'ffill', low: 'ffill', close: 'ffill', volume: 'zero', wap: 'ffill', trade_count: 'zero' });
    expect(resolveImputation({ close: 'linear' })).toEqual({ open: 'linear', high: 'linear', low: 'linear', close: 'linear', volume: 'none', wap: 'linear', trade_count: 'none' });
    expect(resolveImputation({})).toMatchObject({ close: 'none', volume: 'none', trade_count: 'none' });
  });

  for (const [method, seed] of [['ffill', 1], ['ffill', 2], ['linear', 3], ['linear', 4]] as const) {
    it(`agrees with the pandas-style reference (${method}, seed ${seed})`, () => {
      const rand = rng(seed);
      const limit = 4;
      const grid = handGrid('2024-03-12T13:30:00Z', '2024-03-12T20:00:00Z');
      const closes = new Map<number, number>();
      const volumes = new Map<number, number>();
      let price = 100;
      let i = 0;
      while (i < grid.length) {
        if (rand() < 0.15) {
          i += 1 + Math.floor(rand() * 8); // a gap of 1..8 bars, some over the limit
          continue;
        }
        price *= Math.exp((rand() - 0.5) * 0.01);
        closes.set(grid[i] as number, price);
        volumes.set(grid[i] as number, Math.floor(rand() * 1000));
        i++;
      }
      const rows = [...closes].map(([t, c]) => ({ ...bar('R', t, c), volume: volumes.get(t) as number }));
      rows.reverse(); // input order must not matter
      const res = fillGaps(rows, {
        config: cfg({ imputation: { close: method, volume: 'zero' }, max_gap_bars: limit }),
        calendarFor: () => xnys,
        symbols: ['R'],
        startDate: '2024-03-12',
        endDate: '2024-03-12',
      });
      expect(res.rows.map((r) => r.ts)).toEqual(grid);
      const refClose = pandasReference(grid, closes, limit, method);
      const refVolume = pandasReference(grid, volumes, limit, 'zero');
      res.rows.forEach((r, k) => {
        const c = refClose[k] ?? null;
        if (c === null) expect(r.close).toBeNull();
        else expect(r.close).toBeCloseTo(c, 10);
        expect(r.volume).toBe(refVolume[k]);
        expect(r.is_imputed).toBe(!closes.has(r.ts));
        expect(r.close_imputed).toBe(!closes.has(r.ts));
      });
      expect(res.reports[0]?.missing).toBe(grid.length - closes.size);
      // The series exercises both branches: gaps filled and gaps over the limit.
      expect(res.reports[0]?.imputed).toBeGreaterThan(0);
      expect(res.reports[0]?.overLimit.length).toBeGreaterThan(0);
    });
  }
});
