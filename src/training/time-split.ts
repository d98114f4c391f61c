import type { SplitSpec } from './training-config.js';

export const SPLIT_NAMES = ['train', 'validation', 'test'] as const;
export type SplitName = (typeof SPLIT_NAMES)[number];

/** What a row needs for its split to be decided (a LabelRow has all three). */
export interface SplitInputRow {
  readonly anchor_ts: number;
  readonly label_end_ts: number;
  readonly session_date: string;
}

export interface TimeSplitResult {
  /** Per input row, in input order: its split, or null when purged or embargoed. */
  readonly assignments: (SplitName | null)[];
  readonly counts: Record<SplitName | 'purged' | 'embargoed', number>;
  /** First anchor instant of validation / test (null when that split is empty). */
  readonly validation_start_ts: number | null;
  readonly test_start_ts: number | null;
}

/**
 * Where a time split cuts, as instants: everything {@link assignTimeSplits} needs besides a
 * row's own anchor and label end, so the same rule can run over any number of rows (in JS, or
 * in SQL with {@link timeSplitSql}).
 */
export interface TimeSplitPlan {
  /** Anchors before this instant are train (Infinity: all of them). */
  readonly validationFrom: number;
  /** Anchors from validationFrom up to before this instant are validation, the rest test. */
  readonly testFrom: number;
  /** First anchor instant of validation / test (null when that split is empty). */
  readonly validationStart: number | null;
  readonly testStart: number | null;
  /** Anchors of validation / test at or before these are embargoed (-Infinity: none). */
  readonly validationEmbargoUntil: number;
  readonly testEmbargoUntil: number;
}

/**
 * The plan for `anchors` (the distinct anchor instants, ascending). Date cutoffs need the first
 * anchor whose session date is on or after each date (`firstAnchorOnOrAfter`, null if none).
 * See {@link assignTimeSplits} for the rules.
 */
export function timeSplitPlan(anchors: ArrayLike<number>, split: SplitSpec, firstAnchorOnOrAfter: (date: string) => number | null): TimeSplitPlan {
  const n = anchors.length;
  let cutValidation: number;
  let cutTest: number;
  if (split.validation_start === undefined && split.test_start === undefined) {
    cutValidation = Math.round((split.train ?? 0) * n);
    cutTest = Math.max(cutValidation, Math.round(((split.train ?? 0) + (split.validation ?? 0)) * n));
    if (split.test === undefined || split.test === 0) cutTest = Math.max(cutTest, n);
  } else {
    const cutAt = (date: string | undefined): number => {
      if (date === undefined) return n;
      const first = firstAnchorOnOrAfter(date);
      return first === null ? n : lowerBound(anchors, first);
    };
    cutTest = cutAt(split.test_start);
    cutValidation = split.validation_start === undefined ? cutTest : Math.min(cutAt(split.validation_start), cutTest);
  }
  const at = (i: number): number => (i < n ? (anchors[i] as number) : Infinity);
  const embargo = split.embargo_bars;
  const embargoUntil = (cut: number): number => (cut > 0 && embargo > 0 && Math.min(cut + embargo, n) - 1 >= 0 ? at(Math.min(cut + embargo, n) - 1) : -Infinity);
  return {
    validationFrom: at(cutValidation),
    testFrom: at(cutTest),
    validationStart: cutValidation < n && cutValidation < cutTest ? at(cutValidation) : null,
    testStart: cutTest < n ? at(cutTest) : null,
    validationEmbargoUntil: embargoUntil(cutValidation),
    testEmbargoUntil: embargoUntil(cutTest),
  };
}

/** One row's outcome under a plan: its split, or why it has none. */
export function timeSplitOf(plan: TimeSplitPlan, anchor: number, labelEnd: number): SplitName | 'purged' | 'embargoed' {
  if (anchor < plan.validationFrom) {
    const next = plan.validationStart ?? plan.testStart;
    return next !== null && labelEnd > next ? 'purged' : 'train';
  }
  if (anchor < plan.testFrom) {
    if (anchor <= plan.validationEmbargoUntil) return 'embargoed';
    return plan.testStart !== null && labelEnd > plan.testStart ? 'purged' : 'validation';
  }
  return anchor <= plan.testEmbargoUntil ? 'embargoed' : 'test';
}

/** {@link timeSplitOf} as a SQL expression over the given anchor and label-end columns (epoch ms). */
export function timeSplitSql(plan: TimeSplitPlan, anchor: string, labelEnd: string): string {
  const num = (x: number | null): string => (x === null ? 'NULL' : x === Infinity ? "'infinity'::DOUBLE" : x === -Infinity ? "'-infinity'::DOUBLE" : String(x));
  const next = plan.validationStart ?? plan.testStart;
  return `CASE
    WHEN ${anchor} < ${num(plan.validationFrom)} THEN CASE WHEN ${next === null ? 'false' : `${labelEnd} > ${num(next)}`} THEN 'purged' ELSE 'train' END
    WHEN ${anchor} < ${num(plan.testFrom)} THEN CASE WHEN ${anchor} <= ${num(plan.validationEmbargoUntil)} THEN 'embargoed'
      WHEN ${plan.testStart === null ? 'false' : `${labelEnd} > ${num(plan.testStart)}`} THEN 'purged' ELSE 'validation' END
    ELSE CASE WHEN ${anchor} <= ${num(plan.testEmbargoUntil)} THEN 'embargoed' ELSE 'test' END END`;
}

/**
 * Splits rows by time into train → validation → test, with every symbol cut at the same
 * instants. Pure and deterministic (depends only on the rows' times, not their order).
 *
 * - Fractions cut the sorted distinct anchor instants: the first round(train·N) go to train,
 *   the next round((train+validation)·N) − round(train·N) to validation, the rest to test.
 * - Dates: a split starts at the first anchor whose session date is on or after its cutoff;
 *   without `validation_start` there is no validation split, without `test_start` no test split.
 * - Purge: a row whose label window ends after the next split's first anchor
 *   (`label_end_ts > boundary`) is dropped, so no training label overlaps what validation or
 *   test features can see.
 * - Embargo: the first `embargo_bars` distinct anchor instants after each boundary belong to no
 *   split (serial correlation in features). It counts labelled anchor instants, which equal grid
 *   bars except where labels were dropped (session ends, gaps).
 */
export function assignTimeSplits(rows: readonly SplitInputRow[], split: SplitSpec): TimeSplitResult {
  const anchors = [...new Set(rows.map((r) => r.anchor_ts))].sort((a, b) => a - b);
  const plan = timeSplitPlan(anchors, split, (date) => {
    let first = Infinity;
    for (const r of rows) if (r.session_date >= date && r.anchor_ts < first) first = r.anchor_ts;
    return first === Infinity ? null : first;
  });
  const counts = { train: 0, validation: 0, test: 0, purged: 0, embargoed: 0 };
  const assignments = rows.map((r): SplitName | null => {
    const outcome = timeSplitOf(plan, r.anchor_ts, r.label_end_ts);
    counts[outcome]++;
    return outcome === 'purged' || outcome === 'embargoed' ? null : outcome;
  });
  return { assignments, counts, validation_start_ts: plan.validationStart, test_start_ts: plan.testStart };
}

function lowerBound(sorted: ArrayLike<number>, x: number): number {
  let lo = 0;
  let hi = sorted.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if ((sorted[mid] as number) < x) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}
