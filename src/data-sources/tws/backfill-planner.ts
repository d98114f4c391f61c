import { parseIsoDate } from '../../calendar/civil-date.js';
import type { Session, TradingCalendar } from '../../calendar/trading-calendar.js';
import { tradingIntervals } from '../../calendar/trading-intervals.js';
import { localToInstant } from '../../calendar/zoned-time.js';
import { type BarSize, barSizeMs } from '../../core/bars.js';
import { InputError } from '../../core/errors.js';
import { formatIbUtc } from './ib-datetime.js';

/**
 * One historical request as IB will serve it: bars whose start lies in [start, end), asked for
 * as `endDateTime` (UTC dash form) and a duration IB accepts for the bar size.
 */
export interface BackfillWindow {
  /** Session date the window belongs to (`YYYY-MM-DD`, the calendar's label). */
  readonly sessionDate: string;
  /** First bar start covered, epoch ms UTC (inclusive). */
  readonly start: number;
  /** End of the window, epoch ms UTC (exclusive); the request's endDateTime. */
  readonly end: number;
  /** `yyyymmdd-hh:mm:ss`, UTC: never zone-less. */
  readonly endDateTime: string;
  /** e.g. `23400 S`, `1 D`. */
  readonly durationStr: string;
  readonly barSize: BarSize;
  /** Bars the calendar expects in the window (what a complete answer holds). */
  readonly expectedBars: number;
}

/**
 * Longest window per request, by bar size, from IB's step-size table (tws-protocol.md §3.2).
 * Intraday windows are stated in seconds, and IB serves second durations up to one day, so
 * bars of 1 min and up take one whole session per request.
 */
export const MAX_REQUEST_SECONDS: Readonly<Record<BarSize, number>> = {
  '5 secs': 3_600,
  '1 min': 86_400,
  '5 mins': 86_400,
  '15 mins': 86_400,
  '1 hour': 86_400,
  '1 day': 365 * 86_400,
};

export interface BackfillPlanInput {
  readonly calendar: TradingCalendar;
  /** First session date to cover (`YYYY-MM-DD`, inclusive). */
  readonly startDate: string;
  /** Last session date to cover (`YYYY-MM-DD`, inclusive). */
  readonly endDate: string;
  readonly barSize: BarSize;
  /** IB's earliest available bar (reqHeadTimestamp); nothing before it is requested. */
  readonly headTimestamp?: number | null | undefined;
  /** Sessions not closed by this instant are left out (the live stream owns them). */
  readonly now?: number | undefined;
}

/**
 * Plans a backfill: the sessions in [startDate, endDate] walked backwards from the newest,
 * closed days skipped (the calendar never lists them), each split into requests IB serves,
 * bounded below by the head timestamp. Newest window first. A session break (CME Globex's
 * 16:00–17:00 halt) is never requested: IB has no bar there and answers a window inside it
 * with "no data", so windows cover the session's trading intervals only.
 */
export function planBackfill(input: BackfillPlanInput): BackfillWindow[] {
  const { calendar, startDate, endDate, barSize } = input;
  parseIsoDate(startDate, 'start');
  parseIsoDate(endDate, 'end');
  if (endDate < startDate) throw new InputError(`end ${endDate} is before start ${startDate}`);
  let sessions = calendar.sessionsInRange(startDate, endDate);
  if (input.now !== undefined) {
    const now = input.now;
    sessions = sessions.filter((s) => s.close <= now);
  }
  if (barSize === '1 day') return planDaily(calendar, sessions, input.headTimestamp ?? null);
  const out: BackfillWindow[] = [];
  for (const session of [...sessions].reverse()) {
    out.push(...sessionWindows(calendar, session, session.open, session.close, barSize, input.headTimestamp ?? null));
  }
  return out;
}

/**
 * Windows covering the instants [from, to) of every session they touch, newest first: the
 * live stream uses this to repair a gap after a disconnect. Bars are whole: `from` rounds down
 * and `to` up to the bar grid of their session.
 */
export function planRange(calendar: TradingCalendar, from: number, to: number, barSize: BarSize): BackfillWindow[] {
  if (!(to > from)) return [];
  const firstDate = calendar.sessionDateOf(from);
  const lastDate = calendar.sessionDateOf(to - 1);
  const out: BackfillWindow[] = [];
  for (const session of calendar.sessionsInRange(firstDate, lastDate).reverse()) {
    const bar = barSizeMs(barSize);
    const a = Math.max(session.open, session.open + Math.floor((from - session.open) / bar) * bar);
    const b = Math.min(session.close, session.open + Math.ceil((to - session.open) / bar) * bar);
    if (b > a) out.push(...sessionWindows(calendar, session, a, b, barSize, null));
  }
  return out;
}

function sessionWindows(
  calendar: TradingCalendar,
  session: Session,
  from: number,
  to: number,
  barSize: BarSize,
  head: number | null,
): BackfillWindow[] {
  const bar = barSizeMs(barSize);
  let lower = from;
  if (head !== null && head > lower) {
    // First whole bar at or after the head timestamp, on this session's bar grid.
    lower = session.open + Math.ceil((head - session.open) / bar) * bar;
  }
  if (lower >= to) return [];
  const expected = calendar.expectedBarStarts(session, bar);
  const stepMs = MAX_REQUEST_SECONDS[barSize] * 1000;
  const out: BackfillWindow[] = [];
  for (const iv of tradingIntervals(session).reverse()) {
    const bottom = Math.max(lower, iv.start);
    for (let end = Math.min(to, iv.end); end > bottom; ) {
      const start = Math.max(bottom, end - stepMs);
      out.push({
        sessionDate: session.date,
        start,
        end,
        endDateTime: formatIbUtc(end),
        durationStr: `${Math.ceil((end - start) / 1000)} S`,
        barSize,
        expectedBars: expected.filter((t) => t >= start && t < end).length,
      });
      end = start;
    }
  }
  return out;
}

function planDaily(calendar: TradingCalendar, sessions: Session[], head: number | null): BackfillWindow[] {
  const kept = sessions.filter((s) => head === null || s.close > head);
  const out: BackfillWindow[] = [];
  // Chunks of at most a year of calendar days, newest first; the duration is in days because
  // IB serves second durations only up to one day.
  let i = kept.length - 1;
  while (i >= 0) {
    const last = kept[i] as Session;
    let j = i;
    while (j > 0 && last.close - (kept[j - 1] as Session).open <= MAX_REQUEST_SECONDS['1 day'] * 1000) j--;
    const first = kept[j] as Session;
    // IB labels a daily bar with its date only, read as local midnight: the window must reach back to it.
    const start = Math.min(first.open, localToInstant(calendar.timezone, parseIsoDate(first.date), 0));
    const days = Math.ceil((last.close - start) / 86_400_000);
    out.push({
      sessionDate: last.date,
      start,
      end: last.close,
      endDateTime: formatIbUtc(last.close),
      durationStr: `${days} D`,
      barSize: '1 day',
      expectedBars: i - j + 1,
    });
    i = j - 1;
  }
  return out;
}
