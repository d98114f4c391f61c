import { describe, expect, it } from 'vitest';
import { featureSpecSchema, macdSpecSchema, smaSpecSchema, zscoreSpecSchema } from '../../../src/pipelines/features/feature-config.js';
import { featureFunctionFor } from '../../../src/pipelines/features/feature-registry.js';

const inputs = (cols: Record<string, number[]>) => ({
  column: (name: string): Float64Array => Float64Array.from(cols[name] ?? []),
  sessionDate: [1, 1, 1, 1, 1],
});

describe('featureFunctionFor', () => {
  it("gives the function of the spec's fn, its methods typed for that spec (checked by npm run typecheck)", () => {
    const macdSpec = macdSpecSchema.parse({ name: 'x', fn: 'macd', column: 'close', fast: 2, slow: 3, signal: 2 });
    const smaSpec = smaSpecSchema.parse({ name: 'x', fn: 'sma', column: 'close', window: 3 });
    const macdFn = featureFunctionFor(macdSpec);
    expect(macdFn.fn).toBe('macd');
    // macd(2, 3, 2): its warm-up is slow + signal - 2 bars (TTR seeding).
    expect(macdFn.warmupBars(macdSpec)).toBe(3);
    // @ts-expect-error an sma spec is not a macd spec: the registry keeps each fn's spec type.
    macdFn.warmupBars(smaSpec);

    // A windowed function reads its spec's column and window: sma(3) on 1..5 by hand.
    const smaFn = featureFunctionFor(smaSpec);
    expect(smaFn.inputColumns(smaSpec)).toEqual(['close']);
    expect([smaFn.warmupBars(smaSpec), smaFn.lookbackBars(smaSpec, 1e-12)]).toEqual([2, 2]);
    expect([...(smaFn.compute(smaSpec, inputs({ close: [1, 2, 3, 4, 5] }))[0] ?? [])]).toEqual([NaN, NaN, 2, 3, 4]);
    const z = zscoreSpecSchema.parse({ name: 'x', fn: 'zscore', column: 'volume', window: 4 });
    expect([featureFunctionFor(z).inputColumns(z), featureFunctionFor(z).warmupBars(z)]).toEqual([['volume'], 3]);

    // A spec of any fn (as the config holds them) gives a function taking any spec.
    const any = featureSpecSchema.parse({ name: 'x', fn: 'ema', column: 'close', window: 3 });
    expect(featureFunctionFor(any).inputColumns(any)).toEqual(['close']);
  });
});
