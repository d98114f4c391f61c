// Benchmark: FeatureStore.getFeaturesForInference on 500 symbols x 20 XNYS sessions of 1-min
// feature rows (target: p99 < 20 ms for the whole universe). Run: npx tsx bench/feature-inference.ts
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { InstrumentCalendars } from '../src/calendar/instrument-calendars.js';
import { getCalendar } from '../src/calendar/calendar-registry.js';
import { ManualClock } from '../src/core/clock.js';
import { FeatureStore } from '../src/storage/feature-store.js';
import { Lake } from '../src/storage/lake.js';

const SYMBOLS = Number(process.env.BENCH_SYMBOLS ?? 500);
const SESSIONS = Number(process.env.BENCH_SESSIONS ?? 20);
const LOOKUPS = Number(process.env.BENCH_LOOKUPS ?? 300);
const FEATURES = ['sma_20', 'ema_12', 'rsi_14', 'macd', 'macd_signal', 'macd_hist', 'bb_20_lower', 'bb_20_mid', 'bb_20_upper', 'atr_14', 'vol_20', 'close_lag_1', 'close_lag_5', 'close_lag_10'];
const MASKS = ['open_imputed', 'high_imputed', 'low_imputed', 'close_imputed', 'volume_imputed', 'wap_imputed', 'trade_count_imputed'];

function percentile(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)] as number;
}

const dir = mkdtempSync(join(tmpdir(), 'ibpipe-bench-'));
const lake = await Lake.open({ root: dir });
try {
  const symbols = Array.from({ length: SYMBOLS }, (_, i) => `S${String(i).padStart(3, '0')}`);
  const calendars = new InstrumentCalendars(symbols.map((key) => ({ key, calendar: 'XNYS' })));
  const store = new FeatureStore(lake, calendars, new ManualClock(Date.parse('2024-12-31T00:00:00Z')));
  const sessions = getCalendar('XNYS').sessionsInRange('2024-11-01', '2025-01-31').slice(0, SESSIONS);
  const t0 = performance.now();
  for (const session of sessions) {
    const bars = (session.close - session.open) / 60_000;
    const n = symbols.length * bars;
    const data: Record<string, unknown[] | Float64Array> = {
      symbol: new Array<string>(n),
      ts: new Float64Array(n),
      available_ts: new Float64Array(n),
      is_imputed: new Array<boolean>(n),
      imputation: new Array<null>(n).fill(null),
    };
    for (const m of MASKS) data[m] = new Array<boolean>(n).fill(false);
    for (const f of FEATURES) data[f] = new Float64Array(n);
    let k = 0;
    for (const s of symbols) {
      for (let b = 0; b < bars; b++, k++) {
        (data.symbol as string[])[k] = s;
        (data.ts as Float64Array)[k] = session.open + b * 60_000;
        (data.available_ts as Float64Array)[k] = session.open + (b + 1) * 60_000;
        (data.is_imputed as boolean[])[k] = false;
        for (const f of FEATURES) (data[f] as Float64Array)[k] = Math.random() * 100;
      }
    }
    await store.writeFeatures(
      { group: 'technical', version: 'v1', definitionHash: 'ab'.repeat(32), date: session.date, symbols, featureColumns: FEATURES, maskColumns: MASKS },
      data,
      n,
    );
  }
  const last = sessions[sessions.length - 1];
  if (!last) throw new Error('no sessions');
  const lastBars = (last.close - last.open) / 60_000;
  process.stdout.write(`wrote ${sessions.length} sessions x ${symbols.length} symbols in ${((performance.now() - t0) / 1000).toFixed(1)} s\n`);

  const fromFile = new FeatureStore(lake, calendars, new ManualClock(0), { cacheColumns: false });
  await store.preloadPartition('technical', 'v1', last.date);
  for (const [mode, st] of [
    ['in-memory (current session cached)', store],
    ['from Parquet (DuckDB, row groups pruned by symbol)', fromFile],
  ] as const) {
    for (const [label, subset] of [
      ['500 symbols', symbols],
      ['50 symbols', symbols.slice(0, 50)],
      ['1 symbol', symbols.slice(7, 8)],
    ] as const) {
      const times: number[] = [];
      const n = st === store ? LOOKUPS : Math.ceil(LOOKUPS / 5);
      for (let i = 0; i < n; i++) {
        // Anywhere in the last session (only partly available) plus 30 s.
        const asOf = last.open + (1 + Math.floor(Math.random() * (lastBars - 1))) * 60_000 + 30_000;
        const start = performance.now();
        const rows = await st.getFeaturesForInference('technical', 'v1', asOf, subset, 120_000);
        times.push(performance.now() - start);
        const bad = rows.find((r) => r.status !== 'ok');
        if (rows.length !== subset.length || bad) throw new Error(`unexpected result at ${new Date(asOf).toISOString()}: ${JSON.stringify(bad)}`);
      }
      const rest = times.slice(1);
      process.stdout.write(
        `${mode}, ${label}: first ${times[0]?.toFixed(1)} ms, p50 ${percentile(rest, 50).toFixed(1)} ms, p99 ${percentile(rest, 99).toFixed(1)} ms, max ${Math.max(...rest).toFixed(1)} ms (${n} lookups)\n`,
      );
    }
  }
} finally {
  await lake.close();
  rmSync(dir, { recursive: true, force: true });
}
