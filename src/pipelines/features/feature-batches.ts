/**
 * How a feature run is cut into batches that fit a row budget (pure; the pipeline does the I/O).
 *
 * Dates are indices into the run's read dates (lookback sessions first, then the dates computed,
 * all consecutive stored sessions); symbols are indices 0..S-1 in the run's order.
 */

/** Where a day's history starts: the stored bars of one symbol before the day that its values read. */
export interface DayHistory {
  /** Bars of history used (at most the lookback asked for). */
  readonly rows: number;
  /** First date index the walk reached (the day itself when there is no history). */
  readonly fromDate: number;
}

/**
 * The history of day `day` for one symbol: walk back over the dates before it, newest first,
 * adding each date's rows, until `lookback` rows are reached, a date on which the symbol has no
 * row (its history starts after it) or `minDate`. Each day is computed from exactly this
 * history, whatever else the run covers, so a range and its days computed one by one read the
 * same bars for every value.
 */
export function dayHistory(day: number, lookback: number, rowsOn: (date: number) => number, minDate = 0): DayHistory {
  let acc = 0;
  let from = day;
  for (let j = day - 1; j >= minDate && acc < lookback; j--) {
    const r = rowsOn(j);
    if (r <= 0) break;
    acc += r;
    from = j;
  }
  return { rows: Math.min(acc, lookback), fromDate: from };
}

/** One read: symbols [symbolStart, symbolEnd) over dates [dateStart, targetEnd], computing targetStart..targetEnd. */
export interface FeatureBatch {
  readonly symbolStart: number;
  readonly symbolEnd: number;
  /** First date read (lookback of the first computed date). */
  readonly dateStart: number;
  readonly targetStart: number;
  /** Last date computed (inclusive). */
  readonly targetEnd: number;
  /** Rows the read returns. */
  readonly rows: number;
}

/** Consecutive computed dates whose outputs are written together, read in one or more symbol batches. */
export interface FeatureSegment {
  readonly targetStart: number;
  readonly targetEnd: number;
  readonly batches: readonly FeatureBatch[];
}

export interface BatchPlanInput {
  readonly symbols: number;
  readonly dates: number;
  /** Date indices >= firstTarget are computed; the ones before are lookback only. */
  readonly firstTarget: number;
  /** Rows of symbol s on date j. */
  rows(symbol: number, date: number): number;
  /** Bars of history a day needs (the group's lookback). */
  readonly lookback: number;
  /** Rows one read may return; a single symbol-day with its history is read even if larger. */
  readonly budgetRows: number;
}

/**
 * Cuts a run into segments of consecutive computed dates and, within each, symbol batches, so
 * that every read holds at most `budgetRows` rows (history included). Symbols are batched only
 * when one computed day of the whole universe with its history exceeds the budget; otherwise a
 * batch holds every symbol and as many days as fit, so each source file is read about once per
 * run (plus the lookback at each segment start) and the cost stays linear in sessions.
 */
export function planFeatureBatches(input: BatchPlanInput): FeatureSegment[] {
  const { symbols: S, dates: M, firstTarget, lookback } = input;
  const budget = Math.max(1, input.budgetRows);
  if (S === 0 || firstTarget >= M) return [];
  // Per symbol and computed day: the first date its history needs.
  const nTargets = M - firstTarget;
  const from = new Int32Array(S * nTargets);
  for (let s = 0; s < S; s++) {
    for (let a = firstTarget; a < M; a++) from[s * nTargets + (a - firstTarget)] = dayHistory(a, lookback, (j) => input.rows(s, j)).fromDate;
  }
  // Symbol groups: consecutive symbols that, read together from the earliest history any of
  // them needs, fit the budget for every computed day on its own.
  const groups: { start: number; end: number; from: Int32Array; dayRows: Float64Array }[] = [];
  const newGroup = (start: number): (typeof groups)[number] => ({ start, end: start, from: new Int32Array(nTargets).fill(M), dayRows: new Float64Array(M) });
  let cur = newGroup(0);
  const fits = (g: (typeof groups)[number], s: number): boolean => {
    for (let t = 0; t < nTargets; t++) {
      const a = firstTarget + t;
      let n = 0;
      for (let j = Math.min(g.from[t] as number, from[s * nTargets + t] as number); j <= a; j++) n += (g.dayRows[j] as number) + input.rows(s, j);
      if (n > budget) return false;
    }
    return true;
  };
  for (let s = 0; s < S; s++) {
    if (cur.end > cur.start && !fits(cur, s)) {
      groups.push(cur);
      cur = newGroup(s);
    }
    for (let j = 0; j < M; j++) cur.dayRows[j] = (cur.dayRows[j] as number) + input.rows(s, j);
    for (let t = 0; t < nTargets; t++) cur.from[t] = Math.min(cur.from[t] as number, from[s * nTargets + t] as number);
    cur.end = s + 1;
  }
  groups.push(cur);

  const groupFrom = (k: number, a: number): number => (groups[k] as (typeof groups)[number]).from[a - firstTarget] as number;
  // Per group, prefix sums of its rows by date: rows over [j0, j1] = prefix[j1 + 1] - prefix[j0].
  const prefix = groups.map((g) => {
    const p = new Float64Array(M + 1);
    for (let j = 0; j < M; j++) p[j + 1] = (p[j] as number) + (g.dayRows[j] as number);
    return p;
  });
  const groupRows = (k: number, j0: number, j1: number): number => ((prefix[k] as Float64Array)[j1 + 1] as number) - ((prefix[k] as Float64Array)[j0] as number);

  const segments: FeatureSegment[] = [];
  for (let a = firstTarget; a < M; ) {
    const starts = groups.map((_, k) => groupFrom(k, a));
    let b = a;
    // Extend while every group's read still fits (the history of later days lies inside it).
    while (b + 1 < M && groups.every((_, k) => groupRows(k, starts[k] as number, b + 1) <= budget)) b++;
    segments.push({
      targetStart: a,
      targetEnd: b,
      batches: groups.map((g, k) => ({ symbolStart: g.start, symbolEnd: g.end, dateStart: starts[k] as number, targetStart: a, targetEnd: b, rows: groupRows(k, starts[k] as number, b) })),
    });
    a = b + 1;
  }
  return segments;
}
