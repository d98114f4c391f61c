import { describe, expect, it } from 'vitest';
import { InputError } from '../../../src/core/errors.js';
import { computeFeatureBatch, type FeatureBatchInput } from '../../../src/pipelines/features/compute-feature-batch.js';
import { FeatureBatchRunner } from '../../../src/pipelines/features/feature-batch-runner.js';
import { featureGroupSchema } from '../../../src/pipelines/features/feature-config.js';

const MIN = 60_000;
const DAYS = [20_000, 20_001, 20_002];
const GROUP = featureGroupSchema.parse({
  name: 'g',
  version: 'v1',
  source: 'bars_1min',
  features: [
    { name: 'sma_3', fn: 'sma', column: 'close', window: 3 },
    { name: 'ema_4', fn: 'ema', column: 'close', window: 4 },
  ],
});

/** Two symbols (keys 7 and 3) x three days of 5 bars, in the order given ('day' = day-major, as DuckDB scans date files). */
function input(order: 'day' | 'symbol', duplicate = false): FeatureBatchInput {
  const rows: [number, number, number, number][] = []; // symbol key, ts, day, close
  const keys = [7, 3];
  const cell = (k: number, d: number): [number, number, number, number][] =>
    Array.from({ length: 5 }, (_, b) => [keys[k] as number, (DAYS[d] as number) * 86_400_000 + 14.5 * 3_600_000 + b * MIN, DAYS[d] as number, 100 + k * 10 + d + Math.sin(b + d * 5 + k)]);
  if (order === 'day') for (let d = 0; d < 3; d++) for (let k = 0; k < 2; k++) rows.push(...cell(k, d));
  else for (let k = 0; k < 2; k++) for (let d = 0; d < 3; d++) rows.push(...cell(k, d));
  if (duplicate) rows.splice(3, 0, rows[2] as [number, number, number, number]);
  const col = (i: number): Float64Array => Float64Array.from(rows.map((r) => r[i] as number));
  return {
    group: GROUP,
    featureColumns: ['sma_3', 'ema_4'],
    lookbackBars: 6,
    barMs: MIN,
    days: DAYS,
    dateStart: 0,
    targetStart: 1,
    targetEnd: 2,
    symbolKeys: [7, 3],
    inputNames: ['close'],
    columns: { symbol: col(0), ts: col(1), day: col(2), available: new Float64Array(rows.length).fill(NaN), inputs: [col(3)] },
  };
}

describe('computeFeatureBatch', () => {
  it('puts interleaved (symbol, date) runs in symbol order and computes each day from its own history', async () => {
    const a = await computeFeatureBatch(input('day'));
    const b = await computeFeatureBatch(input('symbol'));
    expect([...a.keys()]).toEqual([1, 2]);
    for (const j of [1, 2]) {
      const [sym, ts, avail, sma, ema] = a.get(j) as Float64Array[];
      // Symbol id 0 (key 7) first, then id 1 (key 3), 5 bars each, ts ascending.
      expect(Array.from(sym as Float64Array)).toEqual([7, 7, 7, 7, 7, 3, 3, 3, 3, 3]);
      expect(Array.from(avail as Float64Array)).toEqual(Array.from(ts as Float64Array).map((t) => t + MIN));
      expect(b.get(j)).toEqual(a.get(j));
      // Key 7's first bar of day j is row 5j in symbol order; SMA(3) there reads two bars of the day before.
      const closes = input('symbol').columns.inputs[0] as Float64Array;
      const f = 5 * j;
      expect((sma as Float64Array)[0]).toBeCloseTo(((closes[f - 2] as number) + (closes[f - 1] as number) + (closes[f] as number)) / 3, 12);
      expect(Number.isFinite((ema as Float64Array)[0])).toBe(true);
    }
  });

  it('refuses a duplicate bar, also from the worker thread (as InputError)', async () => {
    await expect(computeFeatureBatch(input('symbol', true))).rejects.toThrow(/duplicate or unordered bars/);
    await expect(FeatureBatchRunner.shared().compute(input('symbol', true), 'worker')).rejects.toBeInstanceOf(InputError);
  });
});
