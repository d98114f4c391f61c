import { Lake } from '../src/storage/lake.js';
const lake = await Lake.open({ root: '/tmp/i17/lake-lw' });
await lake.run(`CREATE TABLE t AS SELECT (i // 390) AS sym, i % 390 AS ts, ln(1 + random()*0.01) AS r FROM range(195000) tt(i)`);
const w = 60;
let t0 = performance.now();
await lake.query(`SELECT count(*) FROM (SELECT sym, ts, r, count(r) OVER w n, avg(r) OVER w m, stddev_samp(r) OVER w sd FROM t WINDOW w AS (PARTITION BY sym ORDER BY ts ROWS BETWEEN ${w} PRECEDING AND 1 PRECEDING)) WHERE n = ${w} AND abs((r-m)/sd) > 3`);
console.log('approx', performance.now() - t0);
t0 = performance.now();
await lake.query(`SELECT count(*) FROM (
  SELECT *, (r - mean) / sqrt(list_reduce(list_transform(l, b -> (b - mean) * (b - mean)), (a, b) -> a + b) / ${w - 1}) AS z FROM (
    SELECT *, list_reduce(l, (a, b) -> a + b) / ${w} AS mean FROM (
      SELECT sym, ts, r, list(r) OVER w AS l FROM t WINDOW w AS (PARTITION BY sym ORDER BY ts ROWS BETWEEN ${w} PRECEDING AND 1 PRECEDING))
    WHERE len(l) = ${w}))
  WHERE abs(z) > 3`);
console.log('exact', performance.now() - t0);
await lake.close();
