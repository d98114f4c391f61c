import { Lake } from '../src/storage/lake.js';
const lake = await Lake.open({ root: '/tmp/i17/lake-fill' });
// 500 symbols x 390 slots, 1% missing
await lake.run(`CREATE OR REPLACE TABLE s AS SELECT '2024-03-04' AS date, 'B' || lpad(CAST(i // 390 AS VARCHAR), 3, '0') AS symbol, 1709562600000 + (i % 390) * 60000 AS ts, i % 390 AS slot, 390 AS n_slots,
  random() > 0.01 AS obs FROM range(195000) t(i)`);
await lake.run(`CREATE OR REPLACE TABLE s2 AS SELECT *, CASE WHEN obs THEN 100 + random() END AS close, CASE WHEN obs THEN 100 + random() END AS open, CASE WHEN obs THEN 100 + random() END AS high, CASE WHEN obs THEN 100 + random() END AS low,
  CASE WHEN obs THEN random()*1000 END AS volume, CASE WHEN obs THEN 100 + random() END AS wap, CASE WHEN obs THEN 5 END AS trade_count FROM s`);
const res = new Map<string, number[]>();
async function t(name: string, sql: string) {
  await lake.run('DROP TABLE IF EXISTS x');
  const c0 = process.cpuUsage(); const t0 = performance.now();
  await lake.run(`CREATE TEMP TABLE x AS ${sql}`);
  const c = process.cpuUsage(c0);
  res.set(name, [...(res.get(name) ?? []), Math.round((c.user + c.system) / 1000), Math.round(performance.now() - t0)]);
}
const P = 'PARTITION BY date, symbol ORDER BY slot';
for (let i = 0; i < 3; i++) {
  await t('copy', `SELECT * FROM s2`);
  await t('pre max', `SELECT *, max(CASE WHEN obs THEN slot END) OVER (${P} ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) p FROM s2`);
  await t('pre max + ff2', `SELECT *, max(CASE WHEN obs THEN slot END) OVER w p, last_value(close IGNORE NULLS) OVER w fc, last_value(wap IGNORE NULLS) OVER w fw FROM s2 WINDOW w AS (${P} ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW)`);
  await t('pre + fol', `SELECT *, max(CASE WHEN obs THEN slot END) OVER w p, min(CASE WHEN obs THEN slot END) OVER (${P} ROWS BETWEEN CURRENT ROW AND UNBOUNDED FOLLOWING) q, last_value(close IGNORE NULLS) OVER w fc, last_value(wap IGNORE NULLS) OVER w fw FROM s2 WINDOW w AS (${P} ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW)`);
  await t('pre + agg runs', `WITH a AS (SELECT *, max(CASE WHEN obs THEN slot END) OVER w p, last_value(close IGNORE NULLS) OVER w fc, last_value(wap IGNORE NULLS) OVER w fw FROM s2 WINDOW w AS (${P} ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW)),
     r AS (SELECT date, symbol, p, count(*) AS n FROM a WHERE NOT obs GROUP BY ALL)
     SELECT a.*, r.n FROM a LEFT JOIN r ON r.date = a.date AND r.symbol = a.symbol AND r.p IS NOT DISTINCT FROM a.p AND NOT a.obs`);
  await t('narrow windows + join', `WITH a AS (SELECT date, symbol, slot, max(CASE WHEN obs THEN slot END) OVER w p, min(CASE WHEN obs THEN slot END) OVER (${P} ROWS BETWEEN CURRENT ROW AND UNBOUNDED FOLLOWING) q, last_value(close IGNORE NULLS) OVER w fc, last_value(wap IGNORE NULLS) OVER w fw FROM s2 WINDOW w AS (${P} ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW))
     SELECT s2.*, a.p, a.q, a.fc, a.fw FROM s2 JOIN a USING (date, symbol, slot)`);
  await t('windows on missing only', `WITH m AS (SELECT date, symbol, slot FROM s2 WHERE NOT obs),
     o AS (SELECT date, symbol, slot, close, wap FROM s2 WHERE obs),
     prev AS (SELECT m.date, m.symbol, m.slot, o.slot AS p, o.close AS fc FROM m ASOF LEFT JOIN o ON o.date = m.date AND o.symbol = m.symbol AND o.slot <= m.slot),
     nxt AS (SELECT m.date, m.symbol, m.slot, o.slot AS q FROM m ASOF LEFT JOIN o ON o.date = m.date AND o.symbol = m.symbol AND o.slot >= m.slot)
     SELECT s2.*, prev.p, prev.fc, nxt.q FROM s2 LEFT JOIN prev USING (date, symbol, slot) LEFT JOIN nxt USING (date, symbol, slot)`);
  await t('sort only', `SELECT * FROM s2 ORDER BY date, symbol, slot`);
}
for (const [k, v] of res) console.log(k.padEnd(26), v.join(' '));
await lake.close();
