import { JS_TEXT_MACROS } from '../src/data-quality/js-text-sql.js';
import { Lake } from '../src/storage/lake.js';
const lake = await Lake.open({ root: '/tmp/i17/lake-bind' });
for (const m of JS_TEXT_MACROS) await lake.run(m);
for (const [name, expr] of [['num', 'ibp_js_num(range * 1.5)'], ['iso', 'ibp_js_iso(range)'], ['p4', 'ibp_js_precision4(range*1.1)'], ['f1', 'ibp_js_fixed1(range*1.1)'], ['plain', 'CAST(range AS VARCHAR)']]) {
  for (const k of [1, 10]) {
    const sql = `SELECT ${Array.from({ length: k }, (_, i) => `${expr.replace('range', `(range+${i})`)} AS c${i}`).join(', ')} FROM range(1)`;
    const t0 = performance.now();
    for (let r = 0; r < 5; r++) await lake.query(sql);
    console.log(name, k, ((performance.now() - t0) / 5).toFixed(1), 'ms');
  }
}
await lake.close();
