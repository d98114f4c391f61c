import { Lake } from '../src/storage/lake.js';
const lake = await Lake.open({ root: '/tmp/i17/lake-bits', threads: 1 });
console.log(await lake.query(`WITH o(g, s) AS (VALUES (1, 0), (1, 2), (1, 5), (2, 1))
 SELECT g, bitstring_agg(s, 0, 7)::VARCHAR AS b, get_bit(bitstring_agg(s, 0, 7), 2) AS b2, get_bit(bitstring_agg(s, 0, 7), 1) AS b1 FROM o GROUP BY g ORDER BY g`));
await lake.close();
