import { featureGroupSchema, type FeatureGroup } from '../../src/pipelines/features/feature-config.js';

/** The technical group of issue 7 (8 specs, 16 output columns): what the feature benchmarks compute. */
export const TECHNICAL: FeatureGroup = featureGroupSchema.parse({
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
  ],
});
