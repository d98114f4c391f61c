import { dayFromYmd, parseIsoDate, weekdayOf, type DayNumber } from './civil-date.js';
import type { CalendarRules, DailyBreak, SpecialDays } from './rule-based-calendar.js';
import { MONDAY, THURSDAY, nearestWorkday, sundayToMonday, usHolidays as us } from './us-holidays.js';

/**
 * CME Globex equity futures. Session bounds are exchange_calendars' (its CMES calendar): a
 * session labelled D opens at 17:00 America/Chicago on the day before D (Sunday evening for
 * Monday) and closes at 17:00 on D, so the sessions of one week are back to back. Closed on New
 * Year's Day, Good Friday and Christmas; the other US holidays (and the days around
 * Thanksgiving and Christmas) trade a short 12:00 session. Checked session by session against
 * exchange_calendars' CMES table 1990-2027.
 *
 * Unlike that table, Globex's daily maintenance halt 16:00–17:00 Chicago is modelled, as a
 * session break: nothing trades and IB sends no bar in it, so a regular session has 23 h of
 * bars (1,380 one-minute bars). A 12:00 early close ends before the halt and has no break.
 */

/**
 * Unscheduled full-day closures (national days of mourning). Unlike XNYS the reference keeps
 * Globex sessions on 2001-09-11..14 and 2012-10-29/30. Extend per deployment through
 * `calendars.extra_closures.CMES` in the config.
 */
export const CMES_ADHOC_CLOSURES: readonly string[] = [
  '1994-04-27', // President Nixon
  '2004-06-11', // President Reagan
  '2007-01-02', // President Ford
  '2018-12-05', // President G. H. W. Bush
  '2025-01-09', // President Carter
];

const NOON = 12 * 60;
const HALT: DailyBreak = { startMinute: 16 * 60, endMinute: 17 * 60 };

function closedDays(year: number): DayNumber[] {
  return [
    sundayToMonday(us.newYearsDay(year)), // a Saturday New Year's Day is not observed
    us.goodFriday(year),
    nearestWorkday(us.christmas(year)),
  ];
}

function noonCloseDays(year: number): DayNumber[] {
  const days = [
    us.washingtonsBirthday(year),
    us.memorialDay(year),
    nearestWorkday(us.independenceDay(year)),
    us.laborDay(year),
    us.thanksgiving(year),
  ];
  if (year >= 1993) days.push(us.thanksgiving(year) + 1);
  if (year >= 1998) days.push(us.martinLutherKingDay(year));
  if (year >= 2022) days.push(nearestWorkday(us.juneteenth(year)));
  // Christmas Eve on Monday–Thursday (on a Friday it is the observed Christmas holiday).
  const christmasEve = dayFromYmd(year, 12, 24);
  if (weekdayOf(christmasEve) >= MONDAY && weekdayOf(christmasEve) <= THURSDAY) days.push(christmasEve);
  return days;
}

const adhocClosed = CMES_ADHOC_CLOSURES.map((d) => parseIsoDate(d));

export const cmesRules: CalendarRules = {
  name: 'CMES',
  timezone: 'America/Chicago',
  dayBoundaryMinute: 17 * 60,
  openDayOffset: -1,
  openMinute: 17 * 60,
  closeMinute: 17 * 60,
  sessionWeekdays: [1, 2, 3, 4, 5],
  dailyBreaks: [HALT],
  specialDays(year: number): SpecialDays {
    return {
      closed: new Set([...closedDays(year), ...adhocClosed]),
      earlyCloses: new Map(noonCloseDays(year).map((d): [DayNumber, number] => [d, NOON])),
    };
  },
};
