import { Lake } from '../src/storage/lake.js';
import { JS_COMPAT_MACROS } from '../src/data-quality/js-compat-sql.js';
import { dqRulesConfigSchema, gapsConfigSchema } from '../src/data-quality/dq-config.js';
import { compileTransformPlan } from '../src/pipelines/transform-sql-plan.js';
const lake = await Lake.open({ root: '/tmp/i17/lake-bc', threads: 1 });
for (const m of JS_COMPAT_MACROS) await lake.run(m);
await lake.run(`CREATE OR REPLACE TABLE raw AS SELECT 'TWS' AS source, 'A' AS symbol, 1::BIGINT AS con_id, 'TRADES' AS what_to_show, now()::TIMESTAMPTZ AS ts, 1.0::DOUBLE AS open, 1.0::DOUBLE AS high, 1.0::DOUBLE AS low, 1.0::DOUBLE AS close, 1.0::DOUBLE AS volume, 1.0::DOUBLE AS wap, 1::BIGINT AS trade_count, 'b' AS batch_id, now()::TIMESTAMPTZ AS ingestion_ts, 'r' AS request_id, '1min' AS bar_size, '2024-03-04' AS date WHERE false`);
await lake.run(`CREATE OR REPLACE TABLE sy AS SELECT 'A' AS symbol, 0::BIGINT AS cal, 0::BIGINT AS sid WHERE false`);
await lake.run(`CREATE OR REPLACE TABLE se AS SELECT 0::BIGINT AS cal, 'X' AS cal_name, 'd' AS date, 0::BIGINT AS day, 0::BIGINT AS open_ms, 0::BIGINT AS close_ms, 0::BIGINT AS cut_ms, 0::BIGINT AS as_of_ms, 0::BIGINT AS now_ms, true AS final WHERE false`);
await lake.run(`CREATE OR REPLACE TABLE br AS SELECT 0::BIGINT AS cal, 'd' AS date, 0::BIGINT AS start_ms, 0::BIGINT AS end_ms WHERE false`);
const rules = dqRulesConfigSchema.parse({ tws_bars: [
    { type: 'ohlc_consistency', severity: 'error', action: 'quarantine' },
    { type: 'range', field: 'close', min: 0.0001, max: 1_000_000, severity: 'error', action: 'quarantine' },
    { type: 'outlier', field: 'close', window: 60, threshold: 10, severity: 'warn', action: 'log' },
    { type: 'bar_count', tolerance: { fraction: 0.02 }, severity: 'warn', action: 'log' },
    { type: 'staleness', max_age: '15min', severity: 'warn', action: 'log' },
  ] }).tws_bars!;
for (let r = 0; r < 3; r++) {
  const plan = compileTransformPlan({ rules, gaps: gapsConfigSchema.parse({}), barMs: 60000 }, { raw: 'raw', symbols: 'sy', sessions: 'se', breaks: 'br' }, `p${r}`, ['d']);
  const out: string[] = [];
  let tot = 0;
  for (const sql of plan.compute) { const c0 = process.cpuUsage(); await lake.run(sql); const c = process.cpuUsage(c0); const ms = (c.user + c.system) / 1000; tot += ms; out.push(`${/p\d+_(\w+)/.exec(sql.slice(0, 40))?.[1]}=${ms.toFixed(0)}`); }
  for (const q of [plan.countsQuery, plan.datesQuery, plan.cutoffsQuery, plan.quarantineCountsQuery, plan.ruleCountsQuery, plan.reportsQuery, plan.failuresQuery(500, 3)]) { const c0 = process.cpuUsage(); await lake.query(q); const c = process.cpuUsage(c0); tot += (c.user + c.system) / 1000; }
  console.log(`empty-data pass cpu ${tot.toFixed(0)} ms: ${out.join(' ')}`);
  for (const d of plan.drop) await lake.run(d);
}
await lake.close();
