import { Lake } from '../src/storage/lake.js';
import { JS_COMPAT_MACROS } from '../src/data-quality/js-compat-sql.js';
import { dqRuleSchema } from '../src/data-quality/dq-config.js';
import { rowRuleFailuresSql, type RowDqRule } from '../src/data-quality/rules-sql.js';
const lake = await Lake.open({ root: '/tmp/i17/lake-out2', threads: 1 });
for (const m of JS_COMPAT_MACROS) await lake.run(m);
await lake.run(`CREATE OR REPLACE TABLE v AS SELECT CAST(i // 390 AS BIGINT) AS gid, 'd' AS date, 'S' || (i // 390) AS symbol, 1709562600000 + (i % 390) * 60000 AS ts, 100 * exp(0.001 * sin(i)) + random() AS close FROM range(195000) t(i)`);
const rule = dqRuleSchema.parse({ type: 'outlier', field: 'close', window: 60, threshold: 10 }) as RowDqRule;
const sql = rowRuleFailuresSql(rule, 'v') as string;
const res = new Map<string, number[]>();
async function t(name: string, q: string) {
  await lake.run('DROP TABLE IF EXISTS x');
  const c0 = process.cpuUsage();
  await lake.run(`CREATE TEMP TABLE x AS ${q}`);
  const c = process.cpuUsage(c0);
  res.set(name, [...(res.get(name) ?? []), Math.round((c.user + c.system) / 1000)]);
}
for (let i = 0; i < 5; i++) {
  await t('current', sql);
  await t('not materialized', sql.replace('AS MATERIALIZED', 'AS'));
  await t('empty input', sql.replace(/FROM v\b/g, 'FROM (SELECT * FROM v WHERE false)'));
}
for (const [k, v] of res) console.log(k.padEnd(20), v.join(' '), 'min', Math.min(...v));
await lake.close();
