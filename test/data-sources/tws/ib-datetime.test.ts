import { describe, expect, it } from 'vitest';
import { getCalendar } from '../../../src/calendar/calendar-registry.js';
import { assertExplicitZone, dailyBarStart, formatIbUtc, hasExplicitZone, parseIbBarTime, parseIbUtc } from '../../../src/data-sources/tws/ib-datetime.js';

describe('IB date-times', () => {
  it('formats and parses the UTC dash form', () => {
    expect(formatIbUtc(Date.UTC(2024, 10, 25, 21, 0, 0))).toBe('20241125-21:00:00');
    expect(formatIbUtc(Date.UTC(2024, 0, 2, 3, 4, 5))).toBe('20240102-03:04:05');
    expect(parseIbUtc('20240102-03:04:05')).toBe(Date.UTC(2024, 0, 2, 3, 4, 5));
  });

  it('accepts only explicit zones', () => {
    expect(hasExplicitZone('')).toBe(true);
    expect(hasExplicitZone('20241125-21:00:00')).toBe(true);
    expect(hasExplicitZone('20241125 16:00:00 US/Eastern')).toBe(true);
    expect(hasExplicitZone('20241125 16:00:00')).toBe(false);
    expect(hasExplicitZone('20241125  16:00:00')).toBe(false);
    expect(hasExplicitZone('2024-11-25T21:00:00Z')).toBe(false);
    expect(() => assertExplicitZone('20241125 16:00:00')).toThrow(/zone-less/);
  });

  it('parses bar times in both formatDate forms to the UTC bar start', () => {
    const nineThirtyEst = Date.UTC(2024, 10, 25, 14, 30);
    expect(parseIbBarTime(String(nineThirtyEst / 1000), 'UTC')).toBe(nineThirtyEst);
    expect(parseIbBarTime('20241125 09:30:00 US/Eastern', 'UTC')).toBe(nineThirtyEst);
    expect(parseIbBarTime('20241125 08:30:00 US/Central', 'UTC')).toBe(nineThirtyEst);
    // Old two-space form: no zone on the wire, the instrument's zone supplies it.
    expect(parseIbBarTime('20241125  09:30:00', 'America/New_York')).toBe(nineThirtyEst);
    // Summer: EDT is UTC-4.
    expect(parseIbBarTime('20240701 09:30:00 US/Eastern', 'UTC')).toBe(Date.UTC(2024, 6, 1, 13, 30));
    // Daily bars: a date only, local midnight.
    expect(parseIbBarTime('20241125', 'America/New_York')).toBe(Date.UTC(2024, 10, 25, 5));
    expect(() => parseIbBarTime('yesterday', 'UTC')).toThrow(/unrecognised/);
    expect(() => parseIbBarTime('20241125 09:30:00 Mars/Olympus', 'UTC')).toThrow(/time zone/);
  });

  it('stamps a date-only daily bar at its session open (holidays and CME Sunday opens included)', () => {
    const xnys = getCalendar('XNYS');
    const cmes = getCalendar('CMES');
    // Day after Thanksgiving 2024: an early close, a normal session that opens 09:30 New York (14:30 UTC).
    expect(dailyBarStart(parseIbBarTime('20241129', 'US/Eastern'), 'US/Eastern', xnys)).toBe(Date.UTC(2024, 10, 29, 14, 30));
    // Summer time: 09:30 New York is 13:30 UTC.
    expect(dailyBarStart(parseIbBarTime('20240702', 'US/Eastern'), 'US/Eastern', xnys)).toBe(Date.UTC(2024, 6, 2, 13, 30));
    // Thanksgiving itself has no session: the local midnight stays (the transform sets it aside as off-grid).
    const thanksgiving = parseIbBarTime('20241128', 'US/Eastern');
    expect(thanksgiving).toBe(Date.UTC(2024, 10, 28, 5, 0));
    expect(dailyBarStart(thanksgiving, 'US/Eastern', xnys)).toBe(thanksgiving);
    // CME Globex: Monday's session opens Sunday 17:00 Chicago (23:00 UTC in winter).
    expect(dailyBarStart(parseIbBarTime('20241202', 'US/Central'), 'US/Central', cmes)).toBe(Date.UTC(2024, 11, 1, 23, 0));
  });
});
