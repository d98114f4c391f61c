// Benchmark: runFeaturePipeline throughput and the event-loop lag it causes (target: lag p99 <
// 100 ms while it runs next to live ingestion). Run: npx tsx bench/feature-pipeline-lag.ts
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { getCalendar } from '../src/calendar/calendar-registry.js';
import { InstrumentCalendars } from '../src/calendar/instrument-calendars.js';
import type { CuratedBarRow } from '../src/core/bars.js';
import { ManualClock } from '../src/core/clock.js';
import { silentLogger } from '../src/ops/logging-setup.js';
import { runFeaturePipeline } from '../src/pipelines/feature-pipeline.js';
import { TECHNICAL } from './support/technical-group.js';
import { resolveSourceDataset } from '../src/pipelines/source-dataset.js';
import { CuratedStore } from '../src/storage/curated-store.js';
import { FeatureStore } from '../src/storage/feature-store.js';
import { Lake } from '../src/storage/lake.js';

const SYMBOLS = Number(process.env.BENCH_SYMBOLS ?? 500);
const SESSIONS = Number(process.env.BENCH_SESSIONS ?? 3);
const group = TECHNICAL;

const dir = mkdtempSync(join(tmpdir(), 'ibpipe-bench-'));
const lake = await Lake.open({ root: dir });
try {
  const symbols = Array.from({ length: SYMBOLS }, (_, i) => `S${String(i).padStart(3, '0')}`);
  const calendars = new InstrumentCalendars(symbols.map((key) => ({ key, calendar: 'XNYS' })));
  const curated = new CuratedStore(lake);
  const sessions = getCalendar('XNYS').sessionsInRange('2024-11-04', '2024-12-31').slice(0, SESSIONS);
  for (const s of sessions) {
    const rows: CuratedBarRow[] = [];
    for (const [k, symbol] of symbols.entries()) {
      for (let ts = s.open; ts < s.close; ts += 60_000) {
        const c = 100 + k / 10 + Math.sin(ts / 3e6 + k) * 2;
        rows.push({ symbol, ts, open: c, high: c + 0.1, low: c - 0.1, close: c, volume: 100, wap: c, trade_count: 1, is_imputed: false, imputation: null, open_imputed: false, high_imputed: false, low_imputed: false, close_imputed: false, volume_imputed: false, wap_imputed: false, trade_count_imputed: false });
      }
    }
    await curated.writeCuratedBars(rows, 'bars_1min', s.date);
  }
  const store = new FeatureStore(lake, calendars, new ManualClock(0));
  const target = sessions[sessions.length - 1]?.date as string;
  const h = monitorEventLoopDelay({ resolution: 5 });
  h.enable();
  const t0 = performance.now();
  const res = await runFeaturePipeline([target], symbols, group, 'v1', { lake, featureStore: store, logger: silentLogger(), source: resolveSourceDataset('bars_1min'), ...(process.env.BATCH_ROWS ? { batchRows: Number(process.env.BATCH_ROWS) } : {}) });
  const ms = performance.now() - t0;
  h.disable();
  process.stdout.write(
    `features for ${target}: ${symbols.length} symbols, ${res.rowsRead} rows read (lookback ${res.lookbackDates.join(', ')}), ${res.rowsWritten} written in ${(ms / 1000).toFixed(1)} s; ` +
      `event-loop lag p50 ${(h.percentile(50) / 1e6).toFixed(1)} ms, p99 ${(h.percentile(99) / 1e6).toFixed(1)} ms, max ${(h.max / 1e6).toFixed(1)} ms\n`,
  );
} finally {
  await lake.close();
  rmSync(dir, { recursive: true, force: true });
}
