import type { TradingCalendar } from '../calendar/trading-calendar.js';
import { inBreak } from '../calendar/trading-intervals.js';
import { CURATED_MASK_COLUMNS, frequencyMs, type CuratedValueColumn } from '../core/bars.js';
import type { CuratedBarRow } from '../storage/tables/curated-bars.js';
import { InputError } from '../core/errors.js';
import { linearKnownAt, runKnownAt } from './availability.js';
import type { GapsConfig, ImputationStrategy } from './dq-config.js';
import { withinCutoff, type InstrumentCutoff } from './intraday-cutoff.js';
import type { RuleOutcome } from './validator.js';

/**
 * GapEngine: puts each symbol's bars on its calendar's grid at the canonical frequency, marks
 * the missing bars and imputes them per column. The grid exists only inside sessions, so a gap
 * never spans a night, a weekend, a holiday or the time after an early close.
 *
 * Conventions (where the issue leaves a choice):
 * - Only missing bars are imputed. A NULL inside an observed bar (e.g. `wap` for MIDPOINT data)
 *   is the source's value and is kept; every `<col>_imputed` flag of an observed bar is false.
 * - `ffill` of open/high/low/close takes the previous close, so a missing bar is a flat candle
 *   (QuestDB's FILL(PREV(close))); `ffill` of wap/volume/trade_count takes that column's previous
 *   value. Previous means the last observed non-NULL value earlier in the same session.
 * - `linear` interpolates each column between the nearest observed values before and after the
 *   gap in the same session; a gap touching the session's start or end has no second anchor and
 *   stays NULL (pandas `limit_area='inside'`).
 * - A leading gap (first bars of a session) has no earlier value in the session: it stays NULL
 *   under ffill unless `leading: 'previous_session'` is chosen, which seeds it from the previous
 *   session's last observed values (from `seeds` for the first session of the call). The default
 *   keeps it NULL because the overnight move makes yesterday's close a poor stand-in for 09:30.
 * - A run of missing bars longer than `max_gap_bars` is not imputed in any column: every value
 *   stays NULL (`imputation = 'max_gap_exceeded'`) and the run is a DQ failure.
 * - Every row carries `available_ts`, when all its values were knowable (availability.ts): an
 *   observed bar at `ts + bar`; an imputed one no earlier than the bars its values were made
 *   from, including the bar a `linear` value interpolates towards and, when the run's length
 *   decides whether it is imputed at all, the bar that settles that length.
 */

/** An observed bar: the curated value columns before gap filling. */
export type ObservedBar = Pick<CuratedBarRow, 'symbol' | 'ts' | CuratedValueColumn>;

/** Last known values of a symbol before the first session of a call (seeds `leading: previous_session`). */
export type SeedValues = Partial<Record<CuratedValueColumn, number | null>>;

export interface FillGapsOptions {
  readonly config: Pick<GapsConfig, 'frequency' | 'imputation' | 'max_gap_bars'>;
  /** Calendar of a symbol. */
  readonly calendarFor: (symbol: string) => TradingCalendar;
  /** Symbols to build grids for; symbols present in the rows are added. */
  readonly symbols: readonly string[];
  /** Session dates (inclusive) whose grids are built. */
  readonly startDate: string;
  readonly endDate: string;
  /** Only bars complete at this instant (`ts + frequency <= asOf`) are expected; default whole sessions. */
  readonly asOf?: number;
  /**
   * Per symbol, how far its sessions are curated (intraday-cutoff.ts); symbols absent are cut by
   * `asOf` only. Rows after a symbol's cutoff are left for a later run (`incomplete`).
   */
  readonly cutoffs?: ReadonlyMap<string, InstrumentCutoff>;
  /** How a session's leading gap is filled under ffill; default `null` (stays NULL). */
  readonly leading?: 'null' | 'previous_session';
  readonly seeds?: ReadonlyMap<string, SeedValues>;
}

/** A run of missing bars longer than max_gap_bars. */
export interface OverLimitGap {
  /** First missing bar start. */
  readonly start: number;
  readonly bars: number;
}

/** What the grid of one symbol and session looked like. */
export interface GapReport {
  readonly symbol: string;
  readonly date: string;
  /** Grid bars (cut at asOf and the symbol's cutoff). */
  readonly expected: number;
  readonly observed: number;
  readonly missing: number;
  /** Missing bars where every column with a strategy other than `none` got a value. */
  readonly imputed: number;
  /** Missing bars where some column that should have been imputed stayed NULL (over-limit gap, no anchor). */
  readonly unfilled: number;
  /** Runs of consecutive missing bars. */
  readonly gaps: number;
  readonly longestGap: number;
  readonly overLimit: readonly OverLimitGap[];
}

/** An input row that is not on any grid slot. */
export interface OffGridRow {
  readonly index: number;
  readonly reason: string;
}

export interface GapFillResult {
  /** Every expected bar, sorted by symbol then ts. */
  readonly rows: CuratedBarRow[];
  readonly reports: GapReport[];
  /** Rows outside the sessions or off the frequency grid (callers quarantine these). */
  readonly offGrid: OffGridRow[];
  /** Indexes of rows whose bar was not complete at asOf (left for a later run). */
  readonly incomplete: number[];
}

const PRICE_COLUMNS: ReadonlySet<CuratedValueColumn> = new Set(['open', 'high', 'low', 'close']);

/** The strategy of every curated column, with the defaults documented in gapsConfigSchema. */
export function resolveImputation(imputation: GapsConfig['imputation']): Record<CuratedValueColumn, ImputationStrategy> {
  const close = imputation.close ?? 'none';
  const volume = imputation.volume ?? (close === 'ffill' ? 'zero' : 'none');
  return {
    open: imputation.open ?? close,
    high: imputation.high ?? close,
    low: imputation.low ?? close,
    close,
    volume,
    wap: imputation.wap ?? close,
    trade_count: imputation.trade_count ?? volume,
  };
}

function strategyName(s: ImputationStrategy): string {
  return typeof s === 'string' ? s : 'constant';
}

function compareSymbols(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function iso(ms: number): string {
  return new Date(ms).toISOString();
}

/** The column ffill reads its previous value from. */
function ffillSource(col: CuratedValueColumn): CuratedValueColumn {
  return PRICE_COLUMNS.has(col) ? 'close' : col;
}

interface Slot {
  readonly ts: number;
  readonly bar: ObservedBar | undefined;
}

/**
 * Imputes the missing slots of one session in place into `out`; returns that session's report.
 * `slots` is a prefix of the session's whole grid `fullGrid` (bar starts), cut where the run stops.
 */
function fillSession(
  symbol: string,
  date: string,
  slots: readonly Slot[],
  fullGrid: readonly number[],
  barMs: number,
  strategies: Record<CuratedValueColumn, ImputationStrategy>,
  maxGap: number,
  seed: SeedValues | undefined,
  out: CuratedBarRow[],
): GapReport {
  const n = slots.length;
  // Run length of the missing run each slot belongs to (0 for observed slots), and when that
  // length was settled (null: it decides nothing later).
  const runLen = new Array<number>(n).fill(0);
  const runKnown = new Array<number | null>(n).fill(null);
  const overLimit: OverLimitGap[] = [];
  let gaps = 0;
  let longestGap = 0;
  for (let i = 0; i < n; ) {
    if ((slots[i] as Slot).bar) {
      i++;
      continue;
    }
    let j = i;
    while (j < n && !(slots[j] as Slot).bar) j++;
    const len = j - i;
    const known = runKnownAt(i, j, fullGrid, n, barMs, maxGap);
    for (let k = i; k < j; k++) {
      runLen[k] = len;
      runKnown[k] = known;
    }
    gaps++;
    longestGap = Math.max(longestGap, len);
    if (len > maxGap) overLimit.push({ start: (slots[i] as Slot).ts, bars: len });
    i = j;
  }

  // Previous / next observed non-null value of each column, by slot.
  const prevVal = {} as Record<CuratedValueColumn, (number | null)[]>;
  const prevPos = {} as Record<CuratedValueColumn, number[]>;
  const nextPos = {} as Record<CuratedValueColumn, number[]>;
  for (const col of CURATED_MASK_COLUMNS) {
    const pv = new Array<number | null>(n);
    const pp = new Array<number>(n);
    let last: number | null = seed?.[col] ?? null;
    let lastPos = -1;
    for (let i = 0; i < n; i++) {
      pv[i] = last;
      pp[i] = lastPos;
      const v = (slots[i] as Slot).bar?.[col];
      if (v !== null && v !== undefined && Number.isFinite(v)) {
        last = v;
        lastPos = i;
      }
    }
    const np = new Array<number>(n);
    let nextP = -1;
    for (let i = n - 1; i >= 0; i--) {
      np[i] = nextP;
      const v = (slots[i] as Slot).bar?.[col];
      if (v !== null && v !== undefined && Number.isFinite(v)) nextP = i;
    }
    prevVal[col] = pv;
    prevPos[col] = pp;
    nextPos[col] = np;
  }

  let observed = 0;
  let imputed = 0;
  let unfilled = 0;
  for (let i = 0; i < n; i++) {
    const slot = slots[i] as Slot;
    if (slot.bar) {
      observed++;
      const b = slot.bar;
      out.push({
        symbol,
        ts: slot.ts,
        available_ts: slot.ts + barMs,
        open: b.open,
        high: b.high,
        low: b.low,
        close: b.close,
        volume: b.volume,
        wap: b.wap,
        trade_count: b.trade_count,
        is_imputed: false,
        imputation: null,
        open_imputed: false,
        high_imputed: false,
        low_imputed: false,
        close_imputed: false,
        volume_imputed: false,
        wap_imputed: false,
        trade_count_imputed: false,
      });
      continue;
    }
    const values = {} as Record<CuratedValueColumn, number | null>;
    const applied: string[] = [];
    let complete = true;
    const tooLong = (runLen[i] ?? 0) > maxGap;
    let available = Math.max(slot.ts + barMs, runKnown[i] ?? -Infinity);
    for (const col of CURATED_MASK_COLUMNS) {
      const s = strategies[col];
      let v: number | null = null;
      if (!tooLong) {
        if (s === 'zero') v = 0;
        else if (typeof s === 'object') v = s.constant;
        else if (s === 'ffill') v = (prevVal[ffillSource(col)] as (number | null)[])[i] ?? null;
        else if (s === 'linear') {
          const p = (prevPos[col] as number[])[i] ?? -1;
          const q = (nextPos[col] as number[])[i] ?? -1;
          if (p >= 0 && q >= 0) {
            const a = (slots[p] as Slot).bar?.[col] as number;
            const b = (slots[q] as Slot).bar?.[col] as number;
            v = a + ((b - a) * (i - p)) / (q - p);
            if (col === 'trade_count') v = Math.round(v);
          }
          // Without an earlier value the slot stays NULL whatever comes later; otherwise the
          // value (or its absence at the session's end) is settled by the next observed value.
          if (p >= 0) available = Math.max(available, linearKnownAt(q, fullGrid, barMs));
        }
      }
      values[col] = v;
      if (v !== null) {
        const name = strategyName(s);
        if (!applied.includes(name)) applied.push(name);
      } else if (s !== 'none') {
        complete = false;
      }
    }
    if (complete) imputed++;
    else unfilled++;
    out.push({
      symbol,
      ts: slot.ts,
      available_ts: available,
      ...values,
      is_imputed: true,
      imputation: tooLong ? 'max_gap_exceeded' : applied.length > 0 ? applied.join('+') : 'none',
      open_imputed: true,
      high_imputed: true,
      low_imputed: true,
      close_imputed: true,
      volume_imputed: true,
      wap_imputed: true,
      trade_count_imputed: true,
    });
  }
  return { symbol, date, expected: n, observed, missing: n - observed, imputed, unfilled, gaps, longestGap, overLimit };
}

/** Last observed non-null values of a session's slots (seed of the next session's leading gap). */
function lastValues(slots: readonly Slot[], previous: SeedValues | undefined): SeedValues {
  const out: SeedValues = { ...previous };
  for (const col of CURATED_MASK_COLUMNS) {
    for (let i = slots.length - 1; i >= 0; i--) {
      const v = (slots[i] as Slot).bar?.[col];
      if (v !== null && v !== undefined && Number.isFinite(v)) {
        out[col] = v;
        break;
      }
    }
  }
  return out;
}

/**
 * Builds every expected bar of every symbol's sessions in [startDate, endDate] and imputes
 * the missing ones. Input rows must be unique per (symbol, ts); their order does not matter.
 * Rows off the grid are returned in `offGrid`, rows of bars not yet complete at `asOf` in
 * `incomplete`; neither appears in the output. Pure and deterministic.
 */
export function fillGaps(rows: readonly ObservedBar[], opts: FillGapsOptions): GapFillResult {
  const freq = frequencyMs(opts.config.frequency);
  const strategies = resolveImputation(opts.config.imputation);
  const asOf = opts.asOf;
  const now = asOf ?? Number.POSITIVE_INFINITY;
  const bySymbol = new Map<string, Map<number, number>>();
  rows.forEach((r, index) => {
    let m = bySymbol.get(r.symbol);
    if (!m) bySymbol.set(r.symbol, (m = new Map()));
    if (m.has(r.ts)) throw new InputError(`fillGaps: duplicate bar ${r.symbol} ${iso(r.ts)} (rows ${m.get(r.ts)} and ${index}); dedup first`);
    m.set(r.ts, index);
  });
  const symbols = [...new Set([...opts.symbols, ...bySymbol.keys()])].sort(compareSymbols);

  const out: CuratedBarRow[] = [];
  const reports: GapReport[] = [];
  const offGrid: OffGridRow[] = [];
  const incomplete: number[] = [];
  for (const symbol of symbols) {
    const cal = opts.calendarFor(symbol);
    const observed = bySymbol.get(symbol) ?? new Map<number, number>();
    const used = new Set<number>();
    const cutoff = opts.cutoffs?.get(symbol);
    const curated = (t: number): boolean => (cutoff ? withinCutoff(cutoff, t, freq, now) : t + freq <= now);
    let seed = opts.leading === 'previous_session' ? opts.seeds?.get(symbol) : undefined;
    for (const session of cal.sessionsInRange(opts.startDate, opts.endDate)) {
      const fullGrid = cal.expectedBarStarts(session, freq);
      const grid = fullGrid.filter(curated);
      const slots: Slot[] = grid.map((ts) => {
        const idx = observed.get(ts);
        if (idx !== undefined) used.add(ts);
        return { ts, bar: idx === undefined ? undefined : rows[idx] };
      });
      if (slots.length > 0) {
        reports.push(fillSession(symbol, session.date, slots, fullGrid, freq, strategies, opts.config.max_gap_bars, seed, out));
      }
      if (opts.leading === 'previous_session') seed = lastValues(slots, seed);
    }
    for (const [ts, index] of observed) {
      if (used.has(ts)) continue;
      const session = cal.sessionAt(ts);
      const inRange = session !== undefined && session.date >= opts.startDate && session.date <= opts.endDate;
      if (inRange && (ts + freq > now || (cutoff !== undefined && !cutoff.final && (cutoff.lastBarStart === null || ts > cutoff.lastBarStart)))) incomplete.push(index);
      else if (!inRange) offGrid.push({ index, reason: `${iso(ts)} is outside the ${cal.name} sessions ${opts.startDate}..${opts.endDate}` });
      else if (inBreak(session, ts)) offGrid.push({ index, reason: `${iso(ts)} falls in a trading break of ${cal.name} session ${session.date}` });
      else offGrid.push({ index, reason: `${iso(ts)} is not on the ${opts.config.frequency} grid of session ${session.date}` });
    }
  }
  offGrid.sort((a, b) => a.index - b.index);
  incomplete.sort((a, b) => a - b);
  return { rows: out, reports, offGrid, incomplete };
}

/** Over-limit gaps as the outcome of a DQ rule named `max_gap_bars`, judged as configured. */
export function overLimitOutcome(reports: readonly GapReport[], config: Pick<GapsConfig, 'max_gap_bars' | 'over_limit' | 'frequency'>): RuleOutcome {
  return {
    name: 'max_gap_bars',
    type: 'gap',
    severity: config.over_limit.severity,
    action: config.over_limit.action,
    failures: reports.flatMap((r) =>
      r.overLimit.map((g) => ({
        row: null,
        entity: r.symbol,
        reason: `${r.date}: ${g.bars} missing ${config.frequency} bars from ${iso(g.start)} exceed max_gap_bars ${config.max_gap_bars}; left NULL`,
      })),
    ),
  };
}
