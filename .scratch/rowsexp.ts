import { Lake } from '../src/storage/lake.js';
import { RawStore } from '../src/storage/raw-store.js';
import { JS_COMPAT_MACROS } from '../src/data-quality/js-compat-sql.js';
import { benchCalendars, benchSymbols, benchSessions } from '../bench/support/synthetic-market.js';
const lake = await Lake.open({ root: '/tmp/i17/lake500' });
for (const m of JS_COMPAT_MACROS) await lake.run(m);
const syms = benchSymbols(500);
const raw = new RawStore(lake, benchCalendars(syms));
const rel = raw.relationSql({ start: '2024-01-01', end: '2025-01-01' });
const [s] = benchSessions(1);
await lake.run(`CREATE OR REPLACE TEMP TABLE y AS SELECT unnest([${syms.map((x) => `'${x}'`).join(',')}]) AS symbol, CAST(0 AS BIGINT) AS cal`);
await lake.run(`CREATE OR REPLACE TEMP TABLE sess AS SELECT CAST(0 AS BIGINT) cal, 'XNYS' cal_name, '${s!.date}' date, CAST(${s!.open} AS BIGINT) open_ms, CAST(${s!.close} AS BIGINT) close_ms, CAST(${s!.close} AS BIGINT) cut_ms, CAST(${s!.close + 3600000} AS BIGINT) now_ms, []::STRUCT(s BIGINT, e BIGINT)[] breaks`);
await lake.run(`CREATE OR REPLACE TEMP TABLE grid AS SELECT CAST(0 AS BIGINT) cal, '${s!.date}' date, unnest(range(${s!.open}, ${s!.close}, 60000)) ts, unnest(range(0, 390)) slot`);
const rawRows = `(SELECT r.*, y.cal FROM ${rel} r JOIN y ON y.symbol = r.symbol JOIN sess s ON s.cal = y.cal AND s.date = r.date)`;
const res = new Map<string, number[]>();
async function t(name: string, sql: string) {
  await lake.run('DROP TABLE IF EXISTS x');
  const c0 = process.cpuUsage();
  await lake.run(`CREATE TEMP TABLE x AS ${sql}`);
  const c = process.cpuUsage(c0);
  res.set(name, [...(res.get(name) ?? []), Math.round((c.user + c.system) / 1000)]);
}
const dedup = `SELECT * FROM ${rawRows} QUALIFY row_number() OVER (PARTITION BY date, symbol, ts ORDER BY ingestion_ts DESC, batch_id DESC) = 1`;
for (let i = 0; i < 5; i++) {
  await t('read joined', `SELECT * FROM ${rawRows}`);
  await t('read plain', `SELECT * FROM ${rel}`);
  await t('dedup', dedup);
  await t('dedup narrow', `SELECT date, symbol, ts, open, high, low, close, volume, wap, trade_count, batch_id, ingestion_ts FROM ${rawRows} QUALIFY row_number() OVER (PARTITION BY date, symbol, ts ORDER BY ingestion_ts DESC, batch_id DESC) = 1`);
  await t('dedup + ms', `SELECT *, epoch_ms(ts) AS tms FROM (${dedup})`);
  await t('dedup + grid join', `SELECT d.*, g.slot FROM (${dedup}) d LEFT JOIN grid g ON g.cal = d.cal AND g.date = d.date AND g.ts = epoch_ms(d.ts)`);
  await t('dedup lag variant', `SELECT * FROM ${rawRows} QUALIFY lag(ts) OVER (PARTITION BY date, symbol ORDER BY ts, ingestion_ts DESC, batch_id DESC) IS DISTINCT FROM ts`);
}
for (const [k, v] of res) console.log(k.padEnd(26), v.join(' '), ' min', Math.min(...v));
await lake.close();
