import { Lake } from '../src/storage/lake.js';
import { RawStore } from '../src/storage/raw-store.js';
import { benchCalendars, benchSymbols } from '../bench/support/synthetic-market.js';
const [dir, n] = process.argv.slice(2) as [string, string];
const lake = await Lake.open({ root: dir });
const raw = new RawStore(lake, benchCalendars(benchSymbols(Number(n))));
const rel = raw.relationSql({ start: '2024-01-01', end: '2025-01-01' });
async function t(name: string, sql: string) {
  await lake.run('DROP TABLE IF EXISTS x');
  const c0 = process.cpuUsage(); const t0 = performance.now();
  await lake.run(sql);
  const c = process.cpuUsage(c0);
  console.log(name.padEnd(30), 'wall', (performance.now() - t0).toFixed(0), 'cpu', ((c.user + c.system) / 1000).toFixed(0));
}
for (let i = 0; i < 2; i++) {
await t('scan only', `CREATE TEMP TABLE x AS SELECT * FROM ${rel}`);
await t('scan narrow', `CREATE TEMP TABLE x AS SELECT date, symbol, ts, open, high, low, close, volume, wap, trade_count FROM ${rel}`);
await t('window dedup (2 specs)', `CREATE TEMP TABLE x AS SELECT * EXCLUDE (rn) FROM (SELECT *, count(*) OVER (PARTITION BY date, symbol, ts) AS versions, row_number() OVER (PARTITION BY date, symbol, ts ORDER BY ingestion_ts DESC, batch_id DESC, source, request_id, close, open, high, low, volume) AS rn FROM ${rel}) WHERE rn = 1`);
await t('window dedup (1 spec)', `CREATE TEMP TABLE x AS SELECT * FROM ${rel} QUALIFY row_number() OVER (PARTITION BY date, symbol, ts ORDER BY ingestion_ts DESC, batch_id DESC) = 1`);
await t('arg_max dedup', `CREATE TEMP TABLE x AS SELECT date, symbol, ts, count(*) AS versions, arg_max({'source': source, 'con_id': con_id, 'what_to_show': what_to_show, 'bar_size': bar_size, 'open': open, 'high': high, 'low': low, 'close': close, 'volume': volume, 'wap': wap, 'trade_count': trade_count, 'batch_id': batch_id, 'ingestion_ts': ingestion_ts, 'request_id': request_id}, {'i': ingestion_ts, 'b': batch_id, 's': source, 'r': request_id, 'c': close, 'o': open, 'h': high, 'l': low, 'v': volume}) AS w FROM ${rel} GROUP BY ALL`);
await t('group dedup if single', `CREATE TEMP TABLE x AS SELECT * FROM ${rel}`);
}
await lake.close();
