import { Lake } from '../src/storage/lake.js';
const lake = await Lake.open({ root: '/tmp/i17/lake-ts2', threads: 1 });
console.log(await lake.query(`SELECT count(*) FILTER (WHERE to_timestamp(ms / 1000.0) <> CAST(epoch_ms(ms) AS TIMESTAMPTZ)) AS bad, count(*) n
  FROM (SELECT CAST(random() * 4e12 AS BIGINT) - 1e12::BIGINT AS ms FROM range(3000000)) UNION ALL
  SELECT count(*) FILTER (WHERE to_timestamp(ms / 1000.0) <> CAST(epoch_ms(ms) AS TIMESTAMPTZ)), count(*) FROM (SELECT 1709562600000 + i AS ms FROM range(2000000) t(i))`));
await lake.close();
