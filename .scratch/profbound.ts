import { readFileSync } from 'node:fs';
import { Lake } from '../src/storage/lake.js';
import { RawStore } from '../src/storage/raw-store.js';
import { sqlKeyList, sqlString } from '../src/core/sql.js';
import { benchCalendars, benchSessions, benchSymbols } from '../bench/support/synthetic-market.js';
const lake = await Lake.open({ root: '/tmp/i17/lake500' });
const symbols = benchSymbols(500);
const raw = new RawStore(lake, benchCalendars(symbols));
const [s] = benchSessions(1);
const files = [...raw.visibleFiles('1 min').values()].flat();
const sql = `COPY (WITH latest AS (SELECT * FROM read_parquet([${files.map(sqlString).join(',')}], hive_partitioning = true) QUALIFY row_number() OVER (PARTITION BY symbol, ts ORDER BY ingestion_ts DESC, batch_id DESC) = 1),
 valid AS (SELECT CAST(date AS VARCHAR) AS date, symbol, ts, open, high, low, close, volume, CASE WHEN wap > 0 THEN wap END AS wap, CASE WHEN trade_count >= 0 THEN trade_count END AS trade_count FROM latest
   WHERE isfinite(open) AND isfinite(high) AND isfinite(low) AND isfinite(close) AND open > 0 AND high > 0 AND low > 0 AND close > 0 AND volume >= 0 AND high >= greatest(open, close, low) AND low <= least(open, close) AND close BETWEEN 0.0001 AND 1000000),
 sessions(date, open_ms, close_ms) AS (VALUES ('${s!.date}', ${s!.open}, ${s!.close})),
 grid AS (SELECT y.symbol, s.date, CAST(epoch_ms(unnest(range(s.open_ms, s.close_ms, 60000))) AS TIMESTAMPTZ) AS ts FROM (SELECT unnest([${sqlKeyList(symbols)}]) AS symbol) y, sessions s),
 joined AS (SELECT grid.date, grid.symbol, grid.ts, v.open, v.high, v.low, v.close, v.volume, v.wap, v.trade_count, v.close IS NULL AS is_imputed FROM grid LEFT JOIN valid v ON v.symbol = grid.symbol AND v.ts = grid.ts)
 SELECT date, symbol, ts, coalesce(open, last_value(close IGNORE NULLS) OVER w) AS open, coalesce(high, last_value(close IGNORE NULLS) OVER w) AS high, coalesce(low, last_value(close IGNORE NULLS) OVER w) AS low,
   coalesce(close, last_value(close IGNORE NULLS) OVER w) AS close, CASE WHEN is_imputed THEN 0 ELSE volume END AS volume, coalesce(wap, last_value(wap IGNORE NULLS) OVER w) AS wap, CASE WHEN is_imputed THEN 0 ELSE trade_count END AS trade_count,
   is_imputed, CASE WHEN is_imputed THEN 'ffill+zero' END AS imputation, is_imputed AS open_imputed, is_imputed AS high_imputed, is_imputed AS low_imputed, is_imputed AS close_imputed, is_imputed AS volume_imputed, is_imputed AS wap_imputed, is_imputed AS trade_count_imputed
 FROM joined WINDOW w AS (PARTITION BY symbol, date ORDER BY ts ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) ORDER BY date, symbol, ts) TO '/tmp/i17/boundout' (FORMAT parquet, COMPRESSION zstd, PARTITION_BY (date), OVERWRITE_OR_IGNORE)`;
interface Node { operator_name?: string; operator_timing?: number; children?: Node[]; operator_cardinality?: number; extra_info?: unknown }
function walk(n: Node, d: number, out: string[]) { const t = n.operator_timing ?? 0; if (t > 0.005) out.push(`${'  '.repeat(d)}${(n.operator_name ?? '?').trim()} ${(t * 1000).toFixed(0)}ms rows=${n.operator_cardinality ?? ''} ${JSON.stringify(n.extra_info ?? {}).slice(0, 80)}`); for (const c of n.children ?? []) walk(c, d + 1, out); }
await lake.run(`SET enable_profiling = 'json'`); await lake.run(`SET profiling_output = '/tmp/i17/profb.json'`);
await lake.run(sql);
const out: string[] = []; walk(JSON.parse(readFileSync('/tmp/i17/profb.json', 'utf8')) as Node, 0, out); console.log(out.join('\n'));
await lake.close();
