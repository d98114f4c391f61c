import { rmSync } from 'node:fs';
import { ManualClock } from '../src/core/clock.js';
import { dqRulesConfigSchema, gapsConfigSchema } from '../src/data-quality/dq-config.js';
import { silentLogger } from '../src/ops/logging-setup.js';
import { TransformPass } from '../src/pipelines/transform-sql.js';
import { CuratedStore } from '../src/storage/curated-store.js';
import { Lake } from '../src/storage/lake.js';
import { QuarantineStore } from '../src/storage/quarantine-store.js';
import { RawStore } from '../src/storage/raw-store.js';
import { JsonlLedger } from '../src/storage/state-store.js';
import { benchCalendars, benchSessions, benchSymbols } from '../bench/support/synthetic-market.js';
const [dir, n, reps] = process.argv.slice(2) as [string, string, string];
const lake = await Lake.open({ root: dir, threads: 1 });
const symbols = benchSymbols(Number(n));
const calendars = benchCalendars(symbols);
const [session] = benchSessions(1);
const acc = new Map<string, number>();
for (const m of ['run', 'query', 'stage', 'dropTable', 'queryColumns', 'writeParquetAtomic'] as const) {
  const orig = (lake as any)[m].bind(lake);
  (lake as any)[m] = async (...a: unknown[]) => { const c0 = process.cpuUsage(); try { return await orig(...a); } finally { const c = process.cpuUsage(c0); acc.set(m, (acc.get(m) ?? 0) + (c.user + c.system) / 1000); } };
}
const deps = { lake, rawStore: new RawStore(lake, calendars), curatedStore: new CuratedStore(lake), quarantineStore: new QuarantineStore(lake), dqLedger: new JsonlLedger<any>(lake.path('state', 'dq.jsonl')), calendars, clock: new ManualClock(session!.close + 3600000), logger: silentLogger(),
  dqRules: dqRulesConfigSchema.parse({ tws_bars: [
    { type: 'ohlc_consistency', severity: 'error', action: 'quarantine' },
    { type: 'range', field: 'close', min: 0.0001, max: 1_000_000, severity: 'error', action: 'quarantine' },
    { type: 'outlier', field: 'close', window: 60, threshold: 10, severity: 'warn', action: 'log' },
    { type: 'bar_count', tolerance: { fraction: 0.02 }, severity: 'warn', action: 'log' },
    { type: 'staleness', max_age: '15min', severity: 'warn', action: 'log' },
  ] }), gaps: gapsConfigSchema.parse({}), barSize: '1 min' as const };
for (let r = 0; r < Number(reps); r++) {
  rmSync(lake.path('curated'), { recursive: true, force: true }); rmSync(lake.path('quarantine'), { recursive: true, force: true });
  acc.clear();
  const c0 = process.cpuUsage(); const t0 = performance.now();
  const pass = await TransformPass.compute([session!.date], undefined, deps);
  const c1 = process.cpuUsage(c0);
  await pass.publish(session!.date);
  await pass.dispose();
  const c2 = process.cpuUsage(c0);
  const tot = (c2.user + c2.system) / 1000;
  const lakeSum = [...acc.values()].reduce((a, b) => a + b, 0);
  console.log(`total ${tot.toFixed(0)} (compute ${((c1.user + c1.system) / 1000).toFixed(0)}) wall ${(performance.now() - t0).toFixed(0)} lake ${lakeSum.toFixed(0)} other ${(tot - lakeSum).toFixed(0)} :: ${[...acc].map(([k, v]) => `${k}=${v.toFixed(0)}`).join(' ')}`);
}
await lake.close();
