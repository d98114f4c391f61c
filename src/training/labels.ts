import type { CuratedBarRow } from '../storage/tables/curated-bars.js';
import { InputError } from '../core/errors.js';
import type { LabelSpec } from './training-config.js';

/**
 * One bar of one symbol's curated series, as the label functions need it: the curated row's
 * `ts` (bar start), `close`, `is_imputed` and `available_ts` (default `ts + bar_ms`), plus the
 * session date the bar belongs to (the curated partition `date`).
 */
export interface LabelInputBar {
  readonly ts: number;
  readonly close: number | null;
  readonly is_imputed: boolean;
  readonly session_date: string;
  /** When the bar's values were knowable; later than `ts + bar_ms` for a value imputed from later bars. */
  readonly available_ts?: number;
}

/**
 * One label row, anchored on bar t (the row the features are joined to).
 *
 * - `anchor_ts = ts + bar_ms`: when bar t was complete, so features stamped on it are available
 *   exactly then; the builder joins features with `available_ts <= anchor_ts`.
 * - `label_end_ts = ts(t+h) + bar_ms`: when the last bar the label reads became available.
 *   Always `anchor_ts < label_end_ts`; the label reads bar t's close (known at the anchor) and
 *   bars t+1 … t+h, nothing else.
 */
export interface LabelRow {
  readonly ts: number;
  readonly session_date: string;
  readonly anchor_ts: number;
  readonly label_end_ts: number;
  readonly label: number;
  /** True when a bar in the window (t … t+h) was imputed; only ever true under policy `flag`. */
  readonly label_imputed: boolean;
}

/**
 * Why an anchor produced no label.
 * - `end_of_series`: fewer than h bars follow the anchor in the input;
 * - `session_end`: the window leaves the anchor's session and `across_sessions` is false;
 * - `grid_gap`: bars inside one session are not `bar_ms` apart (rows missing from the grid), so
 *   "h bars ahead" would mean a different horizon;
 * - `imputed`: the window touches an imputed bar and the policy is `drop`;
 * - `unavailable`: a bar in the window has a value that was not knowable by the window's end
 *   (`available_ts > label_end_ts`: imputed from bars after the window, e.g. `linear`), so the
 *   label would change with data that arrived after it ended;
 * - `missing_value`: a close in the window is NULL (an over-long gap left unfilled);
 * - `invalid_price`: a close the formula divides by or takes the log of is <= 0.
 */
export const LABEL_DROP_REASONS = ['end_of_series', 'session_end', 'grid_gap', 'imputed', 'unavailable', 'missing_value', 'invalid_price'] as const;
export type LabelDropReason = (typeof LABEL_DROP_REASONS)[number];

export interface LabelResult {
  readonly rows: LabelRow[];
  /** Anchors that produced no row, by reason (each anchor counted once, under its first reason in list order). */
  readonly dropped: Record<LabelDropReason, number>;
}

/** Simple return from c0 to c1: c1 / c0 - 1. */
export function simpleReturn(c0: number, c1: number): number {
  return c1 / c0 - 1;
}

/** Log return from c0 to c1: ln(c1 / c0). */
export function logReturn(c0: number, c1: number): number {
  return Math.log(c1 / c0);
}

/** Three-class direction of a simple return: 1 above +threshold, -1 below -threshold, else 0. */
export function directionClass(ret: number, threshold = 0): -1 | 0 | 1 {
  if (ret > threshold) return 1;
  if (ret < -threshold) return -1;
  return 0;
}

/**
 * Realised volatility of a close path c0 … ch: sqrt(Σ ln(c_i / c_{i-1})²), i = 1 … h. Not
 * annualised, not demeaned (the standard realised-variance definition; over a few bars the
 * mean return is noise, and it keeps h = 1 defined).
 */
export function realisedVolatility(closes: readonly number[]): number {
  let sum = 0;
  for (let i = 1; i < closes.length; i++) {
    const r = Math.log((closes[i] as number) / (closes[i - 1] as number));
    sum += r * r;
  }
  return Math.sqrt(sum);
}

function emptyDropCounts(): Record<LabelDropReason, number> {
  return Object.fromEntries(LABEL_DROP_REASONS.map((r) => [r, 0])) as Record<LabelDropReason, number>;
}

/**
 * Computes one label for every anchor bar of one symbol's series. `bars` must be in strictly
 * ascending `ts` order and should extend past the last anchor wanted (by h bars, or into the
 * next session when `across_sessions`) — anchors without enough future are dropped, never
 * labelled from partial windows. Pure: no I/O, no clock; the same input gives the same rows.
 *
 * The window of anchor t is bars t … t+h. Bar t contributes only its close (the reference
 * price, known at the anchor); everything else comes from bars after t. Imputed bars anywhere
 * in the window (including t, whose close is the base of every formula) trigger the policy.
 * A label is made only from values available by the window's end (`label_end_ts`), so a label
 * whose window ends by T never changes when only bars at or after T change.
 */
export function computeLabels(bars: readonly LabelInputBar[], spec: LabelSpec, barMs: number): LabelResult {
  if (!(Number.isInteger(barMs) && barMs > 0)) throw new RangeError(`bar_ms must be a positive integer, got ${barMs}`);
  const h = spec.horizon_bars;
  if (!(Number.isInteger(h) && h >= 1)) throw new RangeError(`horizon_bars must be a positive integer, got ${h}`);
  const n = bars.length;
  for (let i = 1; i < n; i++) {
    const prev = bars[i - 1] as LabelInputBar;
    const cur = bars[i] as LabelInputBar;
    if (!(cur.ts > prev.ts)) {
      throw new InputError(`label input not in strictly ascending ts order at index ${i} (${cur.ts} after ${prev.ts})`, {
        details: { index: i, ts: cur.ts, previous_ts: prev.ts },
      });
    }
    if (cur.session_date < prev.session_date) {
      throw new InputError(`label input session dates go backwards at index ${i} (${cur.session_date} after ${prev.session_date})`, {
        details: { index: i, session_date: cur.session_date },
      });
    }
  }

  // Prefix sums turn every per-window check into O(1): imputed bars, NULL closes, non-positive
  // closes, session changes and in-session grid breaks between consecutive bars.
  const imputed = new Int32Array(n + 1);
  const missing = new Int32Array(n + 1);
  const nonPositive = new Int32Array(n + 1);
  const sessionBreak = new Int32Array(n + 1); // counts i with session(i) != session(i-1), at i
  const availableMax = windowMaxAvailability(bars, h, barMs); // at t: the latest availability over bars t … t+h
  const gridBreak = new Int32Array(n + 1); // counts i in the same session as i-1 but not bar_ms after it
  for (let i = 0; i < n; i++) {
    const b = bars[i] as LabelInputBar;
    imputed[i + 1] = (imputed[i] as number) + (b.is_imputed ? 1 : 0);
    missing[i + 1] = (missing[i] as number) + (b.close === null || !Number.isFinite(b.close) ? 1 : 0);
    nonPositive[i + 1] = (nonPositive[i] as number) + (b.close !== null && b.close <= 0 ? 1 : 0);
    const prev = i > 0 ? (bars[i - 1] as LabelInputBar) : undefined;
    const newSession = prev !== undefined && prev.session_date !== b.session_date;
    const badStep = prev !== undefined && !newSession && b.ts - prev.ts !== barMs;
    sessionBreak[i + 1] = (sessionBreak[i] as number) + (newSession ? 1 : 0);
    gridBreak[i + 1] = (gridBreak[i] as number) + (badStep ? 1 : 0);
  }
  // Count over bars [a, b] inclusive.
  const over = (p: Int32Array, a: number, b: number): number => (p[b + 1] as number) - (p[a] as number);
  // Count of transitions between consecutive bars inside [a, b] (transition at i means between i-1 and i).
  const between = (p: Int32Array, a: number, b: number): number => (p[b + 1] as number) - (p[a + 1] as number);

  const rows: LabelRow[] = [];
  const dropped = emptyDropCounts();
  const threshold = spec.threshold ?? 0;
  for (let t = 0; t < n; t++) {
    const e = t + h;
    if (e >= n) {
      dropped.end_of_series++;
      continue;
    }
    if (!spec.across_sessions && between(sessionBreak, t, e) > 0) {
      dropped.session_end++;
      continue;
    }
    if (between(gridBreak, t, e) > 0) {
      dropped.grid_gap++;
      continue;
    }
    const touchesImputed = over(imputed, t, e) > 0;
    if (touchesImputed && spec.imputed_policy === 'drop') {
      dropped.imputed++;
      continue;
    }
    if ((availableMax[t] as number) > (bars[e] as LabelInputBar).ts + barMs) {
      dropped.unavailable++;
      continue;
    }
    if (over(missing, t, e) > 0) {
      dropped.missing_value++;
      continue;
    }
    // Every formula divides by (or logs) closes in the window; forward returns only need c_t > 0,
    // but a non-positive close anywhere makes log and volatility labels meaningless too.
    const needAllPositive = spec.kind === 'forward_log_return' || spec.kind === 'forward_volatility';
    const c0 = (bars[t] as LabelInputBar).close as number;
    if (needAllPositive ? over(nonPositive, t, e) > 0 : c0 <= 0) {
      dropped.invalid_price++;
      continue;
    }
    const ce = (bars[e] as LabelInputBar).close as number;
    let label: number;
    switch (spec.kind) {
      case 'forward_return':
        label = simpleReturn(c0, ce);
        break;
      case 'forward_log_return':
        label = logReturn(c0, ce);
        break;
      case 'direction':
        label = directionClass(simpleReturn(c0, ce), threshold);
        break;
      case 'forward_volatility': {
        const path: number[] = [];
        for (let i = t; i <= e; i++) path.push((bars[i] as LabelInputBar).close as number);
        label = realisedVolatility(path);
        break;
      }
    }
    const anchor = bars[t] as LabelInputBar;
    rows.push({
      ts: anchor.ts,
      session_date: anchor.session_date,
      anchor_ts: anchor.ts + barMs,
      label_end_ts: (bars[e] as LabelInputBar).ts + barMs,
      label,
      label_imputed: touchesImputed,
    });
  }
  return { rows, dropped };
}

/** For each t, the largest availability (`available_ts`, default `ts + bar`) over bars t … t+h (sliding-window maximum). */
function windowMaxAvailability(bars: readonly LabelInputBar[], h: number, barMs: number): Float64Array {
  const n = bars.length;
  const av = (i: number): number => {
    const b = bars[i] as LabelInputBar;
    return b.available_ts ?? b.ts + barMs;
  };
  const out = new Float64Array(n).fill(Number.NaN);
  const deque: number[] = [];
  let head = 0;
  for (let j = 0; j < n; j++) {
    while (deque.length > head && av(deque[deque.length - 1] as number) <= av(j)) deque.pop();
    deque.push(j);
    const t = j - h;
    if (t < 0) continue;
    while ((deque[head] as number) < t) head++;
    out[t] = av(deque[head] as number);
  }
  return out;
}

/**
 * How many sessions after the last anchor session a reader must load so the last anchors can
 * be labelled: 0 within sessions; across sessions, enough that h bars exist even if every
 * following session is as short as `minBarsPerSession` (e.g. an early close).
 */
export function sessionsAfterEndNeeded(spec: Pick<LabelSpec, 'horizon_bars' | 'across_sessions'>, minBarsPerSession: number): number {
  if (!spec.across_sessions) return 0;
  if (!(minBarsPerSession >= 1)) throw new RangeError(`minBarsPerSession must be >= 1, got ${minBarsPerSession}`);
  return Math.ceil(spec.horizon_bars / minBarsPerSession);
}

/** Curated rows (with their partition date) to label input, in the order given. */
export function labelInputFromCurated(rows: readonly (Pick<CuratedBarRow, 'ts' | 'close' | 'is_imputed'> & Partial<Pick<CuratedBarRow, 'available_ts'>> & { date: string })[]): LabelInputBar[] {
  return rows.map((r) => ({ ts: r.ts, close: r.close, is_imputed: r.is_imputed, session_date: r.date, ...(r.available_ts !== undefined ? { available_ts: r.available_ts } : {}) }));
}
