import type { Session } from '../../calendar/trading-calendar.js';
import { tradingLengthMs } from '../../calendar/trading-intervals.js';
import { addDays, parseDateLabel } from '../../core/dates.js';

/**
 * The arithmetic behind the coverage heatmap and the gap report, free of I/O so it can be
 * checked by hand: which columns the heatmap has, what a cell's ratio and state are, where the
 * missing runs of a session lie.
 */

/** Stored curated rows of one (symbol, session date), aggregated. */
export interface CuratedAggregate {
  /** Rows in the curated file (observed + imputed + unfilled). */
  readonly rows: number;
  /** Rows that came from an observed bar (`NOT is_imputed`). */
  readonly observed: number;
  /** Rows filled in by the gap engine (`is_imputed`), whether a value was imputed or not. */
  readonly imputed: number;
  /** Imputed rows left without a close (over-limit gap, leading gap without an anchor). */
  readonly unfilled: number;
}

/**
 * - `closed`: the instrument's exchange has no session that date (weekend, holiday, closure);
 * - `future`: the session has no complete bar yet;
 * - `complete`: every expected bar so far was observed;
 * - `gap`: some expected bar was not observed (imputed, unfilled or absent);
 * - `untransformed`: a session with expected bars but no curated partition for the date at all.
 */
export type CellState = 'closed' | 'future' | 'complete' | 'gap' | 'untransformed';

export interface CoverageCell {
  readonly symbol: string;
  readonly date: string;
  readonly state: CellState;
  /** Bars the calendar expects, counting only bars complete at `now`. */
  readonly expected: number;
  readonly observed: number;
  readonly imputed: number;
  readonly unfilled: number;
  readonly quarantined: number;
  /** observed / expected, capped at 1; null when nothing is expected (closed, future). */
  readonly ratio: number | null;
  /** Session trading shorter than the calendar's regular one (early close or late open). */
  readonly short: boolean;
  readonly session: Session | null;
}

/** Weekday (0 = Sunday) of a YYYY-MM-DD label. */
function weekday(date: string): number {
  return new Date(parseDateLabel(date)).getUTCDay();
}

/**
 * Columns of the heatmap: every weekday in [start, end] plus any session date of any calendar
 * in that range, ascending. Weekdays are kept even when no exchange trades, so a holiday shows
 * as a closed column instead of silently vanishing.
 */
export function heatmapDates(start: string, end: string, sessionDates: Iterable<string>): string[] {
  const out = new Set<string>();
  if (start > end) return [];
  for (let d = start; d <= end; d = addDays(d, 1)) {
    const w = weekday(d);
    if (w !== 0 && w !== 6) out.add(d);
  }
  for (const d of sessionDates) if (d >= start && d <= end) out.add(d);
  return [...out].sort();
}

/** The date `count - 1` weekdays before `end` (so [result, end] holds `count` weekdays when end is one). */
export function weekdaysBack(end: string, count: number): string {
  let d = end;
  let seen = weekday(d) !== 0 && weekday(d) !== 6 ? 1 : 0;
  while (seen < count) {
    d = addDays(d, -1);
    const w = weekday(d);
    if (w !== 0 && w !== 6) seen++;
  }
  return d;
}

/**
 * The regular session length of a calendar: the most common trading length (open to close
 * less breaks, so 23 h for CME Globex) among `sessions` (the longest on a tie). Early closes
 * are rare, so the mode is the regular length even in a holiday-heavy window.
 */
export function regularSessionLength(sessions: readonly Session[]): number {
  const counts = new Map<number, number>();
  for (const s of sessions) {
    const len = tradingLengthMs(s);
    counts.set(len, (counts.get(len) ?? 0) + 1);
  }
  let best = 0;
  let bestCount = 0;
  for (const [len, n] of counts) {
    if (n > bestCount || (n === bestCount && len > best)) {
      best = len;
      bestCount = n;
    }
  }
  return best;
}

/**
 * Bars of a session complete at `now`: grid starts `open + k·freq < close` outside the
 * session's breaks with `start + freq <= now` (what `expectedBarStarts(...).filter(t + freq <=
 * now)` counts, without building the array for every cell of the heatmap).
 */
export function expectedBarsAt(session: Session, freqMs: number, now: number): number {
  const total = Math.ceil((session.close - session.open) / freqMs);
  const done = Math.max(0, Math.min(total, Math.floor((now - session.open) / freqMs)));
  let n = done;
  for (const b of session.breaks ?? []) {
    // Grid indices k with open + k·freq in [b.start, b.end), among the first `done`.
    const first = Math.max(0, Math.ceil((b.start - session.open) / freqMs));
    const end = Math.min(done, Math.ceil((b.end - session.open) / freqMs));
    if (end > first) n -= end - first;
  }
  return n;
}

/** observed / expected capped at 1; null when nothing is expected. */
export function coverageRatio(observed: number, expected: number): number | null {
  if (expected <= 0) return null;
  return Math.min(1, observed / expected);
}

/** Colour bucket of a ratio: 5 complete, 4 ≥ 99 %, 3 ≥ 95 %, 2 ≥ 80 %, 1 > 0, 0 nothing. */
export function ratioBucket(ratio: number): 0 | 1 | 2 | 3 | 4 | 5 {
  if (ratio >= 1) return 5;
  if (ratio >= 0.99) return 4;
  if (ratio >= 0.95) return 3;
  if (ratio >= 0.8) return 2;
  if (ratio > 0) return 1;
  return 0;
}

/** One cell from the calendar's answer and the stored aggregates. */
export function coverageCell(input: {
  symbol: string;
  date: string;
  session: Session | undefined;
  regularLengthMs: number;
  freqMs: number;
  now: number;
  /** Aggregate of the symbol's rows in the date's curated file (undefined: no rows for it). */
  curated: CuratedAggregate | undefined;
  /** Whether the date's curated file exists at all. */
  curatedPartition: boolean;
  quarantined: number;
}): CoverageCell {
  // Called once per cell of a 500 x 60 heatmap: one object, no spreads.
  const { symbol, date, session, curated } = input;
  const observed = curated?.observed ?? 0;
  const imputed = curated?.imputed ?? 0;
  const unfilled = curated?.unfilled ?? 0;
  const quarantined = input.quarantined;
  if (!session) return { symbol, date, state: 'closed', expected: 0, observed, imputed, unfilled, quarantined, ratio: null, short: false, session: null };
  const short = input.regularLengthMs > 0 && tradingLengthMs(session) < input.regularLengthMs;
  const expected = expectedBarsAt(session, input.freqMs, input.now);
  if (expected === 0) return { symbol, date, state: 'future', expected, observed, imputed, unfilled, quarantined, ratio: null, short, session };
  const ratio = observed >= expected ? 1 : observed / expected;
  const state: CellState = !input.curatedPartition ? 'untransformed' : ratio >= 1 ? 'complete' : 'gap';
  return { symbol, date, state, expected, observed, imputed, unfilled, quarantined, ratio, short, session };
}

/** A run of consecutive expected bars that were not observed. */
export interface MissingRun {
  /** First missing bar start (epoch ms). */
  readonly start: number;
  /** Last missing bar start (epoch ms). */
  readonly last: number;
  readonly bars: number;
  /** How the curated rows of the run were filled: imputation names, `absent` where no row is stored. */
  readonly filledBy: readonly string[];
}

/** What the curated file says about one grid slot. */
export interface StoredSlot {
  readonly imputed: boolean;
  readonly imputation: string | null;
}

/**
 * Runs of expected bar starts (ascending) that have no observed curated row: either an
 * imputed row or no row at all. Consecutive means adjacent on the grid, not `freq` apart, so
 * a run never spans a session break.
 */
export function missingRuns(expectedStarts: readonly number[], stored: ReadonlyMap<number, StoredSlot>): MissingRun[] {
  const runs: MissingRun[] = [];
  let i = 0;
  while (i < expectedStarts.length) {
    const t = expectedStarts[i] as number;
    const slot = stored.get(t);
    if (slot && !slot.imputed) {
      i++;
      continue;
    }
    const how = new Set<string>();
    let j = i;
    for (; j < expectedStarts.length; j++) {
      const s = stored.get(expectedStarts[j] as number);
      if (s && !s.imputed) break;
      how.add(s ? (s.imputation ?? 'imputed') : 'absent');
    }
    runs.push({ start: t, last: expectedStarts[j - 1] as number, bars: j - i, filledBy: [...how].sort() });
    i = j;
  }
  return runs;
}
