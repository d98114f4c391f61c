import { readFileSync } from 'node:fs';
import { Lake } from '../src/storage/lake.js';
import { RawStore } from '../src/storage/raw-store.js';
import { benchCalendars, benchSymbols } from '../bench/support/synthetic-market.js';
const lake = await Lake.open({ root: '/tmp/i17/lake500' });
const raw = new RawStore(lake, benchCalendars(benchSymbols(500)));
const rel = raw.relationSql({ start: '2024-01-01', end: '2025-01-01' });
interface Node { operator_name?: string; operator_timing?: number; children?: Node[] }
function find(n: Node, name: string): number { let t = (n.operator_name ?? '').trim() === name ? (n.operator_timing ?? 0) : 0; for (const c of n.children ?? []) t += find(c, name); return t; }
function total(n: Node): number { let t = n.operator_timing ?? 0; for (const c of n.children ?? []) t += total(c); return t; }
const res = new Map<string, string[]>();
async function t(name: string, sql: string) {
  await lake.run('DROP TABLE IF EXISTS x');
  await lake.run(`SET enable_profiling = 'json'`); await lake.run(`SET profiling_output = '/tmp/i17/pw.json'`);
  await lake.run(`CREATE TEMP TABLE x AS ${sql}`);
  await lake.run(`PRAGMA disable_profiling`);
  const j = JSON.parse(readFileSync('/tmp/i17/pw.json', 'utf8')) as Node;
  res.set(name, [...(res.get(name) ?? []), `${Math.round(find(j, 'WINDOW') * 1000)}/${Math.round(total(j) * 1000)}`]);
}
for (let i = 0; i < 3; i++) {
  await t('date,symbol,ts wide', `SELECT * FROM ${rel} QUALIFY row_number() OVER (PARTITION BY date, symbol, ts ORDER BY ingestion_ts DESC, batch_id DESC) = 1`);
  await t('symbol,ts wide', `SELECT * FROM ${rel} QUALIFY row_number() OVER (PARTITION BY symbol, ts ORDER BY ingestion_ts DESC, batch_id DESC) = 1`);
  await t('date,symbol,ts narrow', `SELECT date, symbol, ts, open, high, low, close, volume, wap, trade_count, batch_id, ingestion_ts FROM ${rel} QUALIFY row_number() OVER (PARTITION BY date, symbol, ts ORDER BY ingestion_ts DESC, batch_id DESC) = 1`);
  await t('symbol,ts narrow', `SELECT date, symbol, ts, open, high, low, close, volume, wap, trade_count, batch_id, ingestion_ts FROM ${rel} QUALIFY row_number() OVER (PARTITION BY symbol, ts ORDER BY ingestion_ts DESC, batch_id DESC) = 1`);
  await t('symbol,ts,date narrow', `SELECT date, symbol, ts, open, high, low, close, volume, wap, trade_count, batch_id, ingestion_ts FROM ${rel} QUALIFY row_number() OVER (PARTITION BY symbol, ts, date ORDER BY ingestion_ts DESC, batch_id DESC) = 1`);
  await t('hash dedup', `WITH r AS MATERIALIZED (SELECT date, symbol, ts, open, high, low, close, volume, wap, trade_count, batch_id, ingestion_ts FROM ${rel}),
     d AS (SELECT date, symbol, ts FROM r GROUP BY ALL HAVING count(*) > 1)
     SELECT * FROM r ANTI JOIN d ON d.date = r.date AND d.symbol = r.symbol AND d.ts = r.ts
     UNION ALL SELECT * FROM (SELECT r.* FROM r SEMI JOIN d ON d.date = r.date AND d.symbol = r.symbol AND d.ts = r.ts) QUALIFY row_number() OVER (PARTITION BY date, symbol, ts ORDER BY ingestion_ts DESC, batch_id DESC) = 1`);
}
for (const [k, v] of res) console.log(k.padEnd(26), v.join('  '));
await lake.close();
