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
  /** True when instant lies inside a session: open <= instant < close. */
  isOpen(instant: number): boolean;
  /** The session containing instant, if any. */
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
  /** Bar start instants of a session at a frequency: open, open+freq, … < close. */
  expectedBarStarts(session: Session, frequencyMs: number): number[];
}
