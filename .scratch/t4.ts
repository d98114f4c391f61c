import { Lake } from '../src/storage/lake.js';
const lake = await Lake.open({ root: '/tmp/i17/lake-t4' });
console.log(await lake.query(`WITH t(i, x) AS (VALUES (0, 1.0), (1, NULL), (2, 3.0), (3, NULL), (4, 5.0))
 SELECT i, x, lag(x IGNORE NULLS) OVER (ORDER BY i) AS px, count(x) OVER (ORDER BY i ROWS UNBOUNDED PRECEDING) AS c FROM t ORDER BY i`));
await lake.close();
