import { dayFromYmd, parseIsoDate, weekdayOf, type DayNumber } from './civil-date.js';
import type { CalendarRules, SpecialDays } from './rule-based-calendar.js';
import { FRIDAY, MONDAY, THURSDAY, nearestWorkday, sundayToMonday, usHolidays as us } from './us-holidays.js';

/**
 * New York Stock Exchange: 09:30–16:00 America/New_York, Monday to Friday.
 * Rules are stated as the exchange has applied them since 1990 (sessions before 1990 are not
 * verified against a reference). Sources: NYSE Rule 7.2 and the exchange's holiday notices;
 * checked session by session against exchange_calendars' XNYS table 1990-2023.
 */

/**
 * Unscheduled full-day closures. Extend here for a release, or per deployment through
 * `calendars.extra_closures.XNYS` in the config without one.
 */
export const XNYS_ADHOC_CLOSURES: readonly string[] = [
  '1994-04-27', // national day of mourning: President Nixon
  '2001-09-11', // September 11 attacks: closed through Friday
  '2001-09-12',
  '2001-09-13',
  '2001-09-14',
  '2004-06-11', // national day of mourning: President Reagan
  '2007-01-02', // national day of mourning: President Ford
  '2012-10-29', // Hurricane Sandy
  '2012-10-30',
  '2018-12-05', // national day of mourning: President G. H. W. Bush
  '2025-01-09', // national day of mourning: President Carter
];

/** One-off 13:00 closes that no recurring rule explains. */
export const XNYS_ADHOC_EARLY_CLOSES: readonly string[] = [
  '1997-12-26', // Friday after Christmas
  '1999-12-31', // New Year's Eve 1999 (Y2K)
  '2003-12-26', // Friday after Christmas
];

const H13 = 13 * 60;
const H14 = 14 * 60;

function closedDays(year: number): DayNumber[] {
  const days = [
    // A Saturday New Year's Day is not observed on the Friday before (NYSE Rule 7.2).
    sundayToMonday(us.newYearsDay(year)),
    us.washingtonsBirthday(year),
    us.goodFriday(year),
    us.memorialDay(year),
    nearestWorkday(us.independenceDay(year)),
    us.laborDay(year),
    us.thanksgiving(year),
    nearestWorkday(us.christmas(year)),
  ];
  if (year >= 1998) days.push(us.martinLutherKingDay(year));
  if (year >= 2022) days.push(nearestWorkday(us.juneteenth(year)));
  return days;
}

function earlyCloseDays(year: number): [DayNumber, number][] {
  const out: [DayNumber, number][] = [];
  const dayAfterThanksgiving = us.thanksgiving(year) + 1;
  if (year === 1992) out.push([dayAfterThanksgiving, H14]);
  if (year >= 1993) out.push([dayAfterThanksgiving, H13]);

  // Christmas Eve on Monday–Thursday (on a Friday it is the observed Christmas holiday).
  const christmasEve = dayFromYmd(year, 12, 24);
  if (weekdayOf(christmasEve) >= MONDAY && weekdayOf(christmasEve) <= THURSDAY) {
    out.push([christmasEve, year < 1993 ? H14 : H13]);
  }

  // Around Independence Day: 3 July when it is a Monday, Tuesday or Thursday (from 1995) or a
  // Wednesday (from 2013); until 2012 the Friday 5 July after a Thursday holiday instead.
  const july3 = dayFromYmd(year, 7, 3);
  const july3Weekday = weekdayOf(july3);
  if (year >= 1995 && (july3Weekday === MONDAY || july3Weekday === 2 || july3Weekday === THURSDAY))
    out.push([july3, H13]);
  if (year >= 2013 && july3Weekday === 3) out.push([july3, H13]);
  const july5 = dayFromYmd(year, 7, 5);
  if (year >= 1996 && year <= 2012 && weekdayOf(july5) === FRIDAY) out.push([july5, H13]);
  return out;
}

const adhocClosed = XNYS_ADHOC_CLOSURES.map((d) => parseIsoDate(d));
const adhocEarly = XNYS_ADHOC_EARLY_CLOSES.map((d) => parseIsoDate(d));

export const xnysRules: CalendarRules = {
  name: 'XNYS',
  timezone: 'America/New_York',
  dayBoundaryMinute: 0,
  openDayOffset: 0,
  openMinute: 9 * 60 + 30,
  closeMinute: 16 * 60,
  sessionWeekdays: [1, 2, 3, 4, 5],
  specialDays(year: number): SpecialDays {
    const closed = new Set([...closedDays(year), ...adhocClosed]);
    const earlyCloses = new Map<DayNumber, number>([
      ...earlyCloseDays(year),
      ...adhocEarly.map((d): [DayNumber, number] => [d, H13]),
    ]);
    return { closed, earlyCloses };
  },
};
