/**
 * The calendar port. Every consumer (sim, backfill planner, gap engine, DQ bar-count rule,
 * partitioning) asks these questions and nothing else. Instants are UTC epoch ms; session
 * dates are `YYYY-MM-DD` labels in the exchange's own sense (a CME session opening Sunday
 * evening is Monday's).
 */
export interface Session {
  /** Session date label, `YYYY-MM-DD`. */
  readonly date: string;
  /** First instant of the session (inclusive), epoch ms UTC. */
  readonly open: number;
  /** End of the session (exclusive), epoch ms UTC. */
  readonly close: number;
  /**
   * Pauses inside the session when the market does not trade and no bar exists, e.g. CME
   * Globex's daily 16:00–17:00 Chicago maintenance halt: ascending, disjoint, non-empty, each
   * inside [open, close). Absent on a session without one (every XNYS and FX session, a CME
   * early close), so open/close stay the exchange's published session bounds. An instant in a
   * break still belongs to the session (sessionAt, sessionDateOf) but is not open (isOpen).
   * Read the traded intervals with `tradingIntervals` (trading-intervals.ts).
   */
  readonly breaks?: readonly SessionBreak[];
}

/** A pause in trading: [start, end), epoch ms UTC. */
export interface SessionBreak {
  readonly start: number;
  readonly end: number;
}

export interface TradingCalendar {
  /** Calendar code: XNYS, CMES or FX. */
  readonly name: string;
  /** IANA zone of the exchange, e.g. America/New_York. */
  readonly timezone: string;
  /** Sessions whose date label lies in [startDate, endDate], ascending. */
  sessionsInRange(startDate: string, endDate: string): Session[];
  /** The session labelled date, or undefined when the exchange is closed that day. */
  session(date: string): Session | undefined;
  /** True when the market trades at instant: open <= instant < close and not in a break. */
  isOpen(instant: number): boolean;
  /** The session containing instant (open <= instant < close, breaks included), if any. */
  sessionAt(instant: number): Session | undefined;
  /**
   * Partition date of an instant: the date of the session containing it; outside sessions, the
   * label of the trading day it belongs to by the exchange's day boundary (local midnight for
   * XNYS, 17:00 local for CME Globex and FX). Total: defined for every instant.
   */
  sessionDateOf(instant: number): string;
  /** First session strictly after date (date need not be a session). */
  nextSession(date: string): Session;
  /** Last session strictly before date (date need not be a session). */
  previousSession(date: string): Session;
  /**
   * Bar start instants of a session at a frequency: open, open+freq, … < close, minus the
   * starts that fall inside a break (no bar exists there). A bar starting before a break may
   * run into it; the grid stays anchored at the open.
   */
  expectedBarStarts(session: Session, frequencyMs: number): number[];
}
