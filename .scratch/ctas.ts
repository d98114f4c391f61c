import { Lake } from '../src/storage/lake.js';
const lake = await Lake.open({ root: '/tmp/i17/lake-ctas' });
await lake.run(`CREATE OR REPLACE TABLE src AS SELECT '2024-03-04' AS date, 'B' || lpad(CAST(i // 390 AS VARCHAR), 3, '0') AS symbol, i AS slot, 1709562600000 + i AS ts, random() a, random() b, random() c, random() d, random() e, random() f, CAST(i AS BIGINT) g FROM range(195000) t(i)`);
const res = new Map<string, number[]>();
async function t(name: string, sql: string) {
  await lake.run('DROP TABLE IF EXISTS x');
  const c0 = process.cpuUsage();
  await lake.run(sql);
  const c = process.cpuUsage(c0);
  res.set(name, [...(res.get(name) ?? []), Math.round((c.user + c.system) / 1000)]);
}
for (let i = 0; i < 5; i++) {
  await t('temp ctas', `CREATE TEMP TABLE x AS SELECT * FROM src`);
  await t('ctas', `CREATE TABLE x AS SELECT * FROM src`);
  await t('count', `SELECT count(*) FROM (SELECT * FROM src)`);
  await lake.run(`SET preserve_insertion_order = false`);
  await t('temp ctas unordered', `CREATE TEMP TABLE x AS SELECT * FROM src`);
  await lake.run(`SET preserve_insertion_order = true`);
}
for (const [k, v] of res) console.log(k.padEnd(26), v.join(' '));
await lake.close();
