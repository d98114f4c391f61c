import { InputError } from '../core/errors.js';

/**
 * Civil (zone-less) calendar dates as day numbers: whole days since 1970-01-01. Holiday rules
 * and session tables do their arithmetic on these, so no date ever passes through a time zone.
 */
export type DayNumber = number;

export const MS_PER_DAY = 86_400_000;

/** Day of week of a day number, 0 = Sunday … 6 = Saturday (1970-01-01 was a Thursday). */
export function weekdayOf(day: DayNumber): number {
  return (((day + 4) % 7) + 7) % 7;
}

/** Day number of a proleptic-Gregorian year, month (1–12) and day of month. */
export function dayFromYmd(year: number, month: number, dayOfMonth: number): DayNumber {
  return Math.floor(Date.UTC(year, month - 1, dayOfMonth) / MS_PER_DAY);
}

/** Calendar year of a day number. */
export function yearOf(day: DayNumber): number {
  return new Date(day * MS_PER_DAY).getUTCFullYear();
}

const ISO_DATE = /^(\d{4})-(\d{2})-(\d{2})$/;

/** Parses `YYYY-MM-DD` into a day number; throws InputError on malformed or impossible dates. */
export function parseIsoDate(text: string, what = 'date'): DayNumber {
  const m = ISO_DATE.exec(text);
  if (m) {
    const [y, mo, d] = [Number(m[1]), Number(m[2]), Number(m[3])];
    const day = dayFromYmd(y, mo, d);
    // Round-tripping rejects 2023-02-30 and friends, which Date.UTC would silently roll over.
    if (formatIsoDate(day) === text) return day;
  }
  throw new InputError(`${what}: expected a calendar date YYYY-MM-DD, got ${JSON.stringify(text)}`);
}

/** Formats a day number as `YYYY-MM-DD` (years 0000–9999). */
export function formatIsoDate(day: DayNumber): string {
  return new Date(day * MS_PER_DAY).toISOString().slice(0, 10);
}
