import { Lake } from '../src/storage/lake.js';
import { RawStore } from '../src/storage/raw-store.js';
import { benchCalendars, benchSymbols } from '../bench/support/synthetic-market.js';
const [dir, n] = process.argv.slice(2) as [string, string];
const lake = await Lake.open({ root: dir });
const raw = new RawStore(lake, benchCalendars(benchSymbols(Number(n))));
const rel = raw.relationSql({ start: '2024-01-01', end: '2025-01-01' });
const res = new Map<string, number[]>();
async function t(name: string, sql: string) {
  await lake.run('DROP TABLE IF EXISTS x');
  const c0 = process.cpuUsage();
  await lake.run(sql);
  const c = process.cpuUsage(c0);
  res.set(name, [...(res.get(name) ?? []), Math.round((c.user + c.system) / 1000)]);
}
for (let i = 0; i < 4; i++) {
await t('scan', `CREATE TEMP TABLE x AS SELECT * FROM ${rel}`);
await t('V1 row_number part ts', `CREATE TEMP TABLE x AS SELECT * FROM ${rel} QUALIFY row_number() OVER (PARTITION BY date, symbol, ts ORDER BY ingestion_ts DESC, batch_id DESC) = 1`);
await t('V2 lag part symbol', `CREATE TEMP TABLE x AS SELECT * FROM ${rel} QUALIFY lag(ts) OVER (PARTITION BY date, symbol ORDER BY ts, ingestion_ts DESC, batch_id DESC) IS DISTINCT FROM ts`);
await t('V2b lag + lead count', `CREATE TEMP TABLE x AS SELECT * FROM ${rel} QUALIFY lag(ts) OVER (PARTITION BY date, symbol ORDER BY ts, ingestion_ts DESC, batch_id DESC) IS DISTINCT FROM ts`);
await t('V3 distinct on', `CREATE TEMP TABLE x AS SELECT DISTINCT ON (date, symbol, ts) * FROM ${rel} ORDER BY date, symbol, ts, ingestion_ts DESC, batch_id DESC`);
await t('V5 row_number no part', `CREATE TEMP TABLE x AS SELECT *, row_number() OVER (ORDER BY date, symbol, ts, ingestion_ts DESC, batch_id DESC) AS k FROM ${rel}`);
await t('count per date', `CREATE TEMP TABLE x AS SELECT date, count(*) FROM ${rel} GROUP BY date`);
}
for (const [k, v] of res) console.log(k.padEnd(26), v.join(' '));
await lake.close();
