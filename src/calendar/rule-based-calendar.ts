import { InputError } from '../core/errors.js';
import { MS_PER_DAY, formatIsoDate, parseIsoDate, weekdayOf, yearOf, type DayNumber } from './civil-date.js';
import type { Session, SessionBreak, TradingCalendar } from './trading-calendar.js';
import { inBreak } from './trading-intervals.js';
import { assertTimeZone, instantToLocal, localToInstant } from './zoned-time.js';

/** Holidays and early closes whose session date falls in one year. */
export interface SpecialDays {
  /** Session dates on which the exchange does not trade. */
  readonly closed: ReadonlySet<DayNumber>;
  /** Session dates that close early: the close as minutes after local midnight of the session date. */
  readonly earlyCloses: ReadonlyMap<DayNumber, number>;
}

/**
 * What distinguishes one exchange calendar from another. A session labelled D opens on local
 * day D + openDayOffset at openMinute and closes on day D at closeMinute (or its early close).
 * Every session must lie inside its own trading day as cut by dayBoundaryMinute; the
 * calendar relies on that to find the session of an instant with one lookup.
 */
export interface CalendarRules {
  readonly name: string;
  readonly timezone: string;
  /** Local wall-clock minute at which a trading day starts: 0 (midnight) or e.g. 17:00 = 1020. */
  readonly dayBoundaryMinute: number;
  /** 0 when the session opens on its own date, -1 when it opens the evening before. */
  readonly openDayOffset: number;
  readonly openMinute: number;
  readonly closeMinute: number;
  /** Weekdays (0 = Sunday) whose dates label a session unless closed. */
  readonly sessionWeekdays: readonly number[];
  /**
   * Daily pauses in trading, as local wall-clock minutes on the session's own date (start
   * inclusive, end exclusive), e.g. CME Globex's 16:00–17:00 maintenance halt. Each is clipped
   * to its session and dropped when it falls outside it (a 12:00 early close has no 16:00
   * halt). Omitted by exchanges that trade their whole session.
   */
  readonly dailyBreaks?: readonly DailyBreak[];
  /** Holidays and early closes with a session date in the year. Called once per cached year. */
  specialDays(year: number): SpecialDays;
}

export interface DailyBreak {
  readonly startMinute: number;
  readonly endMinute: number;
}

interface YearTable {
  readonly sessions: readonly Session[];
  /** Day number of each entry of sessions. */
  readonly days: readonly DayNumber[];
  readonly byDay: ReadonlyMap<DayNumber, Session>;
}

/** Longest run of closed days nextSession/previousSession will walk before giving up. */
const MAX_CLOSED_RUN_DAYS = 366;

/**
 * A TradingCalendar computed from rules, one year at a time: a year's session table is built on
 * first use and cached, so a 35-year range costs 35 table builds once and lookups thereafter.
 */
export class RuleBasedCalendar implements TradingCalendar {
  readonly name: string;
  readonly timezone: string;
  private readonly years = new Map<number, YearTable>();
  private readonly extraClosures: ReadonlySet<DayNumber>;
  private readonly weekdays: ReadonlySet<number>;

  constructor(
    private readonly rules: CalendarRules,
    extraClosures: readonly string[] = [],
  ) {
    assertTimeZone(rules.timezone);
    this.name = rules.name;
    this.timezone = rules.timezone;
    this.weekdays = new Set(rules.sessionWeekdays);
    this.extraClosures = new Set(extraClosures.map((d) => parseIsoDate(d, `${rules.name} extra closure`)));
  }

  sessionsInRange(startDate: string, endDate: string): Session[] {
    const start = parseIsoDate(startDate, 'start date');
    const end = parseIsoDate(endDate, 'end date');
    const out: Session[] = [];
    if (start > end) return out;
    for (let year = yearOf(start); year <= yearOf(end); year++) {
      const { sessions, days } = this.yearTable(year);
      sessions.forEach((s, i) => {
        const day = days[i] ?? Number.NaN;
        if (day >= start && day <= end) out.push(s);
      });
    }
    return out;
  }

  session(date: string): Session | undefined {
    return this.sessionOfDay(parseIsoDate(date));
  }

  isOpen(instant: number): boolean {
    const s = this.sessionAt(instant);
    return s !== undefined && !inBreak(s, instant);
  }

  sessionAt(instant: number): Session | undefined {
    const s = this.sessionOfDay(this.tradingDayOf(instant));
    return s !== undefined && s.open <= instant && instant < s.close ? s : undefined;
  }

  sessionDateOf(instant: number): string {
    // Sessions never cross their trading day's boundary, so the trading day is the answer both
    // inside a session and outside one.
    return formatIsoDate(this.tradingDayOf(instant));
  }

  nextSession(date: string): Session {
    return this.walk(parseIsoDate(date), +1);
  }

  previousSession(date: string): Session {
    return this.walk(parseIsoDate(date), -1);
  }

  expectedBarStarts(session: Session, frequencyMs: number): number[] {
    if (!Number.isInteger(frequencyMs) || frequencyMs <= 0) {
      throw new InputError(`bar frequency must be a positive whole number of ms, got ${frequencyMs}`);
    }
    const out: number[] = [];
    for (let t = session.open; t < session.close; t += frequencyMs) if (!inBreak(session, t)) out.push(t);
    return out;
  }

  private tradingDayOf(instant: number): DayNumber {
    if (!Number.isFinite(instant)) throw new InputError(`instant must be finite epoch ms, got ${instant}`);
    const { day, msOfDay } = instantToLocal(this.timezone, instant);
    const boundaryMs = this.rules.dayBoundaryMinute * 60_000;
    // From the boundary on, local time belongs to the next day's session (17:00 Sunday → Monday).
    return boundaryMs > 0 && msOfDay >= boundaryMs ? day + 1 : day;
  }

  private walk(from: DayNumber, step: 1 | -1): Session {
    for (let day = from + step, n = 0; n < MAX_CLOSED_RUN_DAYS; day += step, n++) {
      const s = this.sessionOfDay(day);
      if (s) return s;
    }
    throw new InputError(
      `${this.name}: no session within ${MAX_CLOSED_RUN_DAYS} days ${step > 0 ? 'after' : 'before'} ${formatIsoDate(from)}`,
    );
  }

  private sessionOfDay(day: DayNumber): Session | undefined {
    return this.yearTable(yearOf(day)).byDay.get(day);
  }

  private yearTable(year: number): YearTable {
    let table = this.years.get(year);
    if (!table) {
      table = this.buildYear(year);
      this.years.set(year, table);
    }
    return table;
  }

  private buildYear(year: number): YearTable {
    const { closed, earlyCloses } = this.rules.specialDays(year);
    const { timezone: tz, openDayOffset, openMinute, closeMinute } = this.rules;
    const sessions: Session[] = [];
    const days: DayNumber[] = [];
    const byDay = new Map<DayNumber, Session>();
    const first = Math.floor(Date.UTC(year, 0, 1) / MS_PER_DAY);
    const last = Math.floor(Date.UTC(year, 11, 31) / MS_PER_DAY);
    for (let day = first; day <= last; day++) {
      if (!this.weekdays.has(weekdayOf(day)) || closed.has(day) || this.extraClosures.has(day)) continue;
      const open = localToInstant(tz, day + openDayOffset, openMinute * 60_000);
      const close = localToInstant(tz, day, (earlyCloses.get(day) ?? closeMinute) * 60_000);
      const breaks = this.breaksOf(day, open, close);
      const s: Session = Object.freeze({
        date: formatIsoDate(day),
        open,
        close,
        // Only present when there is one, so break-free sessions keep their three fields.
        ...(breaks.length > 0 ? { breaks: Object.freeze(breaks) } : {}),
      });
      sessions.push(s);
      days.push(day);
      byDay.set(day, s);
    }
    return { sessions: Object.freeze(sessions), days, byDay };
  }

  private breaksOf(day: DayNumber, open: number, close: number): SessionBreak[] {
    const out: SessionBreak[] = [];
    for (const b of this.rules.dailyBreaks ?? []) {
      const start = Math.max(open, localToInstant(this.timezone, day, b.startMinute * 60_000));
      const end = Math.min(close, localToInstant(this.timezone, day, b.endMinute * 60_000));
      if (end > start) out.push(Object.freeze({ start, end }));
    }
    return out.sort((a, b) => a.start - b.start);
  }
}
