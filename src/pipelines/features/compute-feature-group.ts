import { InputError } from '../../core/errors.js';
import type { FeatureGroup } from './feature-config.js';
import { DEFAULT_LOOKBACK_TOLERANCE, featureFunctionFor } from './feature-registry.js';
import type { FeatureInputs } from './feature-registry.js';
import type { SessionKeys } from './session-keys.js';

/** A numeric column; null, undefined and ±Infinity are read as missing (NaN). */
export type NumericColumn = Float64Array | ArrayLike<number | null | undefined>;

export type { SessionKeys } from './session-keys.js';

/** One symbol's bars in strictly increasing `ts` order (bar start, epoch ms). */
export interface FeatureSeries {
  readonly ts: Float64Array | readonly number[];
  readonly open: NumericColumn;
  readonly high: NumericColumn;
  readonly low: NumericColumn;
  readonly close: NumericColumn;
  readonly volume: NumericColumn;
  /** Trading session of each bar (date label or epoch day), non-decreasing. */
  readonly sessionDate: SessionKeys;
  /** Further numeric columns a spec may name in `column` (e.g. `wap`, `trade_count`, a joined factor). */
  readonly columns?: Readonly<Record<string, NumericColumn>>;
}

/** The computed columns, keyed by output name, in the group's feature order. */
export interface FeatureGroupResult {
  readonly columns: Record<string, Float64Array>;
}

/** The parts of a parsed group that determine values. */
export type ComputableFeatureGroup = Pick<FeatureGroup, 'name' | 'features'>;

function toFloat64(col: NumericColumn): Float64Array {
  if (col instanceof Float64Array) {
    for (let i = 0; i < col.length; i++) {
      const v = col[i] as number;
      if (v === Infinity || v === -Infinity) return col.map((x) => (Number.isFinite(x) ? x : NaN));
    }
    return col;
  }
  const out = new Float64Array(col.length);
  for (let i = 0; i < col.length; i++) {
    const v = col[i];
    out[i] = typeof v === 'number' && Number.isFinite(v) ? v : NaN;
  }
  return out;
}

function checkSeries(series: FeatureSeries, group: string): number {
  const n = series.ts.length;
  const named: [string, { length: number }][] = [
    ['open', series.open],
    ['high', series.high],
    ['low', series.low],
    ['close', series.close],
    ['volume', series.volume],
    ['sessionDate', series.sessionDate],
    ...Object.entries(series.columns ?? {}),
  ];
  for (const [name, col] of named) {
    if (col.length !== n) {
      throw new InputError(`feature group ${group}: column ${name} has ${col.length} rows, ts has ${n}`, { details: { group, column: name } });
    }
  }
  const { ts, sessionDate } = series;
  for (let i = 1; i < n; i++) {
    if (!((ts[i] as number) > (ts[i - 1] as number))) {
      throw new InputError(`feature group ${group}: ts must be strictly increasing (row ${i})`, { details: { group, row: i } });
    }
    if ((sessionDate[i] as string) < (sessionDate[i - 1] as string)) {
      throw new InputError(`feature group ${group}: sessionDate goes backwards at row ${i}`, { details: { group, row: i } });
    }
  }
  return n;
}

/**
 * Computes every feature of a group over one symbol's ordered series: the single pure entry
 * the feature pipeline calls. Outputs are NaN where there is no value (warm-up, missing input,
 * undefined such as RSI with no movement), written as NULL; never ±Infinity. Value i depends
 * only on rows 0..i. Throws InputError on ragged columns, unordered `ts`, backwards session
 * dates or a spec naming a column the series lacks.
 */
export function computeFeatureGroup(series: FeatureSeries, group: ComputableFeatureGroup): FeatureGroupResult {
  const n = checkSeries(series, group.name);
  const converted = new Map<string, Float64Array>();
  const base: Record<string, NumericColumn> = {
    open: series.open,
    high: series.high,
    low: series.low,
    close: series.close,
    volume: series.volume,
  };
  const source = (name: string): NumericColumn | undefined =>
    Object.hasOwn(base, name) ? base[name] : series.columns && Object.hasOwn(series.columns, name) ? series.columns[name] : undefined;
  const inputs: FeatureInputs = {
    sessionDate: series.sessionDate,
    column(name) {
      let col = converted.get(name);
      if (col === undefined) {
        const raw = source(name);
        if (raw === undefined) {
          throw new InputError(`feature group ${group.name}: the series has no column ${name}`, { details: { group: group.name, column: name } });
        }
        col = toFloat64(raw);
        converted.set(name, col);
      }
      return col;
    },
  };

  const columns: Record<string, Float64Array> = {};
  for (const spec of group.features) {
    const def = featureFunctionFor(spec);
    const names = def.outputColumns(spec);
    const values = def.compute(spec, inputs);
    names.forEach((name, k) => {
      const v = values[k] as Float64Array;
      // x − x is 0 for finite x and NaN for NaN and ±Infinity.
      for (let i = 0; i < n; i++) if ((v[i] as number) - (v[i] as number) !== 0) v[i] = NaN;
      columns[name] = v;
    });
  }
  return { columns };
}

/**
 * Bars of history before a day's first bar that make its values match a full-history run (to
 * `tolerance` for recursive features; exact for windowed ones): the maximum over the group.
 * Session-anchored features (VWAP) need whole sessions, which any date-partitioned run has.
 */
export function groupLookbackBars(group: Pick<FeatureGroup, 'features'>, tolerance = DEFAULT_LOOKBACK_TOLERANCE): number {
  let max = 0;
  for (const spec of group.features) max = Math.max(max, featureFunctionFor(spec).lookbackBars(spec, tolerance));
  return max;
}
