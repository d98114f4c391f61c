import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { getCalendar } from '../../../src/calendar/calendar-registry.js';
import { planBackfill, planRange } from '../../../src/data-sources/tws/backfill-planner.js';
import { parseIbUtc } from '../../../src/data-sources/tws/ib-datetime.js';

const XNYS = getCalendar('XNYS');
const utc = (y: number, mo: number, d: number, h = 0, mi = 0, s = 0): number => Date.UTC(y, mo - 1, d, h, mi, s);

describe('planBackfill', () => {
  it('Thanksgiving week 2024: newest first, one session per request, holiday skipped, early close shortened', () => {
    const plan = planBackfill({ calendar: XNYS, startDate: '2024-11-25', endDate: '2024-11-29', barSize: '1 min' });
    // Hand-derived: XNYS 09:30-16:00 ET = 14:30-21:00 UTC in November; 11-28 closed; 11-29 closes 13:00 ET = 18:00 UTC.
    expect(plan.map((w) => [w.sessionDate, w.endDateTime, w.durationStr, w.expectedBars])).toEqual([
      ['2024-11-29', '20241129-18:00:00', '12600 S', 210],
      ['2024-11-27', '20241127-21:00:00', '23400 S', 390],
      ['2024-11-26', '20241126-21:00:00', '23400 S', 390],
      ['2024-11-25', '20241125-21:00:00', '23400 S', 390],
    ]);
    expect(plan[3]).toMatchObject({ start: utc(2024, 11, 25, 14, 30), end: utc(2024, 11, 25, 21), barSize: '1 min' });
    expect(plan.reduce((s, w) => s + w.expectedBars, 0)).toBe(390 * 3 + 210);
  });

  it('follows DST: the close is 21:00 UTC before the March change and 20:00 UTC after', () => {
    const plan = planBackfill({ calendar: XNYS, startDate: '2024-03-08', endDate: '2024-03-11', barSize: '1 min' });
    expect(plan.map((w) => w.endDateTime)).toEqual(['20240311-20:00:00', '20240308-21:00:00']);
  });

  it('is bounded below by the head timestamp', () => {
    const plan = planBackfill({
      calendar: XNYS,
      startDate: '2024-11-25',
      endDate: '2024-11-29',
      barSize: '1 min',
      headTimestamp: utc(2024, 11, 26, 15, 0, 20),
    });
    // The first whole bar after 15:00:20 starts 15:01: window [15:01, 21:00) = 359 bars.
    expect(plan.map((w) => [w.sessionDate, w.durationStr, w.expectedBars])).toEqual([
      ['2024-11-29', '12600 S', 210],
      ['2024-11-27', '23400 S', 390],
      ['2024-11-26', '21540 S', 359],
    ]);
    expect(planBackfill({ calendar: XNYS, startDate: '2024-11-25', endDate: '2024-11-26', barSize: '1 min', headTimestamp: utc(2025, 1, 1) })).toEqual([]);
  });

  it('leaves out sessions that have not closed yet', () => {
    const plan = planBackfill({ calendar: XNYS, startDate: '2024-11-25', endDate: '2024-11-29', barSize: '1 min', now: utc(2024, 11, 27, 20) });
    expect(plan.map((w) => w.sessionDate)).toEqual(['2024-11-26', '2024-11-25']);
  });

  it('splits a session into 1-hour requests for 5-second bars', () => {
    const plan = planBackfill({ calendar: XNYS, startDate: '2024-11-25', endDate: '2024-11-25', barSize: '5 secs' });
    // 6.5 h = six 3600 S requests (720 bars each) and a 1800 S one at the open.
    expect(plan.map((w) => [w.endDateTime, w.durationStr, w.expectedBars])).toEqual([
      ['20241125-21:00:00', '3600 S', 720],
      ['20241125-20:00:00', '3600 S', 720],
      ['20241125-19:00:00', '3600 S', 720],
      ['20241125-18:00:00', '3600 S', 720],
      ['20241125-17:00:00', '3600 S', 720],
      ['20241125-16:00:00', '3600 S', 720],
      ['20241125-15:00:00', '1800 S', 360],
    ]);
  });

  it('CME Globex: a session that opens the evening before is one request, ending at the 16:00 CT halt', () => {
    const plan = planBackfill({ calendar: getCalendar('CMES'), startDate: '2024-11-26', endDate: '2024-11-26', barSize: '1 min' });
    // reference/calendars/cmes.csv: session 2024-11-26 runs 2024-11-25T23:00Z to 2024-11-26T23:00Z (17:00-17:00 CST);
    // Globex halts 16:00-17:00 CST (22:00-23:00Z), so 23 h = 82800 s = 1380 one-minute bars are asked for.
    expect(plan).toEqual([
      expect.objectContaining({ sessionDate: '2024-11-26', start: utc(2024, 11, 25, 23), end: utc(2024, 11, 26, 22), endDateTime: '20241126-22:00:00', durationStr: '82800 S', expectedBars: 1380 }),
    ]);
    // Summer (CDT): 17:00 CDT = 22:00Z, halt 21:00-22:00Z.
    const summer = planBackfill({ calendar: getCalendar('CMES'), startDate: '2024-07-16', endDate: '2024-07-16', barSize: '1 min' });
    expect(summer.map((w) => [w.start, w.end, w.durationStr, w.expectedBars])).toEqual([[utc(2024, 7, 15, 22), utc(2024, 7, 16, 21), '82800 S', 1380]]);
    // A 12:00 CST early close ends before the halt: 19 h from 17:00 the evening before.
    const friday = planBackfill({ calendar: getCalendar('CMES'), startDate: '2024-11-29', endDate: '2024-11-29', barSize: '1 min' });
    expect(friday.map((w) => [w.endDateTime, w.durationStr, w.expectedBars])).toEqual([['20241129-18:00:00', '68400 S', 1140]]);
  });

  it('CME Globex 5-second bars: 23 one-hour requests, none for the halt hour', () => {
    const plan = planBackfill({ calendar: getCalendar('CMES'), startDate: '2024-11-26', endDate: '2024-11-26', barSize: '5 secs' });
    expect(plan).toHaveLength(23);
    expect(plan.map((w) => w.end)).toEqual(Array.from({ length: 23 }, (_, k) => utc(2024, 11, 26, 22) - k * 3_600_000));
    expect(plan.every((w) => w.durationStr === '3600 S' && w.expectedBars === 720)).toBe(true);
  });

  it('daily bars: one request for the range, reaching back to the first date\'s local midnight (how IB labels day bars)', () => {
    const plan = planBackfill({ calendar: XNYS, startDate: '2024-11-25', endDate: '2024-11-29', barSize: '1 day' });
    expect(plan).toEqual([
      expect.objectContaining({ start: utc(2024, 11, 25, 5), end: utc(2024, 11, 29, 18), endDateTime: '20241129-18:00:00', durationStr: '5 D', expectedBars: 4 }),
    ]);
  });

  it('rejects bad dates', () => {
    expect(() => planBackfill({ calendar: XNYS, startDate: '2024-11-29', endDate: '2024-11-25', barSize: '1 min' })).toThrow(/before start/);
    expect(() => planBackfill({ calendar: XNYS, startDate: '20241125', endDate: '2024-11-25', barSize: '1 min' })).toThrow(/YYYY-MM-DD/);
    expect(() => planBackfill({ calendar: XNYS, startDate: '2024-02-30', endDate: '2024-03-01', barSize: '1 min' })).toThrow(/calendar date/);
  });
});

describe('planRange (live gap repair)', () => {
  it('covers whole bars of every session the gap touches, newest first', () => {
    const plan = planRange(XNYS, utc(2024, 11, 27, 20, 30, 30), utc(2024, 11, 29, 14, 40, 10), '1 min');
    expect(plan.map((w) => [w.sessionDate, w.start, w.end, w.durationStr, w.expectedBars])).toEqual([
      ['2024-11-29', utc(2024, 11, 29, 14, 30), utc(2024, 11, 29, 14, 41), '660 S', 11],
      ['2024-11-27', utc(2024, 11, 27, 20, 30), utc(2024, 11, 27, 21), '1800 S', 30],
    ]);
  });

  it('CME Globex: a gap across the halt asks for both sides of it and nothing inside it', () => {
    const cmes = getCalendar('CMES');
    // 2024-11-26 15:30 CST to 17:30 CST: the last 30 minutes of the 26th, the first 30 of the 27th.
    const plan = planRange(cmes, utc(2024, 11, 26, 21, 30), utc(2024, 11, 26, 23, 30), '1 min');
    expect(plan.map((w) => [w.sessionDate, w.start, w.end, w.expectedBars])).toEqual([
      ['2024-11-27', utc(2024, 11, 26, 23), utc(2024, 11, 26, 23, 30), 30],
      ['2024-11-26', utc(2024, 11, 26, 21, 30), utc(2024, 11, 26, 22), 30],
    ]);
    expect(planRange(cmes, utc(2024, 11, 26, 22, 5), utc(2024, 11, 26, 22, 55), '1 min')).toEqual([]);
  });

  it('every window is contiguous, inside a session, and its end date is UTC with no zone-less form', () => {
    const lo = utc(2024, 1, 1);
    const hi = utc(2025, 1, 1);
    fc.assert(
      fc.property(fc.integer({ min: lo, max: hi }), fc.integer({ min: 1, max: 5 * 86_400_000 }), (from, len) => {
        const plan = planRange(XNYS, from, from + len, '1 min');
        for (const w of plan) {
          expect(w.endDateTime).toMatch(/^\d{8}-\d{2}:\d{2}:\d{2}$/);
          expect(parseIbUtc(w.endDateTime)).toBe(w.end);
          expect(Number(w.durationStr.split(' ')[0]) * 1000).toBe(w.end - w.start);
          const s = XNYS.session(w.sessionDate);
          expect(s).toBeDefined();
          expect(w.start).toBeGreaterThanOrEqual(s?.open ?? 0);
          expect(w.end).toBeLessThanOrEqual(s?.close ?? 0);
          expect(w.expectedBars).toBe((w.end - w.start) / 60_000);
        }
      }),
      { numRuns: 300 },
    );
  });
});
