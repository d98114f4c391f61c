import { sqlList } from '../core/sql.js';

/**
 * Session dates of UTC hours, for writing a batch given as SQL (RawStore.writeRelation): the
 * (calendar, hour) pairs present in a batch are mapped once in JS with the calendars, instead of
 * asking every row, and handed back to SQL as instant ranges or a lookup list.
 */

export const HOUR_MS = 3_600_000;

/** The session date(s) of one UTC hour of one calendar: `first` before `split`, `last` from it (split = hour end when one date). */
export interface HourDates {
  readonly cal: number;
  readonly hour: number;
  readonly split: number;
  readonly first: string;
  readonly last: string;
}

/**
 * Session dates of the (calendar, UTC hour) pairs present in a batch. Every supported calendar
 * changes date on a whole hour, but an hour that straddles a boundary is split exactly (binary
 * search to the millisecond), so the mapping never guesses.
 */
export function hourDates(hours: readonly { cal: number; hour: number }[], calendars: readonly { sessionDateOf(instant: number): string }[]): HourDates[] {
  return hours.map(({ cal, hour }) => {
    const c = calendars[cal] as { sessionDateOf(instant: number): string };
    const from = hour * HOUR_MS;
    const to = from + HOUR_MS;
    const first = c.sessionDateOf(from);
    const last = c.sessionDateOf(to - 1);
    if (first === last) return { cal, hour, split: to, first, last };
    let lo = from;
    let hi = to - 1;
    while (hi - lo > 1) {
      const mid = lo + Math.floor((hi - lo) / 2);
      if (c.sessionDateOf(mid) === first) lo = mid;
      else hi = mid;
    }
    return { cal, hour, split: hi, first, last };
  });
}

/** Longest (calendars x hours) list a many-dates write indexes into; beyond it, one file per date straight from the relation. */
const MAX_HOUR_LIST = 400_000;

/**
 * The date number of every (calendar, hour) present, as one SQL list indexed by
 * calendar * span + (hour - firstHour): a per-row lookup without a join (a join may reorder
 * rows). Null when an hour straddles a date boundary or the hours span too long a time.
 */
export function hourListMap(hours: readonly HourDates[], dates: readonly string[]): { list: string; span: number; firstHour: number } | null {
  if (hours.length === 0 || hours.some((h) => h.first !== h.last)) return null;
  const firstHour = Math.min(...hours.map((h) => h.hour));
  const span = Math.max(...hours.map((h) => h.hour)) - firstHour + 1;
  const calendars = Math.max(...hours.map((h) => h.cal)) + 1;
  if (span * calendars > MAX_HOUR_LIST) return null;
  const no = new Map(dates.map((d, i) => [d, i]));
  const cells: (number | null)[] = new Array(span * calendars).fill(null);
  for (const h of hours) cells[h.cal * span + (h.hour - firstHour)] = no.get(h.first) ?? null;
  return { list: sqlList(cells, 'INTEGER'), span, firstHour };
}

/** Instant ranges per session date (ascending) and calendar, merging adjacent hours. */
export function dateRanges(hours: readonly HourDates[]): Map<string, { cal: number; from: number; to: number }[]> {
  const out = new Map<string, { cal: number; from: number; to: number }[]>();
  const add = (date: string, cal: number, from: number, to: number): void => {
    if (from >= to) return;
    let list = out.get(date);
    if (!list) out.set(date, (list = []));
    const prev = list.find((g) => g.cal === cal && g.to === from);
    if (prev) prev.to = to;
    else list.push({ cal, from, to });
  };
  for (const h of hours) {
    add(h.first, h.cal, h.hour * HOUR_MS, h.split);
    add(h.last, h.cal, h.split, (h.hour + 1) * HOUR_MS);
  }
  return new Map([...out.entries()].sort(([a], [b]) => a.localeCompare(b)));
}
