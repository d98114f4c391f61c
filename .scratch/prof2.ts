import { readFileSync } from 'node:fs';
import { ManualClock } from '../src/core/clock.js';
import { dqRulesConfigSchema, gapsConfigSchema } from '../src/data-quality/dq-config.js';
import { silentLogger } from '../src/ops/logging-setup.js';
import { runTransformSql } from '../src/pipelines/transform-sql.js';
import { CuratedStore } from '../src/storage/curated-store.js';
import { Lake } from '../src/storage/lake.js';
import { QuarantineStore } from '../src/storage/quarantine-store.js';
import { RawStore } from '../src/storage/raw-store.js';
import { JsonlLedger } from '../src/storage/state-store.js';
import { benchCalendars, benchSessions, benchSymbols } from '../bench/support/synthetic-market.js';
const [dir, n, filter] = process.argv.slice(2) as [string, string, string];
const lake = await Lake.open({ root: dir, threads: 1 });
const symbols = benchSymbols(Number(n));
const calendars = benchCalendars(symbols);
const [session] = benchSessions(1);
const run = lake.run.bind(lake);
interface Node { operator_name?: string; operator_type?: string; operator_timing?: number; children?: Node[]; extra_info?: Record<string, unknown>; operator_cardinality?: number }
function walk(n: Node, depth: number, out: string[]) {
  const t = n.operator_timing ?? 0;
  if (t > 0.005) out.push(`${'  '.repeat(depth)}${(n.operator_name ?? n.operator_type ?? '?').trim()} ${(t * 1000).toFixed(0)}ms rows=${n.operator_cardinality ?? ''} ${JSON.stringify(n.extra_info ?? {}).slice(0, 100)}`);
  for (const c of n.children ?? []) walk(c, depth + 1, out);
}
lake.run = async (sql: string) => {
  if (new RegExp(filter).test(sql.slice(0, 60))) {
    await run(`SET enable_profiling = 'json'`);
    await run(`SET profiling_output = '/tmp/i17/prof.json'`);
    await run(sql);
    await run(`SET enable_profiling = 'no_output'`);
    await run(`PRAGMA disable_profiling`);
    const j = JSON.parse(readFileSync('/tmp/i17/prof.json', 'utf8')) as Node;
    const out: string[] = [];
    walk(j, 0, out);
    console.log('=====', sql.replace(/\s+/g, ' ').slice(0, 60), '\n' + out.join('\n'));
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
await lake.close();
