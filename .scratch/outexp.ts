import { Lake } from '../src/storage/lake.js';
const lake = await Lake.open({ root: '/tmp/i17/lake-out', threads: 1 });
await lake.run(`CREATE OR REPLACE TABLE v AS SELECT CAST(i // 390 AS BIGINT) AS gid, 1709562600000 + (i % 390) * 60000 AS ts, 100 * exp(0.001 * sin(i)) + random() AS close FROM range(195000) t(i)`);
const res = new Map<string, number[]>();
async function t(name: string, sql: string) {
  await lake.run('DROP TABLE IF EXISTS x');
  const c0 = process.cpuUsage();
  await lake.run(`CREATE TEMP TABLE x AS ${sql}`);
  const c = process.cpuUsage(c0);
  res.set(name, [...(res.get(name) ?? []), Math.round((c.user + c.system) / 1000)]);
}
const w = 60;
for (let i = 0; i < 5; i++) {
  await t('A lag + sliding', `WITH u AS (SELECT gid, ts, close AS x, lag(close) OVER (PARTITION BY gid ORDER BY ts) AS px, row_number() OVER (PARTITION BY gid ORDER BY ts) - 1 AS rn FROM v)
    SELECT gid, ts, rn, ln(x/px) r, sum(ln(x/px)) OVER p AS s1, sum(ln(x/px)*ln(x/px)) OVER p AS s2 FROM u WINDOW p AS (PARTITION BY gid ORDER BY rn ROWS BETWEEN ${w} PRECEDING AND 1 PRECEDING)`);
  await t('B lag + cumsum + lag', `WITH u AS (SELECT gid, ts, close AS x, lag(close) OVER (PARTITION BY gid ORDER BY ts) AS px, row_number() OVER (PARTITION BY gid ORDER BY ts) - 1 AS rn FROM v),
    c AS (SELECT *, sum(coalesce(ln(x/px), 0)) OVER p AS c1, sum(coalesce(ln(x/px)*ln(x/px), 0)) OVER p AS c2 FROM u WINDOW p AS (PARTITION BY gid ORDER BY rn ROWS UNBOUNDED PRECEDING))
    SELECT gid, ts, rn, lag(c1, 1) OVER q - lag(c1, ${w + 1}) OVER q AS s1, lag(c2, 1) OVER q - lag(c2, ${w + 1}) OVER q AS s2 FROM c WINDOW q AS (PARTITION BY gid ORDER BY rn)`);
  await t('C lag only', `SELECT gid, ts, close AS x, lag(close) OVER (PARTITION BY gid ORDER BY ts) AS px, row_number() OVER (PARTITION BY gid ORDER BY ts) - 1 AS rn FROM v`);
  await t('D lag + sliding by ts', `WITH u AS (SELECT gid, ts, close AS x, lag(close) OVER (PARTITION BY gid ORDER BY ts) AS px FROM v)
    SELECT gid, ts, ln(x/px) r, sum(ln(x/px)) OVER p AS s1, sum(ln(x/px)*ln(x/px)) OVER p AS s2 FROM u WINDOW p AS (PARTITION BY gid ORDER BY ts ROWS BETWEEN ${w} PRECEDING AND 1 PRECEDING)`);
  await t('E one level: lag + sliding of L', `SELECT gid, ts, ln(close) - ln(lag(close) OVER p) AS r, lag(ln(close), 1) OVER p - lag(ln(close), ${w + 1}) OVER p AS s1, sum(ln(close)*ln(close)) OVER (p ROWS BETWEEN ${w} PRECEDING AND 1 PRECEDING) AS s2 FROM v WINDOW p AS (PARTITION BY gid ORDER BY ts)`);
}
for (const [k, v] of res) console.log(k.padEnd(34), v.join(' '), 'min', Math.min(...v));
await lake.close();
