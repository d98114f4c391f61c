import type { CalendarRules, SpecialDays } from './rule-based-calendar.js';

/**
 * Spot FX, 24x5: the week runs from Sunday 17:00 to Friday 17:00 America/New_York. Each
 * weekday's session runs from 17:00 New York on the day before to 17:00 on the weekday itself
 * and carries that weekday's date (Sunday 17:00 → Monday 17:00 is Monday's session). No
 * holidays: the interbank market trades through US holidays; closures (if a deployment wants
 * them, e.g. 25 December) come from `calendars.extra_closures.FX` in the config.
 */
const NO_SPECIAL_DAYS: SpecialDays = { closed: new Set(), earlyCloses: new Map() };

export const fxRules: CalendarRules = {
  name: 'FX',
  timezone: 'America/New_York',
  dayBoundaryMinute: 17 * 60,
  openDayOffset: -1,
  openMinute: 17 * 60,
  closeMinute: 17 * 60,
  sessionWeekdays: [1, 2, 3, 4, 5],
  specialDays(): SpecialDays {
    return NO_SPECIAL_DAYS;
  },
};
