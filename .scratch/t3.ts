import { JS_TEXT_MACROS } from '../src/data-quality/js-text-sql.js';
import { Lake } from '../src/storage/lake.js';
const lake = await Lake.open({ root: '/tmp/i17/lake-t3' });
for (const m of JS_TEXT_MACROS) await lake.run(m);
for (const n of [1, 1000, 100000]) {
  const t0 = performance.now();
  await lake.query(`SELECT count(DISTINCT ibp_js_num(random() * 1000)) FROM range(${n})`);
  console.log(n, 'num', performance.now() - t0);
  const t1 = performance.now();
  await lake.query(`SELECT count(DISTINCT ibp_js_iso(CAST(random() * 1e12 AS BIGINT))) FROM range(${n})`);
  console.log(n, 'iso', performance.now() - t1);
  const t2 = performance.now();
  await lake.query(`SELECT count(DISTINCT ibp_js_precision4(random() * 1000)) FROM range(${n})`);
  console.log(n, 'p4', performance.now() - t2);
}
await lake.close();
