import { DuckDBInstance } from '@duckdb/node-api';
const inst = await DuckDBInstance.create(':memory:');
const c = await inst.connect();
const q = async (s) => { try { const r = await c.runAndReadAll(s); console.log(r.getRows()); } catch (e) { console.log('ERR', e.message); } };
await q(`SELECT unnest(range(0::BIGINT, 300000::BIGINT, 60000)) AS ts`);
await q(`WITH t(i, x) AS (VALUES (0, 1.0), (1, NULL), (2, NULL), (3, 4.0), (4, NULL))
 SELECT i, x, last_value(x IGNORE NULLS) OVER (ORDER BY i ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) lv,
 first_value(x IGNORE NULLS) OVER (ORDER BY i ROWS BETWEEN CURRENT ROW AND UNBOUNDED FOLLOWING) fv,
 last_value(CASE WHEN x IS NOT NULL THEN i END IGNORE NULLS) OVER (ORDER BY i ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) lp FROM t ORDER BY i`);
await q(`SELECT printf('%.3e', 0.000123456::DOUBLE), printf('%.1f', -6.25::DOUBLE), printf('%.1f', 6.35::DOUBLE), to_json('a"b\\c/'::VARCHAR)::VARCHAR, version()`);
await q(`CREATE TEMP MACRO m(x) AS x + 1`);
await q(`SELECT m(2)`);
await q(`SELECT [CASE WHEN true THEN 'a' END, NULL, 'b'][2:] AS l, array_to_string(list_filter(['a', NULL, 'b'], x -> x IS NOT NULL), ',') s, concat_ws('+', NULL, NULL) e`);
await q(`SELECT CAST(1.5 AS BIGINT), CAST(2.5 AS BIGINT), CAST(-1.5 AS BIGINT), CAST(2.5::DOUBLE AS BIGINT)`);
await q(`SELECT epoch_ms(-1500::BIGINT * 1000), epoch_ms(make_timestamptz(-1500::BIGINT))`);
