import { dayFromYmd, weekdayOf, type DayNumber } from './civil-date.js';

/**
 * US holiday dates shared by the XNYS and CME calendars, as pure functions of the year.
 * Which of them an exchange observes, since when, and how (closed or early close) is each
 * calendar's business; these only say on which civil day the holiday falls.
 */
export const SUNDAY = 0;
export const MONDAY = 1;
export const THURSDAY = 4;
export const FRIDAY = 5;
export const SATURDAY = 6;

/** The n-th (1-based) given weekday of a month. */
export function nthWeekdayOf(year: number, month: number, weekday: number, n: number): DayNumber {
  const first = dayFromYmd(year, month, 1);
  return first + ((weekday - weekdayOf(first) + 7) % 7) + 7 * (n - 1);
}

/** The last given weekday of a month. */
export function lastWeekdayOf(year: number, month: number, weekday: number): DayNumber {
  const last = dayFromYmd(year, month + 1, 0);
  return last - ((weekdayOf(last) - weekday + 7) % 7);
}

/** Western (Gregorian) Easter Sunday: the anonymous Gregorian algorithm (Meeus/Jones/Butcher). */
export function easterSunday(year: number): DayNumber {
  const a = year % 19;
  const b = Math.floor(year / 100);
  const c = year % 100;
  const d = Math.floor(b / 4);
  const e = b % 4;
  const f = Math.floor((b + 8) / 25);
  const g = Math.floor((b - f + 1) / 3);
  const h = (19 * a + b - d - g + 15) % 30;
  const i = Math.floor(c / 4);
  const k = c % 4;
  const l = (32 + 2 * e + 2 * i - h - k) % 7;
  const m = Math.floor((a + 11 * h + 22 * l) / 451);
  const month = Math.floor((h + l - 7 * m + 114) / 31);
  const day = ((h + l - 7 * m + 114) % 31) + 1;
  return dayFromYmd(year, month, day);
}

/** Saturday → preceding Friday, Sunday → following Monday (the usual US observance). */
export function nearestWorkday(day: DayNumber): DayNumber {
  const wd = weekdayOf(day);
  if (wd === SATURDAY) return day - 1;
  if (wd === SUNDAY) return day + 1;
  return day;
}

/** Sunday → following Monday; a Saturday holiday is simply lost (NYSE and CME New Year's Day). */
export function sundayToMonday(day: DayNumber): DayNumber {
  return weekdayOf(day) === SUNDAY ? day + 1 : day;
}

export const usHolidays = {
  newYearsDay: (y: number): DayNumber => dayFromYmd(y, 1, 1),
  martinLutherKingDay: (y: number): DayNumber => nthWeekdayOf(y, 1, MONDAY, 3),
  washingtonsBirthday: (y: number): DayNumber => nthWeekdayOf(y, 2, MONDAY, 3),
  goodFriday: (y: number): DayNumber => easterSunday(y) - 2,
  memorialDay: (y: number): DayNumber => lastWeekdayOf(y, 5, MONDAY),
  juneteenth: (y: number): DayNumber => dayFromYmd(y, 6, 19),
  independenceDay: (y: number): DayNumber => dayFromYmd(y, 7, 4),
  laborDay: (y: number): DayNumber => nthWeekdayOf(y, 9, MONDAY, 1),
  thanksgiving: (y: number): DayNumber => nthWeekdayOf(y, 11, THURSDAY, 4),
  christmas: (y: number): DayNumber => dayFromYmd(y, 12, 25),
} as const;
