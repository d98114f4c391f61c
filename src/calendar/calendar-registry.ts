import { InputError } from '../core/errors.js';
import { cmesRules } from './cmes-calendar.js';
import { formatIsoDate, parseIsoDate } from './civil-date.js';
import { fxRules } from './fx-calendar.js';
import { RuleBasedCalendar, type CalendarRules } from './rule-based-calendar.js';
import type { TradingCalendar } from './trading-calendar.js';
import { xnysRules } from './xnys-calendar.js';

export type CalendarCode = 'XNYS' | 'CMES' | 'FX';

export interface CalendarOptions {
  /** Extra full-day closures (session dates, `YYYY-MM-DD`), e.g. `calendars.extra_closures[code]`. */
  readonly extraClosures?: readonly string[];
}

const RULES: Readonly<Record<CalendarCode, CalendarRules>> = {
  XNYS: xnysRules,
  CMES: cmesRules,
  FX: fxRules,
};

const cache = new Map<string, TradingCalendar>();

/**
 * The trading calendar for a code. Instances are shared per code and set of extra closures, so
 * their per-year session tables are built once per process. Throws InputError for a malformed
 * closure date.
 */
export function getCalendar(code: CalendarCode, opts: CalendarOptions = {}): TradingCalendar {
  const rules = (RULES as Partial<Record<string, CalendarRules>>)[code];
  if (!rules)
    throw new InputError(
      `unknown calendar ${JSON.stringify(code)}: expected one of ${Object.keys(RULES).join(', ')}`,
    );
  const closures = [
    ...new Set(
      (opts.extraClosures ?? []).map((d) => formatIsoDate(parseIsoDate(d, `${code} extra closure`))),
    ),
  ].sort();
  const key = `${code}|${closures.join(',')}`;
  let calendar = cache.get(key);
  if (!calendar) {
    calendar = new RuleBasedCalendar(rules, closures);
    cache.set(key, calendar);
  }
  return calendar;
}
