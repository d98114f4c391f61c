import { Lake } from '../src/storage/lake.js';
const lake = await Lake.open({ root: '/tmp/i17/lake-part', threads: 2 });
await lake.run(`CREATE OR REPLACE TABLE t AS SELECT 'D' || lpad(CAST(i % 50 AS VARCHAR), 2, '0') AS date, 'S' || lpad(CAST((i * 7919) % 100 AS VARCHAR), 3, '0') AS symbol, i AS ts, random() AS v FROM range(2000000) x(i)`);
await lake.run(`COPY (SELECT * FROM t ORDER BY date, symbol, ts) TO '/tmp/i17/partout' (FORMAT parquet, PARTITION_BY (date), OVERWRITE_OR_IGNORE)`);
const r = await lake.query(`SELECT filename, count(*) n, sum(CASE WHEN ok THEN 0 ELSE 1 END) AS bad FROM (
  SELECT filename, (symbol, ts) >= lag((symbol, ts)) OVER (PARTITION BY filename ORDER BY file_row_number) OR lag(ts) OVER (PARTITION BY filename ORDER BY file_row_number) IS NULL AS ok
  FROM read_parquet('/tmp/i17/partout/*/*.parquet', filename = true, file_row_number = true)) GROUP BY filename ORDER BY bad DESC LIMIT 5`);
console.log(r);
await lake.close();
