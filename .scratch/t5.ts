import { Lake } from '../src/storage/lake.js';
const lake = await Lake.open({ root: '/tmp/i17/lake-t5' });
console.log(await lake.query(`SELECT greatest(1, NULL) a, greatest(NULL, NULL::INT) b, least(5, NULL) c, greatest(1, CASE WHEN false THEN 3 END) d`));
await lake.run(`CREATE TABLE g AS SELECT 0 AS cal, 0 AS day, unnest(range(10)) AS slot, unnest(range(100, 110)) AS ts`);
console.log(await lake.query(`SELECT x.k, coalesce(g.slot + 1, 0) n FROM (VALUES (1, 0, 0, 105), (2, 0, 0, NULL), (3, 0, 0, 50), (4, 0, 0, 200)) x(k, cal, day, cut) ASOF LEFT JOIN g ON g.cal = x.cal AND g.day = x.day AND x.cut >= g.ts ORDER BY k`));
await lake.close();
