import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseBarSize, type BarSpec } from '../../src/sim/ib-request-time.js';
import { SyntheticMarket, type MarketBar, type PriceSeries } from '../../src/sim/market.js';
import {
  BUILTIN_INSTRUMENTS,
  resolveInstruments,
  type SimInstrument,
} from '../../src/sim/sim-instruments.js';

const instruments = resolveInstruments(BUILTIN_INSTRUMENTS);
const inst = (key: string): SimInstrument => instruments.find((i) => i.key === key) as SimInstrument;
const bar = (name: string): BarSpec => parseBarSize(name) as BarSpec;
const LATER = Date.UTC(2026, 0, 1);
const MIN = 60_000;

/** Independent aggregation, written for the test: OHLCV of consecutive bars. */
function aggregate(
  parts: readonly MarketBar[],
): Pick<MarketBar, 'open' | 'high' | 'low' | 'close' | 'volume' | 'count'> {
  return {
    open: parts[0]?.open as number,
    high: Math.max(...parts.map((p) => p.high)),
    low: Math.min(...parts.map((p) => p.low)),
    close: parts.at(-1)?.close as number,
    volume: parts.reduce((s, p) => s + p.volume, 0),
    count: parts.reduce((s, p) => s + p.count, 0),
  };
}

describe('synthetic market', () => {
  const m = new SyntheticMarket();
  const aapl = inst('AAPL');
  const q = (
    start: number,
    end: number,
    size = '1 min',
    series: PriceSeries = 'TRADES',
    rth = true,
    now = LATER,
  ): MarketBar[] => m.bars(aapl, { start, end, bar: bar(size), series, rth, now });

  it('has bars only inside XNYS sessions: 390 regular, 210 on the early close, none on Thanksgiving', () => {
    // 2024-11-27 09:30 EST = 14:30 UTC.
    const day = (d: number): MarketBar[] => q(Date.UTC(2024, 10, d, 14, 30), Date.UTC(2024, 10, d, 21, 0));
    const wed = day(27);
    expect(wed).toHaveLength(390);
    expect(wed.map((b) => b.ts)).toEqual(
      Array.from({ length: 390 }, (_, i) => Date.UTC(2024, 10, 27, 14, 30) + i * MIN),
    );
    expect(day(28)).toEqual([]);
    const fri = day(29);
    expect(fri).toHaveLength(210);
    expect(fri.at(-1)?.ts).toBe(Date.UTC(2024, 10, 29, 17, 59)); // 12:59 EST
    expect(q(Date.UTC(2024, 10, 30), Date.UTC(2024, 11, 2))).toEqual([]); // weekend
  });

  it('adds pre- and post-market hours for stocks when useRTH=0 (04:00–20:00 New York)', () => {
    const ext = q(Date.UTC(2024, 10, 27, 5), Date.UTC(2024, 10, 28, 5), '1 min', 'TRADES', false);
    expect(ext).toHaveLength(16 * 60);
    expect(ext[0]?.ts).toBe(Date.UTC(2024, 10, 27, 9, 0));
    // The regular-hours bars are the same bars whichever flag asked for them.
    const rth = q(Date.UTC(2024, 10, 27, 5), Date.UTC(2024, 10, 28, 5));
    expect(ext.filter((b) => b.ts >= rth[0]!.ts && b.ts <= rth.at(-1)!.ts)).toEqual(rth);
  });

  it('is deterministic and page-independent', () => {
    const fresh = new SyntheticMarket();
    const a = Date.UTC(2024, 10, 26, 14, 30);
    const whole = q(a, a + 390 * MIN);
    expect(
      fresh.bars(aapl, {
        start: a,
        end: a + 390 * MIN,
        bar: bar('1 min'),
        series: 'TRADES',
        rth: true,
        now: LATER,
      }),
    ).toEqual(whole);
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 389 }), (k) => {
        expect([...q(a, a + k * MIN), ...q(a + k * MIN, a + 390 * MIN)]).toEqual(whole);
      }),
      { numRuns: 25 },
    );
  });

  it('keeps OHLC consistent and volume non-negative for every series and bar size', () => {
    const sizes = ['1 secs', '5 secs', '1 min', '5 mins', '1 hour', '4 hours', '1 day', '1W', '1M'];
    const series: PriceSeries[] = ['TRADES', 'MIDPOINT', 'BID', 'ASK', 'BID_ASK'];
    fc.assert(
      fc.property(
        fc.constantFrom(...instruments),
        fc.constantFrom(...sizes),
        fc.constantFrom(...series),
        fc.boolean(),
        fc.integer({ min: 0, max: 700 }),
        (i, size, s, rth, dayOffset) => {
          const spec = bar(size);
          const end = Date.UTC(2023, 0, 2) + dayOffset * 86_400_000;
          const span = spec.kind === 'intraday' ? Math.min(86_400_000, spec.ms * 400) : 35 * 86_400_000;
          const series2 = i.hasTrades ? s : s === 'TRADES' ? 'MIDPOINT' : s;
          for (const b of m.bars(i, {
            start: end - span,
            end,
            bar: spec,
            series: series2,
            rth,
            now: LATER,
          })) {
            expect(b.low).toBeLessThanOrEqual(Math.min(b.open, b.close));
            expect(b.high).toBeGreaterThanOrEqual(Math.max(b.open, b.close));
            expect(b.low).toBeGreaterThan(0);
            if (series2 === 'TRADES') expect(b.volume).toBeGreaterThanOrEqual(0);
            else expect([b.volume, b.wap, b.count]).toEqual([-1, -1, -1]);
          }
        },
      ),
      { numRuns: 60 },
    );
  });

  it('builds 1-min bars from twelve 5-s bars, 5-s bars from five 1-s bars, and daily bars from the session', () => {
    const t = Date.UTC(2024, 10, 27, 15, 7);
    const minute = q(t, t + MIN)[0] as MarketBar;
    const fives = Array.from(
      { length: 12 },
      (_, k) => m.baseBar(aapl, t + 5_000 * k, 'TRADES', true) as MarketBar,
    );
    expect(minute).toMatchObject(aggregate(fives));
    expect(fives.slice(1).every((f, k) => f.open === fives[k]?.close)).toBe(true);
    const ones = q(t, t + 5_000, '1 secs');
    expect(ones).toHaveLength(5);
    expect(aggregate(ones)).toEqual(aggregate([fives[0] as MarketBar]));
    const day = q(Date.UTC(2024, 10, 27), Date.UTC(2024, 10, 28), '1 day')[0] as MarketBar;
    expect(day).toMatchObject({
      day: Math.floor(Date.UTC(2024, 10, 27) / 86_400_000),
      ...aggregate(q(Date.UTC(2024, 10, 27, 14, 30), Date.UTC(2024, 10, 27, 21))),
    });
    const hour = q(Date.UTC(2024, 10, 27, 14, 30), Date.UTC(2024, 10, 27, 21), '1 hour');
    // Hourly bars align to the clock: 09:30–10:00, then 10:00, 11:00, … 15:00 (New York).
    expect(hour.map((b) => b.ts)).toEqual(
      [14.5, 15, 16, 17, 18, 19, 20].map((h) => Date.UTC(2024, 10, 27, 0, h * 60)),
    );
  });

  it('serves only what exists by now: the bar in progress is partial', () => {
    const now = Date.UTC(2024, 10, 27, 15, 7, 23); // 23 s into the 10:07 bar
    const bars = q(Date.UTC(2024, 10, 27, 14, 30), Date.UTC(2024, 10, 27, 21), '1 min', 'TRADES', true, now);
    expect(bars).toHaveLength(38);
    const fives = Array.from(
      { length: 4 },
      (_, k) => m.baseBar(aapl, Date.UTC(2024, 10, 27, 15, 7) + 5_000 * k, 'TRADES', true) as MarketBar,
    );
    expect(bars.at(-1)).toMatchObject({ ts: Date.UTC(2024, 10, 27, 15, 7), ...aggregate(fives) });
    expect(m.barContaining(aapl, bar('1 min'), now - 1, 'TRADES', true, now)).toEqual(bars.at(-1));
  });

  it('follows the CME and FX calendars, history start and futures expiry', () => {
    const es = inst('ES-202503');
    // CMES session of 2024-11-27 runs 17:00 Chicago on the 26th to 17:00 on the 27th; nothing
    // trades in the 16:00-17:00 CST halt (22:00-23:00 UTC), so 23 hourly bars.
    const esDay = m.bars(es, {
      start: Date.UTC(2024, 10, 26, 23),
      end: Date.UTC(2024, 10, 27, 23),
      bar: bar('1 hour'),
      series: 'TRADES',
      rth: false,
      now: LATER,
    });
    expect(esDay.map((b) => b.ts)).toEqual(Array.from({ length: 23 }, (_, h) => Date.UTC(2024, 10, 26, 23 + h)));
    expect(
      m.bars(es, {
        start: Date.UTC(2025, 2, 22),
        end: Date.UTC(2025, 3, 1),
        bar: bar('1 hour'),
        series: 'TRADES',
        rth: false,
        now: LATER,
      }),
    ).toEqual([]);
    expect(m.headTimestamp(es, false)).toBe(Date.UTC(2024, 2, 14, 22)); // session of 2024-03-15 opens 17:00 CDT on the 14th
    const fx = inst('EURUSD');
    // FX: Sunday 17:00 New York opens Monday's session; Saturday is closed.
    const weekend = m.bars(fx, {
      start: Date.UTC(2024, 10, 29, 22),
      end: Date.UTC(2024, 11, 2, 0),
      bar: bar('1 hour'),
      series: 'MIDPOINT',
      rth: false,
      now: LATER,
    });
    expect(weekend[0]?.ts).toBe(Date.UTC(2024, 11, 1, 22));
    expect(weekend).toHaveLength(2);
    expect(m.headTimestamp(aapl, true)).toBe(Date.UTC(2000, 0, 3, 14, 30));
    expect(q(Date.UTC(1999, 11, 1), Date.UTC(2000, 0, 1), '1 day')).toEqual([]);
  });

  describe('CME Globex daily halt (16:00-17:00 Chicago)', () => {
    const es = inst('ES-202503');
    const esq = (start: number, end: number, size = '1 min', now = LATER): MarketBar[] =>
      m.bars(es, { start, end, bar: bar(size), series: 'TRADES', rth: false, now });

    it('winter: the 2024-11-27 session has 1380 one-minute bars, 23:00Z on the 26th to 21:59Z, none in [22:00Z, 23:00Z)', () => {
      const bars = esq(Date.UTC(2024, 10, 26, 23), Date.UTC(2024, 10, 27, 23));
      expect(bars.map((b) => b.ts)).toEqual(Array.from({ length: 1380 }, (_, i) => Date.UTC(2024, 10, 26, 23) + i * MIN));
      expect(esq(Date.UTC(2024, 10, 27, 22), Date.UTC(2024, 10, 27, 23))).toEqual([]);
      expect(esq(Date.UTC(2024, 10, 27, 22), Date.UTC(2024, 10, 27, 23), '5 secs')).toEqual([]);
      expect(esq(Date.UTC(2024, 10, 27, 22), Date.UTC(2024, 10, 27, 23), '1 secs')).toEqual([]);
      // The next session opens at 17:00 CST as usual.
      expect(esq(Date.UTC(2024, 10, 27, 22), Date.UTC(2024, 10, 27, 23, 1))[0]?.ts).toBe(Date.UTC(2024, 10, 27, 23));
    });

    it('summer: the 2024-07-16 session trades 22:00Z on the 15th to 20:59Z, none in [21:00Z, 22:00Z)', () => {
      const bars = esq(Date.UTC(2024, 6, 15, 22), Date.UTC(2024, 6, 16, 22));
      expect(bars.map((b) => b.ts)).toEqual(Array.from({ length: 1380 }, (_, i) => Date.UTC(2024, 6, 15, 22) + i * MIN));
      expect(esq(Date.UTC(2024, 6, 16, 21), Date.UTC(2024, 6, 16, 22), '30 secs')).toEqual([]);
    });

    it('a 12:00 early close (2024-11-29) is not cut: 1140 bars up to 11:59 CST', () => {
      const bars = esq(Date.UTC(2024, 10, 28, 23), Date.UTC(2024, 10, 29, 23));
      expect(bars).toHaveLength(19 * 60);
      expect(bars.at(-1)?.ts).toBe(Date.UTC(2024, 10, 29, 17, 59));
    });

    it('live answers stop in the halt: no real-time 5-s bar and no keepUpToDate bar for any instant in it', () => {
      for (let t = Date.UTC(2024, 10, 27, 22); t < Date.UTC(2024, 10, 27, 23); t += 5_000) {
        expect(m.baseBar(es, t, 'TRADES', false)).toBeUndefined();
        expect(m.barContaining(es, bar('1 min'), t, 'TRADES', false, t + 5_000)).toBeUndefined();
        expect(m.barContaining(es, bar('1 day'), t, 'TRADES', false, t + 5_000)).toBeUndefined();
      }
      expect(m.baseBar(es, Date.UTC(2024, 10, 27, 21, 59, 55), 'TRADES', false)).toBeDefined();
      expect(m.baseBar(es, Date.UTC(2024, 10, 27, 23), 'TRADES', false)).toBeDefined();
    });

    it('the daily bar aggregates the traded minutes only; an hourly bar covering the halt is absent', () => {
      // A daily bar starts at its session's open, 17:00 CST the evening before.
      const day = esq(Date.UTC(2024, 10, 26, 23), Date.UTC(2024, 10, 27, 23), '1 day');
      expect(day).toHaveLength(1);
      const minutes = esq(Date.UTC(2024, 10, 26, 23), Date.UTC(2024, 10, 27, 23));
      expect(day[0]).toMatchObject(aggregate(minutes));
      const hours = esq(Date.UTC(2024, 10, 27, 20), Date.UTC(2024, 10, 27, 23), '1 hour');
      expect(hours.map((b) => b.ts)).toEqual([Date.UTC(2024, 10, 27, 20), Date.UTC(2024, 10, 27, 21)]);
    });
  });

  it('computes a year of daily bars (cached paths and aggregates), the same on a second call', () => {
    const fresh = new SyntheticMarket();
    const year = fresh.bars(inst('MSFT'), {
      start: Date.UTC(2023, 0, 1),
      end: Date.UTC(2024, 0, 1),
      bar: bar('1 day'),
      series: 'TRADES',
      rth: true,
      now: LATER,
    });
    expect(year).toHaveLength(250); // XNYS 2023: 260 weekdays minus 10 holidays
    // Served from the cached paths again, identical. (Its speed is not a test's business: a busy machine would fail it.)
    expect(fresh.bars(inst('MSFT'), { start: Date.UTC(2023, 0, 1), end: Date.UTC(2024, 0, 1), bar: bar('1 day'), series: 'TRADES', rth: true, now: LATER })).toEqual(year);
  });
});
