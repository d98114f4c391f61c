// Dev helper (not a benchmark): times the live chain's jobs and each DuckDB call on a lake kept by
// `BENCH_KEEP=1 npm run bench -- --only live-latency`. Run: npx tsx bench/profile-live-chain.ts DIR [runs]
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { parseSettings } from '../src/config/settings.js';
import { ManualClock } from '../src/core/clock.js';
import { createAppContext } from '../src/ops/app-context.js';
import { createLogger } from '../src/ops/logging-setup.js';
import { executeJob } from '../src/ops/orchestrator-adapter.js';
import { Lake } from '../src/storage/lake.js';
import { benchSymbols, configInstruments } from './support/synthetic-market.js';
import { TECHNICAL } from './support/technical-group.js';

const dir = process.argv[2] as string;
const runs = Number(process.argv[3] ?? 3);
const spans: { sql: string; ms: number }[] = [];
for (const m of ['run', 'query', 'queryColumns', 'readDoubles', 'writeParquetAtomic', 'stage', 'createTempTable'] as const) {
  const orig = (Lake.prototype as unknown as Record<string, (...a: unknown[]) => Promise<unknown>>)[m];
  if (!orig) continue;
  (Lake.prototype as unknown as Record<string, unknown>)[m] = async function (this: Lake, ...a: unknown[]) {
    const explain = process.env.EXPLAIN && m === 'run' && typeof a[0] === 'string' ? new RegExp(`^CREATE TEMP TABLE \\w+_(${process.env.EXPLAIN}) AS`).exec(a[0]) : null;
    if (explain && typeof a[0] === 'string') {
      const rows = (await (Lake.prototype.query as (sql: string) => Promise<Record<string, unknown>[]>).call(this, `EXPLAIN ANALYZE ${a[0].slice(explain[0].length)}`)) as Record<string, unknown>[];
      for (const r of rows) console.log(String(r['explain_value'] ?? JSON.stringify(r)));
    }
    const t = performance.now();
    try {
      return await orig.apply(this, a);
    } finally {
      spans.push({ sql: `${m}: ${String(typeof a[0] === 'string' ? a[0] : typeof a[1] === 'string' ? a[1] : '').replace(/\s+/g, ' ').slice(0, 110)}`, ms: performance.now() - t });
    }
  };
}
class Sink extends Writable {
  override _write(_c: Buffer, _e: string, cb: () => void): void {
    cb();
  }
}
const n = Number(process.env.N ?? 500);
const symbols = benchSymbols(n);
const settings = parseSettings({
  lake: { root: dir },
  instruments: configInstruments(symbols),
  feature_groups: [TECHNICAL],
  models: [{ name: 'bench', kind: 'local', path: join(dir, 'model.json'), feature_group: 'technical', feature_version: 'v1' }],
  http: { enabled: false },
});
const clock = new ManualClock(0);
const app = await createAppContext(settings, { clock, logger: createLogger({ level: 'info', format: 'json', destination: new Sink() }) });
const latest = await app.rawStore.latestBarTimes('1 min');
const newest = Math.max(...[...latest.values()].map((x) => x ?? 0));
await clock.advance(newest + 60_000 + 6_000);
if (!process.env.NOCACHE) app.rawStore.cacheRecentDates();
const date = '2024-03-05';
for (let i = 0; i < runs; i++) {
  for (const [job, params] of [
    ['transform', { date }],
    ['features', { date, group: 'technical', version: 'v1' }],
    ['score', { date, latest: true }],
  ] as const) {
    spans.length = 0;
    const t = performance.now();
    const r = await executeJob(app, job, params);
    const total = performance.now() - t;
    console.log(`${job} run ${i}: ${total.toFixed(0)} ms (${r.record.status}) counts ${JSON.stringify(r.record.counts).slice(0, 200)}`);
    for (const s of [...spans].sort((a, b) => b.ms - a.ms).slice(0, 8)) console.log(`   ${s.ms.toFixed(0).padStart(6)} ms  ${s.sql}`);
    console.log(`   sum of ${spans.length} lake calls: ${spans.reduce((a, s) => a + s.ms, 0).toFixed(0)} ms`);
  }
}
await app.close();
