// Benchmark: the pure feature functions on one long series (default 3.9 M one-minute bars, the
// size DESIGN §7 measured) and computeFeatureGroup on the example group plus vwap/zscore.
// Run: npx tsx bench/feature-functions.ts   (BENCH_ROWS=… to change the size)
import { atr } from '../src/pipelines/features/atr.js';
import { bollinger } from '../src/pipelines/features/bollinger.js';
import { computeFeatureGroup } from '../src/pipelines/features/compute-feature-group.js';
import { featureGroupSchema } from '../src/pipelines/features/feature-config.js';
import { TECHNICAL } from './support/technical-group.js';
import { macd } from '../src/pipelines/features/macd.js';
import { ema, sma } from '../src/pipelines/features/moving-averages.js';
import { lag } from '../src/pipelines/features/returns.js';
import { rollingStd, rollingVolatility } from '../src/pipelines/features/rolling-stats.js';
import { rsi } from '../src/pipelines/features/rsi.js';

const N = Number(process.env.BENCH_ROWS ?? 3_900_000);
const close = new Float64Array(N);
let p = 100;
let seed = 42;
const rnd = (): number => ((seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31) / 2 ** 31);
for (let i = 0; i < N; i++) {
  p *= Math.exp(0.001 * (rnd() - 0.5));
  close[i] = Math.round(p * 100) / 100;
}
const high = close.map((c) => c + 0.05);
const low = close.map((c) => c - 0.05);
const volume = close.map(() => 1000);
const sessionDate = Array.from({ length: N }, (_, i) => `s${String(Math.floor(i / 390)).padStart(6, "0")}`);
const ts = Float64Array.from({ length: N }, (_, i) => i * 60_000);

function time(label: string, f: () => unknown, reps = 3): void {
  f(); // warm the JIT
  let best = Infinity;
  for (let r = 0; r < reps; r++) {
    const t0 = performance.now();
    f();
    best = Math.min(best, performance.now() - t0);
  }
  console.log(`${label.padEnd(28)} ${best.toFixed(0).padStart(6)} ms  ${(N / best / 1000).toFixed(1).padStart(6)} M rows/s`);
}

time('sma(20)', () => sma(close, 20));
time('ema(12)', () => ema(close, 12));
time('rolling_std(20)', () => rollingStd(close, 20));
time('rolling_volatility(20)', () => rollingVolatility(close, 20));
time('rsi(14)', () => rsi(close, 14));
time('macd(12,26,9)', () => macd(close));
time('bollinger(20,2)', () => bollinger(close, 20, 2));
time('atr(14)', () => atr(high, low, close, 14));
time('lag(5)', () => lag(close, 5));

const group = featureGroupSchema.parse({
  ...TECHNICAL,
  features: [...TECHNICAL.features, { name: 'vwap', fn: 'vwap' }, { name: 'z_20', fn: 'zscore', column: 'close', window: 20 }],
});
time('group: 10 specs, 16 columns', () => computeFeatureGroup({ ts, open: close, high, low, close, volume, sessionDate }, group));
