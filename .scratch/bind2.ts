import { Lake } from '../src/storage/lake.js';
const lake = await Lake.open({ root: '/tmp/i17/lake-bind2' });
const pos = (s: string) => `CASE
     WHEN NOT contains(${s}, 'e') THEN regexp_replace(${s}, '[.]0$', '')
     WHEN CAST(split_part(${s}, 'e', 2) AS INTEGER) BETWEEN -6 AND -1 THEN '0.' || repeat('0', -CAST(split_part(${s}, 'e', 2) AS INTEGER) - 1) || replace(split_part(${s}, 'e', 1), '.', '')
     WHEN CAST(split_part(${s}, 'e', 2) AS INTEGER) BETWEEN 0 AND 20 THEN replace(split_part(${s}, 'e', 1), '.', '') || repeat('0', CAST(split_part(${s}, 'e', 2) AS INTEGER) + 1 - length(replace(split_part(${s}, 'e', 1), '.', '')))
     ELSE regexp_replace(${s}, 'e([-+])0*([0-9])', 'e\\1\\2') END`;
const numA = (x: string) => `CASE WHEN ${x} IS NULL THEN 'null' WHEN isnan(CAST(${x} AS DOUBLE)) THEN 'NaN' WHEN CAST(${x} AS DOUBLE) = CAST('inf' AS DOUBLE) THEN 'Infinity' WHEN CAST(${x} AS DOUBLE) = CAST('-inf' AS DOUBLE) THEN '-Infinity' WHEN CAST(${x} AS DOUBLE) = 0 THEN '0' WHEN CAST(${x} AS DOUBLE) < 0 THEN '-' || ${pos(`CAST(-CAST(${x} AS DOUBLE) AS VARCHAR)`)} ELSE ${pos(`CAST(CAST(${x} AS DOUBLE) AS VARCHAR)`)} END`;
const numB = (x: string) => `list_transform([CAST(${x} AS DOUBLE)], v -> CASE WHEN v IS NULL THEN 'null' WHEN isnan(v) THEN 'NaN' WHEN v = CAST('inf' AS DOUBLE) THEN 'Infinity' WHEN v = CAST('-inf' AS DOUBLE) THEN '-Infinity' WHEN v = 0 THEN '0' ELSE (CASE WHEN v < 0 THEN '-' ELSE '' END) || list_transform([CAST(abs(v) AS VARCHAR)], s -> ${pos('s')})[1] END)[1]`;
await lake.run(`CREATE TEMP MACRO mpos(s) AS ${pos('s')}`);
const numC = (x: string) => `list_transform([CAST(${x} AS DOUBLE)], v -> CASE WHEN v IS NULL THEN 'null' WHEN isnan(v) THEN 'NaN' WHEN v = CAST('inf' AS DOUBLE) THEN 'Infinity' WHEN v = CAST('-inf' AS DOUBLE) THEN '-Infinity' WHEN v = 0 THEN '0' ELSE (CASE WHEN v < 0 THEN '-' ELSE '' END) || mpos(CAST(abs(v) AS VARCHAR)) END)[1]`;
for (const [name, f] of [['A', numA], ['B', numB], ['C', numC]] as const) {
  for (const k of [1, 10]) {
    const sql = `SELECT ${Array.from({ length: k }, (_, i) => `${f(`((range+${i})*1.5)`)} AS c${i}`).join(', ')} FROM range(3)`;
    const t0 = performance.now();
    let out;
    for (let r = 0; r < 5; r++) out = await lake.query(sql);
    console.log(name, k, ((performance.now() - t0) / 5).toFixed(1), 'ms', JSON.stringify(out?.[2]).slice(0, 60));
  }
}
await lake.close();
