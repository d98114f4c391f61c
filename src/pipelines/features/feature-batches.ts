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
  // Per symbol and computed day: the first date its history needs, and rows from there to the day.
  const nTargets = M - firstTarget;
  const from = new Int32Array(S * nTargets);
  let widest = new Float64Array(S);
  for (let s = 0; s < S; s++) {
    for (let a = firstTarget; a < M; a++) {
      const h = dayHistory(a, lookback, (j) => input.rows(s, j));
      from[s * nTargets + (a - firstTarget)] = h.fromDate;
      let w = 0;
      for (let j = h.fromDate; j <= a; j++) w += input.rows(s, j);
      widest[s] = Math.max(widest[s] as number, w);
    }
  }
  // Symbol groups: consecutive symbols whose widest single-day reads fit the budget together.
  const groups: [number, number][] = [];
  for (let s = 0, acc = 0, start = 0; s < S; s++) {
    const w = widest[s] as number;
    if (s > start && acc + w > budget) {
      groups.push([start, s]);
      start = s;
      acc = 0;
    }
    acc += w;
    if (s === S - 1) groups.push([start, S]);
  }
  widest = new Float64Array(0);

  const groupFrom = (g: [number, number], a: number): number => {
    let min = a;
    for (let s = g[0]; s < g[1]; s++) min = Math.min(min, from[s * nTargets + (a - firstTarget)] as number);
    return min;
  };
  // Per group, prefix sums of its rows by date: rows over [j0, j1] = prefix[j1 + 1] - prefix[j0].
  const prefix = groups.map((g) => {
    const p = new Float64Array(M + 1);
    for (let j = 0; j < M; j++) {
      let n = 0;
      for (let s = g[0]; s < g[1]; s++) n += input.rows(s, j);
      p[j + 1] = (p[j] as number) + n;
    }
    return p;
  });
  const groupRows = (k: number, j0: number, j1: number): number => ((prefix[k] as Float64Array)[j1 + 1] as number) - ((prefix[k] as Float64Array)[j0] as number);

  const segments: FeatureSegment[] = [];
  for (let a = firstTarget; a < M; ) {
    const starts = groups.map((g) => groupFrom(g, a));
    let b = a;
    // Extend while every group's read still fits (the history of later days lies inside it).
    while (b + 1 < M && groups.every((_, k) => groupRows(k, starts[k] as number, b + 1) <= budget)) b++;
    segments.push({
      targetStart: a,
      targetEnd: b,
      batches: groups.map((g, k) => ({ symbolStart: g[0], symbolEnd: g[1], dateStart: starts[k] as number, targetStart: a, targetEnd: b, rows: groupRows(k, starts[k] as number, b) })),
    });
    a = b + 1;
  }
  return segments;
}
