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
  const n = anchors.length;
  let cutValidation: number;
  let cutTest: number;
  if (split.validation_start === undefined && split.test_start === undefined) {
    cutValidation = Math.round((split.train ?? 0) * n);
    cutTest = Math.max(cutValidation, Math.round(((split.train ?? 0) + (split.validation ?? 0)) * n));
    if (split.test === undefined || split.test === 0) cutTest = Math.max(cutTest, n);
  } else {
    const firstAnchorFrom = (date: string | undefined): number => {
      if (date === undefined) return n;
      let first = Infinity;
      for (const r of rows) if (r.session_date >= date && r.anchor_ts < first) first = r.anchor_ts;
      return first === Infinity ? n : lowerBound(anchors, first);
    };
    cutTest = firstAnchorFrom(split.test_start);
    cutValidation = split.validation_start === undefined ? cutTest : Math.min(firstAnchorFrom(split.validation_start), cutTest);
  }
  const boundaryValidation = cutValidation < n && cutValidation < cutTest ? (anchors[cutValidation] as number) : null;
  const boundaryTest = cutTest < n ? (anchors[cutTest] as number) : null;
  const embargo = split.embargo_bars;
  const embargoEnd = (cut: number): number => (anchors[Math.min(cut + embargo, n) - 1] as number | undefined) ?? -Infinity;

  const counts = { train: 0, validation: 0, test: 0, purged: 0, embargoed: 0 };
  const assignments = rows.map((r): SplitName | null => {
    const i = lowerBound(anchors, r.anchor_ts);
    let name: SplitName;
    let boundaryAfter: number | null;
    let boundaryBefore: number | null;
    if (i < cutValidation) {
      name = 'train';
      boundaryBefore = null;
      boundaryAfter = boundaryValidation ?? boundaryTest;
    } else if (i < cutTest) {
      name = 'validation';
      boundaryBefore = cutValidation;
      boundaryAfter = boundaryTest;
    } else {
      name = 'test';
      boundaryBefore = cutTest;
      boundaryAfter = null;
    }
    if (boundaryBefore !== null && boundaryBefore > 0 && embargo > 0 && r.anchor_ts <= embargoEnd(boundaryBefore)) {
      counts.embargoed++;
      return null;
    }
    if (boundaryAfter !== null && r.label_end_ts > boundaryAfter) {
      counts.purged++;
      return null;
    }
    counts[name]++;
    return name;
  });
  return { assignments, counts, validation_start_ts: boundaryValidation, test_start_ts: boundaryTest };
}

function lowerBound(sorted: readonly number[], x: number): number {
  let lo = 0;
  let hi = sorted.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if ((sorted[mid] as number) < x) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}
