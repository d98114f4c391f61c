import { writeFileSync } from 'node:fs';
import { ManualClock } from '../src/core/clock.js';
import { dqRulesConfigSchema, gapsConfigSchema } from '../src/data-quality/dq-config.js';
import { silentLogger } from '../src/ops/logging-setup.js';
import { runTransformSql } from '../src/pipelines/transform-sql.js';
import { CuratedStore } from '../src/storage/curated-store.js';
import { Lake } from '../src/storage/lake.js';
import { QuarantineStore } from '../src/storage/quarantine-store.js';
import { RawStore } from '../src/storage/raw-store.js';
import { JsonlLedger } from '../src/storage/state-store.js';
import { benchCalendars, benchSessions, benchSymbols, MINUTE } from '../bench/support/synthetic-market.js';
const [dir, n, out] = process.argv.slice(2) as [string, string, string];
const lake = await Lake.open({ root: dir });
const symbols = benchSymbols(Number(n));
const calendars = benchCalendars(symbols);
const [session] = benchSessions(1);
let log = '';
const q = lake.query.bind(lake);
const run = lake.run.bind(lake);
lake.run = async (sql: string) => {
  if (/^\s*(CREATE TEMP TABLE|INSERT|COPY)/.test(sql)) {
    const t0 = performance.now();
    const rows = await q(`EXPLAIN ANALYZE ${sql}`);
    log += `\n\n===== ${(performance.now() - t0).toFixed(0)} ms ${sql.replace(/\s+/g, ' ').slice(0, 100)}\n${rows.map((r) => String(r.explain_value)).join('\n')}`;
    return;
  }
  return run(sql);
};
const deps = { lake, rawStore: new RawStore(lake, calendars), curatedStore: new CuratedStore(lake), quarantineStore: new QuarantineStore(lake), dqLedger: new JsonlLedger<any>(lake.path('state', 'dq.jsonl')), calendars, clock: new ManualClock(session!.close + 3600000), logger: silentLogger(),
  dqRules: dqRulesConfigSchema.parse({ tws_bars: [
    { type: 'ohlc_consistency', severity: 'error', action: 'quarantine' },
    { type: 'range', field: 'close', min: 0.0001, max: 1_000_000, severity: 'error', action: 'quarantine' },
    { type: 'outlier', field: 'close', window: 60, threshold: 10, severity: 'warn', action: 'log' },
    { type: 'bar_count', tolerance: { fraction: 0.02 }, severity: 'warn', action: 'log' },
    { type: 'staleness', max_age: '15min', severity: 'warn', action: 'log' },
  ] }), gaps: gapsConfigSchema.parse({}), barSize: '1 min' as const };
await runTransformSql(session!.date, undefined, deps);
writeFileSync(out, log);
await lake.close();
