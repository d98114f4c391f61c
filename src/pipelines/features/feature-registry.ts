import type { z } from 'zod';
import { atr } from './atr.js';
import { bollinger } from './bollinger.js';
import {
  atrSpecSchema,
  bollingerSpecSchema,
  customSpecSchema,
  emaSpecSchema,
  expressionSpecSchema,
  lagSpecSchema,
  logReturnsSpecSchema,
  macdSpecSchema,
  returnsSpecSchema,
  rollingMeanSpecSchema,
  rollingStdSpecSchema,
  rollingVolatilitySpecSchema,
  rsiSpecSchema,
  smaSpecSchema,
  specOutputColumns,
  vwapSpecSchema,
  zscoreSpecSchema,
} from './feature-config.js';
import type { SessionKeys } from './session-keys.js';
import type { FeatureFn, SpecOf } from './feature-config.js';
import { callCustomFeature } from './custom-feature.js';
import { expressionInputName } from './expression-feature.js';
import { macd } from './macd.js';
import { ema, sma } from './moving-averages.js';
import { lag, logReturns, returns } from './returns.js';
import { rollingStd, rollingVolatility, zscore } from './rolling-stats.js';
import { rsi } from './rsi.js';
import { VWAP_PRICE_COLUMNS, barPrice, sessionVwap } from './vwap.js';

/*
 * Conventions (DESIGN §7; TTR 0.24 / TA-Lib, checked against both published examples and
 * independent references in test/pipelines/features):
 * - sma / rolling_mean: arithmetic mean of the last n values. ema: alpha 2/(n+1), seeded with the
 *   SMA of the first n values. Wilder smoothing (rsi, atr): alpha 1/n, same seed.
 * - rsi: first value at index n (n changes); 0/0 (no movement) is NaN, as in TTR.
 * - macd: EMA(fast) − EMA(slow) as a price difference (TTR percent = FALSE); signal = EMA(signal)
 *   of the MACD line seeded with the SMA of its first `signal` values (TTR); hist = macd − signal.
 * - bollinger: SMA ± k · POPULATION std. rolling_std: sample (ddof 1) unless ddof: 0.
 * - rolling_volatility: SAMPLE std of one-bar log returns, not annualised. zscore: (x − SMA) /
 *   SAMPLE std over the same window, current value included; a flat window gives NaN.
 * - atr: true range needs the previous close, so bar 0 of a run has none (TTR, TA-Lib; StockCharts
 *   instead uses H − L there); first ATR at index n = mean of TR[1..n].
 * - vwap: Σ price·volume / Σ volume since the session's first bar; price typical (H+L+C)/3 by default.
 * Missing inputs (NaN, i.e. NULL curated bars): windowed features give NaN for every window
 * containing one; recursive ones (ema, rsi, atr, macd) restart after it and warm up again;
 * point-wise ones (lag, returns) are NaN only where they read it; vwap is NaN for the rest of
 * that session. Outputs are never ±Infinity and warm-up rows are NaN, never 0.
 */

/** What a feature function reads: named numeric columns of one symbol's series, NaN = missing. */
export interface FeatureInputs {
  /** The column as a Float64Array (not to be mutated). Throws InputError if the series lacks it. */
  column(name: string): Float64Array;
  /** Trading session per bar: its date label or an epoch day, equal exactly within a session. */
  readonly sessionDate: SessionKeys;
}

/**
 * One registered feature function. The contract every entry keeps: `compute` is pure, returns
 * one Float64Array per `outputColumns(spec)` entry, in that order and of the series' length, and
 * the value at index i depends only on inputs at indices <= i (no look-ahead).
 */
export interface FeatureFunction<F extends FeatureFn = FeatureFn> {
  readonly fn: F;
  /** The zod schema of this function's spec (one member of the `fn` discriminated union). */
  readonly schema: z.ZodType<SpecOf<F>, unknown>;
  readonly summary: string;
  /** Series columns read. */
  inputColumns(spec: SpecOf<F>): string[];
  /** Output column names, in write order. */
  outputColumns(spec: SpecOf<F>): string[];
  /** Index from which every output has a value on a gap-free series (the leading NaN rows). */
  warmupBars(spec: SpecOf<F>): number;
  /**
   * Bars of history a bar needs so that its value matches a full-history run: exact
   * (= warm-up) for windowed features; for recursive ones (EMA, Wilder) also the bars after
   * which the forgotten seed's weight in the state is below `tolerance`.
   */
  lookbackBars(spec: SpecOf<F>, tolerance: number): number;
  /** True when values restart at each session: computing whole sessions is enough, no earlier bars. */
  readonly sessionAnchored: boolean;
  compute(spec: SpecOf<F>, inputs: FeatureInputs): Float64Array[];
}

/** Default `tolerance` for {@link FeatureFunction.lookbackBars}: well inside the 1e-9 relative target. */
export const DEFAULT_LOOKBACK_TOLERANCE = 1e-12;

/** Bars after which an exponential average's initial state weighs less than `tolerance`. */
function memoryBars(alpha: number, tolerance: number): number {
  if (alpha >= 1) return 0;
  return Math.ceil(Math.log(tolerance) / Math.log(1 - alpha));
}

const emaAlpha = (n: number): number => 2 / (n + 1);

/** The functions whose specs read one `column` over a `window` of bars. */
type WindowedFn = 'sma' | 'rolling_mean' | 'rolling_std' | 'zscore';

function windowed<F extends WindowedFn>(
  fn: F,
  schema: z.ZodType<SpecOf<F>, unknown>,
  summary: string,
  kernel: (x: Float64Array, spec: SpecOf<F>) => Float64Array,
): FeatureFunction<F> {
  const w = (s: SpecOf<F>): SpecOf<WindowedFn> => s;
  return {
    fn,
    schema,
    summary,
    inputColumns: (s) => [w(s).column],
    outputColumns: (s) => specOutputColumns(s),
    warmupBars: (s) => w(s).window - 1,
    lookbackBars: (s) => w(s).window - 1,
    sessionAnchored: false,
    compute: (s, inp) => [kernel(inp.column(w(s).column), s)],
  };
}

/** Every feature function, by `fn` name. */
export const FEATURE_FUNCTIONS: { readonly [F in FeatureFn]: FeatureFunction<F> } = {
  sma: windowed('sma', smaSpecSchema, 'simple moving average', (x, s) => sma(x, s.window)),
  rolling_mean: windowed('rolling_mean', rollingMeanSpecSchema, 'rolling mean (same as sma)', (x, s) => sma(x, s.window)),
  rolling_std: windowed('rolling_std', rollingStdSpecSchema, 'rolling standard deviation (ddof 1 = sample)', (x, s) =>
    rollingStd(x, s.window, s.ddof),
  ),
  zscore: windowed('zscore', zscoreSpecSchema, '(x - rolling mean) / rolling sample std', (x, s) => zscore(x, s.window)),
  ema: {
    fn: 'ema',
    schema: emaSpecSchema,
    summary: 'exponential moving average, alpha 2/(n+1), SMA seed',
    inputColumns: (s) => [s.column],
    outputColumns: (s) => specOutputColumns(s),
    warmupBars: (s) => s.window - 1,
    lookbackBars: (s, tol) => s.window - 1 + memoryBars(emaAlpha(s.window), tol),
    sessionAnchored: false,
    compute: (s, inp) => [ema(inp.column(s.column), s.window)],
  },
  rolling_volatility: {
    fn: 'rolling_volatility',
    schema: rollingVolatilitySpecSchema,
    summary: 'sample std of one-bar log returns over the window',
    inputColumns: (s) => [s.column],
    outputColumns: (s) => specOutputColumns(s),
    warmupBars: (s) => s.window,
    lookbackBars: (s) => s.window,
    sessionAnchored: false,
    compute: (s, inp) => [rollingVolatility(inp.column(s.column), s.window)],
  },
  returns: {
    fn: 'returns',
    schema: returnsSpecSchema,
    summary: 'simple return over `period` bars',
    inputColumns: (s) => [s.column],
    outputColumns: (s) => specOutputColumns(s),
    warmupBars: (s) => s.period,
    lookbackBars: (s) => s.period,
    sessionAnchored: false,
    compute: (s, inp) => [returns(inp.column(s.column), s.period)],
  },
  log_returns: {
    fn: 'log_returns',
    schema: logReturnsSpecSchema,
    summary: 'log return over `period` bars',
    inputColumns: (s) => [s.column],
    outputColumns: (s) => specOutputColumns(s),
    warmupBars: (s) => s.period,
    lookbackBars: (s) => s.period,
    sessionAnchored: false,
    compute: (s, inp) => [logReturns(inp.column(s.column), s.period)],
  },
  lag: {
    fn: 'lag',
    schema: lagSpecSchema,
    summary: 'value `p` bars earlier, one column per period',
    inputColumns: (s) => [s.column],
    outputColumns: (s) => specOutputColumns(s),
    warmupBars: (s) => Math.max(...s.periods),
    lookbackBars: (s) => Math.max(...s.periods),
    sessionAnchored: false,
    compute: (s, inp) => {
      const x = inp.column(s.column);
      return s.periods.map((p) => lag(x, p));
    },
  },
  rsi: {
    fn: 'rsi',
    schema: rsiSpecSchema,
    summary: "Wilder's RSI",
    inputColumns: (s) => [s.column],
    outputColumns: (s) => specOutputColumns(s),
    warmupBars: (s) => s.window,
    lookbackBars: (s, tol) => s.window + memoryBars(1 / s.window, tol),
    sessionAnchored: false,
    compute: (s, inp) => [rsi(inp.column(s.column), s.window)],
  },
  macd: {
    fn: 'macd',
    schema: macdSpecSchema,
    summary: 'MACD line, signal and histogram (price difference, TTR seeding)',
    inputColumns: (s) => [s.column],
    outputColumns: (s) => specOutputColumns(s),
    warmupBars: (s) => s.slow + s.signal - 2,
    lookbackBars: (s, tol) =>
      s.slow + s.signal - 2 + memoryBars(emaAlpha(Math.max(s.fast, s.slow)), tol) + memoryBars(emaAlpha(s.signal), tol),
    sessionAnchored: false,
    compute: (s, inp) => {
      const r = macd(inp.column(s.column), s.fast, s.slow, s.signal);
      return [r.macd, r.signal, r.hist];
    },
  },
  bollinger: {
    fn: 'bollinger',
    schema: bollingerSpecSchema,
    summary: 'Bollinger bands: SMA ± k population std',
    inputColumns: (s) => [s.column],
    outputColumns: (s) => specOutputColumns(s),
    warmupBars: (s) => s.window - 1,
    lookbackBars: (s) => s.window - 1,
    sessionAnchored: false,
    compute: (s, inp) => {
      const r = bollinger(inp.column(s.column), s.window, s.k);
      return [r.lower, r.mid, r.upper];
    },
  },
  atr: {
    fn: 'atr',
    schema: atrSpecSchema,
    summary: 'average true range, Wilder smoothing',
    inputColumns: () => ['high', 'low', 'close'],
    outputColumns: (s) => specOutputColumns(s),
    warmupBars: (s) => s.window,
    lookbackBars: (s, tol) => s.window + memoryBars(1 / s.window, tol),
    sessionAnchored: false,
    compute: (s, inp) => [atr(inp.column('high'), inp.column('low'), inp.column('close'), s.window)],
  },
  vwap: {
    fn: 'vwap',
    schema: vwapSpecSchema,
    summary: 'session VWAP (restarts each session date)',
    inputColumns: (s) => [...VWAP_PRICE_COLUMNS[s.price], 'volume'],
    outputColumns: (s) => specOutputColumns(s),
    warmupBars: () => 0,
    lookbackBars: () => 0,
    sessionAnchored: true,
    compute: (s, inp) => {
      const cols: Record<string, Float64Array> = {};
      for (const c of VWAP_PRICE_COLUMNS[s.price]) cols[c] = inp.column(c);
      return [sessionVwap(barPrice(s.price, cols), inp.column('volume'), inp.sessionDate)];
    },
  },
  custom: {
    fn: 'custom',
    schema: customSpecSchema,
    summary: 'a function exported by a user module (loaded by loadCustomFeatures)',
    inputColumns: (s) => [...s.inputs],
    outputColumns: (s) => specOutputColumns(s),
    warmupBars: (s) => s.lookback_bars,
    lookbackBars: (s) => s.lookback_bars,
    sessionAnchored: false,
    compute: (s, inp) => callCustomFeature(s, (c) => inp.column(c), inp.sessionDate, inp.sessionDate.length),
  },
  expression: {
    fn: 'expression',
    schema: expressionSpecSchema,
    summary: 'SQL window expression over the last `window` rows, evaluated by DuckDB',
    // DuckDB evaluates the expression when the batch is read; compute only blanks the warm-up.
    inputColumns: (s) => [expressionInputName(s)],
    outputColumns: (s) => specOutputColumns(s),
    warmupBars: (s) => s.window - 1,
    lookbackBars: (s) => s.window - 1,
    sessionAnchored: false,
    compute: (s, inp) => {
      const out = inp.column(expressionInputName(s)).slice();
      // Fewer than `window` rows up to the bar: NULL, as the built-ins' warm-up.
      out.fill(NaN, 0, Math.min(out.length, s.window - 1));
      return [out];
    },
  },
};

/**
 * The registered function for a spec's `fn`, typed for that spec: `SpecOf<'macd'>` gives the
 * macd function; a spec of any fn (`FeatureSpec`) gives one whose methods take any spec.
 */
export function featureFunctionFor<F extends FeatureFn>(spec: SpecOf<F> & { readonly fn: F }): FeatureFunction<F> {
  const fn: F = spec.fn;
  return FEATURE_FUNCTIONS[fn];
}

/** Names of every registered function. */
export const FEATURE_FN_NAMES = Object.keys(FEATURE_FUNCTIONS) as FeatureFn[];
