import type { Session } from './trading-calendar.js';

/** A stretch of time the market trades without a pause: [start, end), epoch ms UTC. */
export interface TradingInterval {
  readonly start: number;
  readonly end: number;
}

/**
 * The intervals a session trades: [open, close) minus its breaks, ascending and non-empty.
 * One interval for a session without breaks. Consumers that ask for bars, plan requests or
 * measure a session's length use these rather than open/close, so a daily halt is never seen
 * as missing data.
 */
export function tradingIntervals(session: Session): TradingInterval[] {
  const out: TradingInterval[] = [];
  let from = session.open;
  for (const b of session.breaks ?? []) {
    if (b.start > from) out.push({ start: from, end: Math.min(b.start, session.close) });
    from = Math.max(from, b.end);
  }
  if (session.close > from) out.push({ start: from, end: session.close });
  return out;
}

/** True when instant lies in one of the session's breaks (never for a session without breaks). */
export function inBreak(session: Pick<Session, 'breaks'>, instant: number): boolean {
  for (const b of session.breaks ?? []) if (b.start <= instant && instant < b.end) return true;
  return false;
}

/**
 * How far trading has got by instant: instant itself, or the start of the break it falls in
 * (a break's end counts as in it, so a session's close right after the halt maps to 16:00
 * Chicago). What "the last bar should be this recent" is judged against.
 */
export function tradedUntil(session: Pick<Session, 'breaks'>, instant: number): number {
  for (const b of session.breaks ?? []) if (b.start < instant && instant <= b.end) return b.start;
  return instant;
}

/** Time the session trades: close − open less its breaks (23 h for a regular CME Globex day). */
export function tradingLengthMs(session: Session): number {
  let ms = session.close - session.open;
  for (const b of session.breaks ?? []) ms -= b.end - b.start;
  return ms;
}
