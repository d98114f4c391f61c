import { Lake } from '../src/storage/lake.js';
const lake = await Lake.open({ root: '/tmp/i17/lake-ctas2', threads: 2 });
await lake.run(`CREATE OR REPLACE TABLE src AS SELECT CAST(i // 390 AS BIGINT) gid, '2024-03-04' AS date, 'B' || lpad(CAST(i // 390 AS VARCHAR), 4, '0') AS symbol, i % 390 AS slot, 1709562600000 + i AS ts, random() a, random() b, random() c, random() d, random() e, random() f, CAST(i AS BIGINT) g FROM range(1950000) t(i)`);
const res = new Map<string, number[]>();
async function t(name: string, sql: string) {
  await lake.run('DROP TABLE IF EXISTS x');
  const c0 = process.cpuUsage(); const t0 = performance.now();
  await lake.run(sql);
  const c = process.cpuUsage(c0);
  res.set(name, [...(res.get(name) ?? []), Math.round((c.user + c.system) / 1000), Math.round(performance.now() - t0)]);
}
for (let i = 0; i < 3; i++) {
  await t('with strings', `CREATE TEMP TABLE x AS SELECT * FROM src`);
  await t('no strings', `CREATE TEMP TABLE x AS SELECT * EXCLUDE (date, symbol) FROM src`);
  await t('with strings, filter', `CREATE TEMP TABLE x AS SELECT * FROM src WHERE a < 2`);
}
for (const [k, v] of res) console.log(k.padEnd(26), v.join(' '));
await lake.close();
