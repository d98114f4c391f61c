import { describe, expect, it } from 'vitest';
import { InputError } from '../../../src/core/errors.js';
import { computeFeatureGroup, groupLookbackBars } from '../../../src/pipelines/features/compute-feature-group.js';
import type { FeatureSeries } from '../../../src/pipelines/features/compute-feature-group.js';
import { featureGroupSchema } from '../../../src/pipelines/features/feature-config.js';
import { FEATURE_FUNCTIONS } from '../../../src/pipelines/features/feature-registry.js';
import { expectCloseArrays } from './close-to.js';
import { refAtr, refBollinger, refEma, refMacd, refRsi, refSma, refVolatility, refVwap, refZscore } from './reference-indicators.js';
import { syntheticBars } from './synthetic-bars.js';
import type { SyntheticBars } from './synthetic-bars.js';

const technical = featureGroupSchema.parse({
  name: 'technical',
  version: 'v1',
  source: 'bars_1min',
  features: [
    { name: 'sma_20', fn: 'sma', column: 'close', window: 20 },
    { name: 'ema_12', fn: 'ema', column: 'close', window: 12 },
    { name: 'rsi_14', fn: 'rsi', column: 'close', window: 14 },
    { name: 'macd', fn: 'macd', column: 'close', fast: 12, slow: 26, signal: 9 },
    { name: 'bb_20', fn: 'bollinger', column: 'close', window: 20, k: 2 },
    { name: 'atr_14', fn: 'atr', window: 14 },
    { name: 'vol_20', fn: 'rolling_volatility', column: 'close', window: 20 },
    { name: 'close_lag', fn: 'lag', column: 'close', periods: [1, 5, 10] },
    { name: 'vwap', fn: 'vwap' },
    { name: 'z_30', fn: 'zscore', column: 'close', window: 30 },
  ],
});

const series = (b: SyntheticBars): FeatureSeries => b;

function slice(b: SyntheticBars, from: number, to = b.ts.length): SyntheticBars {
  return {
    ts: b.ts.slice(from, to),
    open: b.open.slice(from, to),
    high: b.high.slice(from, to),
    low: b.low.slice(from, to),
    close: b.close.slice(from, to),
    volume: b.volume.slice(from, to),
    sessionDate: b.sessionDate.slice(from, to),
  };
}

describe('computeFeatureGroup', () => {
  const bars = syntheticBars(11, 3 * 390, { nanRate: 0.005 });
  const { columns } = computeFeatureGroup(series(bars), technical);

  it('produces the declared columns, in order, each the right length', () => {
    expect(Object.keys(columns)).toEqual([
      'sma_20',
      'ema_12',
      'rsi_14',
      'macd',
      'macd_signal',
      'macd_hist',
      'bb_20_lower',
      'bb_20_mid',
      'bb_20_upper',
      'atr_14',
      'vol_20',
      'close_lag_1',
      'close_lag_5',
      'close_lag_10',
      'vwap',
      'z_30',
    ]);
    for (const col of Object.values(columns)) expect(col.length).toBe(bars.ts.length);
  });

  it('every column equals its independent reference', () => {
    const c = bars.close;
    expectCloseArrays(columns.sma_20 as Float64Array, refSma(c, 20), 1e-9, 0, 'sma_20');
    expectCloseArrays(columns.ema_12 as Float64Array, refEma(c, 12), 1e-9, 0, 'ema_12');
    expectCloseArrays(columns.rsi_14 as Float64Array, refRsi(c, 14), 1e-9, 0, 'rsi_14');
    const m = refMacd(c, 12, 26, 9);
    expectCloseArrays(columns.macd as Float64Array, m.macd, 1e-9, 100, 'macd');
    expectCloseArrays(columns.macd_signal as Float64Array, m.signal, 1e-9, 100, 'macd_signal');
    expectCloseArrays(columns.macd_hist as Float64Array, m.hist, 1e-9, 100, 'macd_hist');
    const bb = refBollinger(c, 20, 2);
    expectCloseArrays(columns.bb_20_lower as Float64Array, bb.lower, 1e-9, 0, 'bb lower');
    expectCloseArrays(columns.bb_20_mid as Float64Array, bb.mid, 1e-9, 0, 'bb mid');
    expectCloseArrays(columns.bb_20_upper as Float64Array, bb.upper, 1e-9, 0, 'bb upper');
    expectCloseArrays(columns.atr_14 as Float64Array, refAtr(bars.high, bars.low, c, 14), 1e-9, 0, 'atr');
    expectCloseArrays(columns.vol_20 as Float64Array, refVolatility(c, 20), 1e-9, 0.002, 'vol');
    expectCloseArrays(columns.close_lag_5 as Float64Array, [...Array<number>(5).fill(NaN), ...c.slice(0, -5)], 0, 0, 'lag5');
    const typical = bars.high.map((h, i) => (h + (bars.low[i] as number) + (c[i] as number)) / 3);
    expectCloseArrays(columns.vwap as Float64Array, refVwap(typical, bars.volume, bars.sessionDate), 1e-9, 0, 'vwap');
    expectCloseArrays(columns.z_30 as Float64Array, refZscore(c, 30), 1e-9, 1, 'z');
  });

  it('warm-up rows are NaN (NULL), never 0, and the first value sits at the documented index', () => {
    const clean = syntheticBars(12, 200);
    clean.volume[0] = 1000; // so the session VWAP has a value on the very first bar
    const out = computeFeatureGroup(series(clean), technical).columns;
    // TTR / TA-Lib first-value indices (0-based) for the example's parameters.
    const firstValue: Record<string, number> = {
      sma_20: 19,
      ema_12: 11,
      rsi_14: 14,
      macd: 25,
      macd_signal: 33,
      macd_hist: 33,
      bb_20_lower: 19,
      bb_20_mid: 19,
      bb_20_upper: 19,
      atr_14: 14,
      vol_20: 20,
      close_lag_1: 1,
      close_lag_5: 5,
      close_lag_10: 10,
      vwap: 0,
      z_30: 29,
    };
    for (const [name, first] of Object.entries(firstValue)) {
      const col = out[name] as Float64Array;
      for (let i = 0; i < first; i++) expect(Number.isNaN(col[i] as number), `${name}[${i}]`).toBe(true);
      for (let i = first; i < col.length; i++) expect(Number.isNaN(col[i] as number), `${name}[${i}]`).toBe(false);
    }
    // warmupBars is the index from which every output of a spec has a value.
    for (const spec of technical.features) {
      const def = FEATURE_FUNCTIONS[spec.fn];
      const expected = Math.max(...def.outputColumns(spec as never).map((c) => firstValue[c] as number));
      expect(def.warmupBars(spec as never), spec.name).toBe(expected);
    }
  });

  it('lookback: computing the last day from groupLookbackBars earlier equals the full-history run', () => {
    const long = syntheticBars(13, 6 * 390, { nanRate: 0.002 });
    const full = computeFeatureGroup(series(long), technical).columns;
    const lookback = groupLookbackBars(technical);
    // Exact for windowed features; recursive ones (EMA, RSI, ATR, MACD) within 1e-12 of the seed's weight.
    expect(lookback).toBeGreaterThan(26 + 9);
    const dayStart = 5 * 390;
    const part = computeFeatureGroup(series(slice(long, dayStart - lookback)), technical).columns;
    for (const [name, col] of Object.entries(full)) {
      const tail = (part[name] as Float64Array).subarray(lookback);
      expectCloseArrays(tail, col.subarray(dayStart), 1e-9, name.startsWith('macd') ? 100 : 0, name);
    }
    // Too little lookback is visibly different for a recursive feature: the check above has teeth.
    const short = computeFeatureGroup(series(slice(long, dayStart - 40)), technical).columns;
    expect(Math.abs((short.rsi_14?.[40] as number) - (full.rsi_14?.[dayStart] as number))).toBeGreaterThan(1e-9);
  });

  it('reads null as missing and accepts extra columns by name', () => {
    const g = featureGroupSchema.parse({
      name: 'g',
      version: 'v1',
      source: 'bars_1min',
      features: [
        { name: 'wsma', fn: 'sma', column: 'wap', window: 2 },
        { name: 'vw', fn: 'vwap', price: 'wap' },
        { name: 'c', fn: 'lag', periods: [1] },
      ],
    });
    const out = computeFeatureGroup(
      {
        ts: [1, 2, 3, 4],
        open: [1, 1, 1, 1],
        high: [1, 1, 1, 1],
        low: [1, 1, 1, 1],
        close: [10, null, 12, 13] as (number | null)[],
        volume: [1, 3, 2, 2],
        sessionDate: ['2024-01-02', '2024-01-02', '2024-01-03', '2024-01-03'],
        columns: { wap: Float64Array.from([2, 4, 6, Infinity]) },
      },
      g,
    ).columns;
    expectCloseArrays(out.wsma as Float64Array, [NaN, 3, 5, NaN]);
    // session 1: (2·1 + 4·3)/4 = 3.5; session 2: 6, then the infinite (= missing) WAP voids the rest of the session
    expectCloseArrays(out.vw as Float64Array, [2, 3.5, 6, NaN]);
    expectCloseArrays(out.c_1 as Float64Array, [NaN, 10, NaN, 12], 0);
  });

  it('rejects malformed series with InputError', () => {
    const ok = syntheticBars(14, 5);
    const g = featureGroupSchema.parse({ name: 'g', version: 'v1', source: 's', features: [{ name: 's', fn: 'sma', column: 'wap', window: 2 }] });
    const simple = featureGroupSchema.parse({ name: 'g', version: 'v1', source: 's', features: [{ name: 's', fn: 'sma', window: 2 }] });
    expect(() => computeFeatureGroup(series(ok), g)).toThrow(InputError);
    expect(() => computeFeatureGroup(series(ok), g)).toThrow(/no column wap/);
    expect(() => computeFeatureGroup({ ...series(ok), close: ok.close.slice(1) }, simple)).toThrow(/column close has 4 rows/);
    expect(() => computeFeatureGroup({ ...series(ok), ts: [5, 4, 6, 7, 8] }, simple)).toThrow(/strictly increasing/);
    expect(() => computeFeatureGroup({ ...series(ok), ts: [1, 1, 2, 3, 4] }, simple)).toThrow(InputError);
    expect(() => computeFeatureGroup({ ...series(ok), sessionDate: ['2024-01-03', '2024-01-02', '2024-01-03', '2024-01-03', '2024-01-03'] }, simple)).toThrow(
      /sessionDate goes backwards/,
    );
  });

  it('handles an empty series', () => {
    const out = computeFeatureGroup({ ts: [], open: [], high: [], low: [], close: [], volume: [], sessionDate: [] }, technical).columns;
    expect(Object.values(out).every((c) => c.length === 0)).toBe(true);
  });

  it('does not modify its inputs', () => {
    const b = syntheticBars(15, 100, { nanRate: 0.05 });
    const close = Float64Array.from(b.close);
    const before = Array.from(close);
    computeFeatureGroup({ ...series(b), close }, technical);
    expect(Array.from(close)).toEqual(before);
  });
});
