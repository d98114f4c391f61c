import type { Session } from '../calendar/trading-calendar.js';

/**
 * How far a transform may curate an instrument's session (the intraday cutoff at the data).
 *
 * A live bar reaches the raw store only once it is final and flushed, so "every bar complete by
 * the clock" includes bars still on their way: imputing them would publish placeholders that the
 * real bars revise moments later. So until the session is over, an instrument is curated only up
 * to its newest committed raw bar (any version, valid or not): a bar missing before it is a real
 * gap, the bars after it are not judged yet. Once the clock passes the session's close plus
 * `gaps.final_grace`, the run is the session's final transform and curates the whole grid (bars
 * that never came are gaps then).
 */
export interface InstrumentCutoff {
  /** True when this is the session's final transform (whole grid). */
  readonly final: boolean;
  /**
   * Newest bar start curated (grid bars after it are left for a later run); null when nothing is
   * curated yet (no raw rows). Irrelevant when `final`. Bars must also be complete at the clock.
   */
  readonly lastBarStart: number | null;
}

/** True once the clock has passed the session's close plus the final grace. */
export function isFinalRun(session: Pick<Session, 'close'>, now: number, finalGraceMs: number): boolean {
  return now >= session.close + finalGraceMs;
}

/**
 * The cutoff of one instrument's session. `newestRawTs`: the newest `ts` among its committed raw
 * rows of the session (undefined when none).
 */
export function instrumentCutoff(session: Pick<Session, 'close'>, now: number, finalGraceMs: number, newestRawTs: number | undefined): InstrumentCutoff {
  if (isFinalRun(session, now, finalGraceMs)) return { final: true, lastBarStart: null };
  return { final: false, lastBarStart: newestRawTs ?? null };
}

/** Whether a grid bar starting at `ts` (length `barMs`) is curated under `cutoff` at `now`. */
export function withinCutoff(cutoff: InstrumentCutoff, ts: number, barMs: number, now: number): boolean {
  if (ts + barMs > now) return false;
  return cutoff.final || (cutoff.lastBarStart !== null && ts <= cutoff.lastBarStart);
}

/**
 * The cutoff of every instrument of one session date, the one place a transform decides how far
 * each instrument is curated: `sessions` holds each instrument's session that date,
 * `newestRawTs` the newest committed raw bar start per instrument (any version, valid or not).
 */
export function instrumentCutoffs(
  sessions: ReadonlyMap<string, Pick<Session, 'close'>>,
  now: number,
  finalGraceMs: number,
  newestRawTs: ReadonlyMap<string, number>,
): Map<string, InstrumentCutoff> {
  const out = new Map<string, InstrumentCutoff>();
  for (const [symbol, session] of sessions) out.set(symbol, instrumentCutoff(session, now, finalGraceMs, newestRawTs.get(symbol)));
  return out;
}
