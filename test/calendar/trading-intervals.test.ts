import { describe, expect, it } from 'vitest';
import { getCalendar } from '../../src/calendar/calendar-registry.js';
import type { Session } from '../../src/calendar/trading-calendar.js';
import { inBreak, tradedUntil, tradingIntervals, tradingLengthMs } from '../../src/calendar/trading-intervals.js';

const at = (iso: string): number => Date.parse(iso);
const H = 3_600_000;

describe('trading intervals of a session', () => {
  it('a session without breaks is one interval of its full length', () => {
    const s: Session = { date: 'x', open: 0, close: 6.5 * H };
    expect(tradingIntervals(s)).toEqual([{ start: 0, end: 6.5 * H }]);
    expect(tradingLengthMs(s)).toBe(6.5 * H);
    expect(inBreak(s, H)).toBe(false);
    expect(tradedUntil(s, 6.5 * H)).toBe(6.5 * H);
  });

  it('breaks split the session; a break at the end leaves one interval; edges are [start, end)', () => {
    const mid = { date: 'x', open: 0, close: 10 * H, breaks: [{ start: 3 * H, end: 4 * H }, { start: 7 * H, end: 8 * H }] };
    expect(tradingIntervals(mid)).toEqual([
      { start: 0, end: 3 * H },
      { start: 4 * H, end: 7 * H },
      { start: 8 * H, end: 10 * H },
    ]);
    expect(tradingLengthMs(mid)).toBe(8 * H);
    expect([inBreak(mid, 3 * H - 1), inBreak(mid, 3 * H), inBreak(mid, 4 * H - 1), inBreak(mid, 4 * H)]).toEqual([false, true, true, false]);
    const tail = { date: 'x', open: 0, close: 24 * H, breaks: [{ start: 23 * H, end: 24 * H }] };
    expect(tradingIntervals(tail)).toEqual([{ start: 0, end: 23 * H }]);
    // Trading stopped at the break's start for any instant in it, its end (the close) included.
    expect([22 * H, 23 * H, 23.5 * H, 24 * H].map((t) => tradedUntil(tail, t))).toEqual([22 * H, 23 * H, 23 * H, 23 * H]);
  });

  it('CME Globex 2024-11-26: 17:00 CST on the 25th to the 16:00 CST halt, 23 h', () => {
    const s = getCalendar('CMES').session('2024-11-26');
    if (!s) throw new Error('no session');
    expect(tradingIntervals(s)).toEqual([{ start: at('2024-11-25T23:00:00Z'), end: at('2024-11-26T22:00:00Z') }]);
    expect(tradingLengthMs(s)).toBe(23 * H);
  });
});
