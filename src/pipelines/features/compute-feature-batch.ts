import { InputError } from '../../core/errors.js';
import { runningAvailability } from '../../data-quality/availability.js';
import { computeFeatureGroup, type ComputableFeatureGroup, type FeatureSeries } from './compute-feature-group.js';
import { loadCustomFeatures } from './custom-feature.js';
import { dayHistory } from './feature-batches.js';
import { specOutputColumns } from './feature-config.js';
import { DEFAULT_LOOKBACK_TOLERANCE, featureFunctionFor } from './feature-registry.js';

/**
 * One read of a feature run as plain numbers (structured-clonable, so a worker thread can
 * compute it): the rows of some symbols over consecutive session dates, in any order of
 * (symbol, date) runs, each run sorted by ts (as DuckDB returns a scan of date files that are
 * each sorted by symbol and ts).
 */
export interface FeatureBatchInput {
  readonly group: ComputableFeatureGroup;
  /** Output feature columns, in the order returned. */
  readonly featureColumns: readonly string[];
  /** Bars of history a day needs (the group's lookback); each spec uses its own, at most this. */
  readonly lookbackBars: number;
  /** Bar length: `available_ts` is ts + barMs where the source gives none. */
  readonly barMs: number;
  /** Epoch day of each date index of the run (dates read, ascending). */
  readonly days: readonly number[];
  /** First date index read, and the date indices computed (inclusive). */
  readonly dateStart: number;
  readonly targetStart: number;
  readonly targetEnd: number;
  /** The symbol key of each symbol id (the read's `symbol` values). */
  readonly symbolKeys: readonly number[];
  /** Names of `columns.inputs`, in order (OHLCV or further numeric source columns). */
  readonly inputNames: readonly string[];
  /** sha256 of each custom feature's module (by path) when the run's definition was hashed. */
  readonly modules?: Readonly<Record<string, string>>;
  readonly columns: {
    readonly symbol: Float64Array;
    /** Bar start, epoch ms. */
    readonly ts: Float64Array;
    /** Session date as an epoch day. */
    readonly day: Float64Array;
    /** The source's available_ts (epoch ms), NaN where it has none. */
    readonly available: Float64Array;
    readonly inputs: readonly Float64Array[];
  };
  /**
   * More rows of the batch, of the same shape: the history a previous read of the same symbols
   * carries over (its runs may come before or after those of `columns`; they are sorted alike).
   */
  readonly carried?: FeatureBatchInput['columns'];
}

/**
 * Per computed date index, the output columns: symbol key, bar start, available_ts (epoch ms),
 * then the features (NaN = NULL), rows in (symbol id, ts) order.
 */
export type FeatureBatchOutput = Map<number, Float64Array[]>;

/** Key columns that precede the features in a FeatureBatchOutput. */
export const BATCH_KEY_OUTPUTS = ['__symbol', '__ts', '__available'] as const;

/** Kernel rows computed between two calls of `pause` (a few ms of work). */
const ROWS_PER_PAUSE = 20_000;

const OHLCV = ['open', 'high', 'low', 'close', 'volume'] as const;

/** A batch's rows of one (symbol, date), contiguous. */
interface Run {
  readonly sid: number;
  readonly j: number;
  readonly start: number;
  readonly end: number;
  /** Which of the input's column sets holds it (see inSymbolOrder). */
  readonly part?: number;
}

/** Specs that share a lookback are computed together, on one series. */
interface LookbackClass {
  readonly lookback: number;
  readonly group: ComputableFeatureGroup;
  readonly columns: readonly string[];
}

function lookbackClasses(group: ComputableFeatureGroup): LookbackClass[] {
  const byLookback = new Map<number, ComputableFeatureGroup['features'][number][]>();
  for (const spec of group.features) {
    const lb = featureFunctionFor(spec).lookbackBars(spec, DEFAULT_LOOKBACK_TOLERANCE);
    byLookback.set(lb, [...(byLookback.get(lb) ?? []), spec]);
  }
  return [...byLookback.entries()]
    .sort((a, b) => a[0] - b[0])
    .map(([lookback, features]) => ({ lookback, group: { name: group.name, features }, columns: features.flatMap(specOutputColumns) }));
}

/**
 * Computes the target days of one batch (pure; see runFeaturePipeline for the contract): each
 * (symbol, day) on the series that starts `lookbackBars(spec)` bars before the day's first bar,
 * per spec, as far as the day's history reaches (dayHistory); `available_ts` is the running
 * maximum of the source's over that history and the day. `pause` is awaited every few
 * milliseconds of work (to let an event loop run). The input arrays may be reordered in place.
 */
export async function computeFeatureBatch(input: FeatureBatchInput, pause?: () => Promise<void>): Promise<FeatureBatchOutput> {
  const { group, featureColumns, lookbackBars, barMs } = input;
  // Custom features' functions, in this thread (a worker imports them itself).
  await loadCustomFeatures(group.features, input.modules);
  const dayIndex = new Map(input.days.map((d, j) => [d, j]));
  const sidOf = new Map(input.symbolKeys.map((k, sid) => [k, sid]));
  const parts = input.carried ? [input.carried, input.columns] : [input.columns];
  const { symbol, ts, day, available, inputs } = inSymbolOrder(
    parts,
    parts.flatMap((c, part) => runsOf(c, sidOf, dayIndex, part)),
  );
  const n = ts.length;
  const columns = new Map(input.inputNames.map((c, k) => [c, inputs[k] as Float64Array]));
  const nanFill = new Float64Array(n).fill(NaN);
  const col = (name: string, start: number, end: number): Float64Array => (columns.get(name) ?? nanFill).subarray(start, end);
  const extras = input.inputNames.filter((c) => !(OHLCV as readonly string[]).includes(c));
  const classes = lookbackClasses(group);

  // Runs again, now in (symbol, date) order.
  const runs: Run[] = [];
  for (let i = 0; i < n; ) {
    let k = i + 1;
    while (k < n && symbol[k] === symbol[i] && day[k] === day[i]) k++;
    runs.push({ sid: sidOf.get(symbol[i] as number) as number, j: dayIndex.get(day[i] as number) as number, start: i, end: k });
    i = k;
  }
  // Output arrays per computed date, sized by its rows.
  const outRows = new Map<number, number>();
  for (const r of runs) if (r.j >= input.targetStart && r.j <= input.targetEnd) outRows.set(r.j, (outRows.get(r.j) ?? 0) + (r.end - r.start));
  const out = new Map<number, { cols: Float64Array[]; at: number }>();
  for (const [j, rows] of [...outRows].sort((a, b) => a[0] - b[0])) out.set(j, { cols: [...BATCH_KEY_OUTPUTS, ...featureColumns].map(() => new Float64Array(rows)), at: 0 });
  const featureAt = new Map(featureColumns.map((c, k) => [c, BATCH_KEY_OUTPUTS.length + k]));

  let sincePause = 0;
  for (let r0 = 0; r0 < runs.length; ) {
    let r1 = r0 + 1;
    while (r1 < runs.length && (runs[r1] as Run).sid === (runs[r0] as Run).sid) r1++;
    const rowsOn = new Map<number, number>();
    for (let r = r0; r < r1; r++) rowsOn.set((runs[r] as Run).j, (runs[r] as Run).end - (runs[r] as Run).start);
    for (let r = r0; r < r1; r++) {
      const run = runs[r] as Run;
      const target = out.get(run.j);
      if (!target) continue;
      const history = dayHistory(run.j, lookbackBars, (j) => rowsOn.get(j) ?? 0, input.dateStart);
      const o = target.at;
      const [outSymbol, outTs, outAvailable] = target.cols as [Float64Array, Float64Array, Float64Array];
      const historyStart = run.start - history.rows;
      outAvailable.set(runningAvailability(ts.subarray(historyStart, run.end), available.subarray(historyStart, run.end), barMs).subarray(history.rows), o);
      outSymbol.set(symbol.subarray(run.start, run.end), o);
      outTs.set(ts.subarray(run.start, run.end), o);
      for (const cls of classes) {
        const from = run.start - Math.min(cls.lookback, history.rows);
        const series: FeatureSeries = {
          ts: ts.subarray(from, run.end),
          open: col('open', from, run.end),
          high: col('high', from, run.end),
          low: col('low', from, run.end),
          close: col('close', from, run.end),
          volume: col('volume', from, run.end),
          sessionDate: day.subarray(from, run.end),
          columns: Object.fromEntries(extras.map((c) => [c, col(c, from, run.end)])),
        };
        const computed = computeFeatureGroup(series, cls.group).columns;
        for (const name of cls.columns) (target.cols[featureAt.get(name) as number] as Float64Array).set((computed[name] as Float64Array).subarray(run.start - from), o);
        sincePause += run.end - from;
      }
      target.at += run.end - run.start;
      if (pause && sincePause >= ROWS_PER_PAUSE) {
        sincePause = 0;
        await pause();
      }
    }
    r0 = r1;
  }
  const result: FeatureBatchOutput = new Map();
  for (const [j, t] of out) result.set(j, t.cols);
  return result;
}

/** The rows as runs of one (symbol, date) each, ts strictly increasing inside, in input order. */
function runsOf(c: FeatureBatchInput['columns'], sidOf: ReadonlyMap<number, number>, dayIndex: ReadonlyMap<number, number>, part = 0): Run[] {
  const { symbol, ts, day } = c;
  const runs: Run[] = [];
  for (let i = 0, n = ts.length; i < n; ) {
    let k = i + 1;
    while (k < n && symbol[k] === symbol[i] && day[k] === day[i] && (ts[k] as number) > (ts[k - 1] as number)) k++;
    const sid = sidOf.get(symbol[i] as number);
    const j = dayIndex.get(day[i] as number);
    if (sid === undefined || j === undefined) throw new InputError(`feature batch: row ${i} has a symbol or session date that was not read`);
    runs.push({ sid, j, start: i, end: k, part });
    i = k;
  }
  return runs;
}

/**
 * The rows of the column sets `parts` (each run's `part`) as one set ordered by (symbol id, ts):
 * DuckDB returns each file's rows in order, but files and row groups may interleave, and carried
 * history comes in a set of its own. Throws if a symbol's bars are not strictly increasing in ts
 * across its runs (duplicate bars in the source).
 */
function inSymbolOrder(parts: readonly FeatureBatchInput['columns'][], runs: readonly Run[]): FeatureBatchInput['columns'] {
  const tsOf = (r: Run, i: number): number => ((parts[r.part ?? 0] as FeatureBatchInput['columns']).ts[i] as number);
  const sorted = [...runs].sort((a, b) => a.sid - b.sid || tsOf(a, a.start) - tsOf(b, b.start));
  for (let r = 1; r < sorted.length; r++) {
    const prev = sorted[r - 1] as Run;
    const cur = sorted[r] as Run;
    if (prev.sid === cur.sid && !(tsOf(cur, cur.start) > tsOf(prev, prev.end - 1))) {
      throw new InputError(`feature source: duplicate or unordered bars for one symbol at ${new Date(tsOf(cur, cur.start)).toISOString()}`);
    }
  }
  const only = parts[0] as FeatureBatchInput['columns'];
  if (parts.length === 1 && sorted.every((r, k) => r === runs[k])) return only;
  const total = parts.reduce((n, c) => n + c.ts.length, 0);
  const reorder = (pick: (c: FeatureBatchInput['columns']) => Float64Array): Float64Array => {
    const dst = new Float64Array(total);
    let at = 0;
    for (const r of sorted) {
      dst.set(pick(parts[r.part ?? 0] as FeatureBatchInput['columns']).subarray(r.start, r.end), at);
      at += r.end - r.start;
    }
    return dst;
  };
  return {
    symbol: reorder((c) => c.symbol),
    ts: reorder((c) => c.ts),
    day: reorder((c) => c.day),
    available: reorder((c) => c.available),
    inputs: only.inputs.map((_, k) => reorder((c) => c.inputs[k] as Float64Array)),
  };
}
