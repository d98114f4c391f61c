import { rmSync } from 'node:fs';
import { ManualClock } from '../src/core/clock.js';
import { sqlKeyList, sqlString } from '../src/core/sql.js';
import { dqRulesConfigSchema, gapsConfigSchema } from '../src/data-quality/dq-config.js';
import { silentLogger } from '../src/ops/logging-setup.js';
import { runTransformSql } from '../src/pipelines/transform-sql.js';
import { CuratedStore } from '../src/storage/curated-store.js';
import { Lake } from '../src/storage/lake.js';
import { QuarantineStore } from '../src/storage/quarantine-store.js';
import { RawStore } from '../src/storage/raw-store.js';
import { JsonlLedger } from '../src/storage/state-store.js';
import { benchCalendars, benchSessions, benchSymbols } from '../bench/support/synthetic-market.js';
const [dir, n, reps, threads] = process.argv.slice(2) as [string, string, string, string];
const lake = await Lake.open({ root: dir, threads: Number(threads ?? 1) });
const symbols = benchSymbols(Number(n));
const calendars = benchCalendars(symbols);
const [session] = benchSessions(1);
const cpu = new Map<string, number>();
const run = lake.run.bind(lake);
lake.run = async (sql: string) => {
  const c0 = process.cpuUsage();
  await run(sql);
  const c = process.cpuUsage(c0);
  const label = /ibp_tx\d+_(\w+)/.exec(sql.slice(0, 40))?.[1] ?? (sql.startsWith('COPY') ? (sql.includes('stage,') ? 'copy_quar' : 'copy_cur') : 'other');
  cpu.set(label, (cpu.get(label) ?? 0) + (c.user + c.system) / 1000);
};
const q = lake.query.bind(lake);
lake.query = (async (sql: string) => { const c0 = process.cpuUsage(); const r = await q(sql); const c = process.cpuUsage(c0); cpu.set('queries', (cpu.get('queries') ?? 0) + (c.user + c.system) / 1000); return r; }) as typeof lake.query;
const deps = { lake, rawStore: new RawStore(lake, calendars), curatedStore: new CuratedStore(lake), quarantineStore: new QuarantineStore(lake), dqLedger: new JsonlLedger<any>(lake.path('state', 'dq.jsonl')), calendars, clock: new ManualClock(session!.close + 3600000), logger: silentLogger(),
  dqRules: dqRulesConfigSchema.parse({ tws_bars: [
    { type: 'ohlc_consistency', severity: 'error', action: 'quarantine' },
    { type: 'range', field: 'close', min: 0.0001, max: 1_000_000, severity: 'error', action: 'quarantine' },
    ...(process.argv[6] === 'noout' ? [] : [{ type: 'outlier', field: 'close', window: 60, threshold: 10, severity: 'warn', action: 'log' }]),
    { type: 'bar_count', tolerance: { fraction: 0.02 }, severity: 'warn', action: 'log' },
    { type: 'staleness', max_age: '15min', severity: 'warn', action: 'log' },
  ] }), gaps: gapsConfigSchema.parse({}), barSize: '1 min' as const };
const mins = new Map<string, number>();
let totalMin = Infinity;
for (let r = 0; r < Number(reps); r++) {
  rmSync(lake.path('curated'), { recursive: true, force: true }); rmSync(lake.path('quarantine'), { recursive: true, force: true });
  cpu.clear();
  const c0 = process.cpuUsage();
  await runTransformSql(session!.date, undefined, deps);
  const c = process.cpuUsage(c0);
  totalMin = Math.min(totalMin, (c.user + c.system) / 1000);
  for (const [k, v] of cpu) mins.set(k, Math.min(mins.get(k) ?? Infinity, v));
}
const raw = new RawStore(lake, calendars);
const files = [...raw.visibleFiles('1 min').values()].flat();
const s = session!;
const bound = `COPY (WITH latest AS (SELECT * FROM read_parquet([${files.map(sqlString).join(',')}], hive_partitioning = true) QUALIFY row_number() OVER (PARTITION BY symbol, ts ORDER BY ingestion_ts DESC, batch_id DESC) = 1),
 valid AS (SELECT CAST(date AS VARCHAR) AS date, symbol, ts, open, high, low, close, volume, CASE WHEN wap > 0 THEN wap END AS wap, CASE WHEN trade_count >= 0 THEN trade_count END AS trade_count FROM latest
   WHERE isfinite(open) AND isfinite(high) AND isfinite(low) AND isfinite(close) AND open > 0 AND high > 0 AND low > 0 AND close > 0 AND volume >= 0 AND high >= greatest(open, close, low) AND low <= least(open, close) AND close BETWEEN 0.0001 AND 1000000),
 sessions(date, open_ms, close_ms) AS (VALUES ('${s.date}', ${s.open}, ${s.close})),
 grid AS (SELECT y.symbol, s.date, CAST(epoch_ms(unnest(range(s.open_ms, s.close_ms, 60000))) AS TIMESTAMPTZ) AS ts FROM (SELECT unnest([${sqlKeyList(symbols)}]) AS symbol) y, sessions s),
 joined AS (SELECT grid.date, grid.symbol, grid.ts, v.open, v.high, v.low, v.close, v.volume, v.wap, v.trade_count, v.close IS NULL AS is_imputed FROM grid LEFT JOIN valid v ON v.symbol = grid.symbol AND v.ts = grid.ts)
 SELECT date, symbol, ts, coalesce(open, last_value(close IGNORE NULLS) OVER w) AS open, coalesce(high, last_value(close IGNORE NULLS) OVER w) AS high, coalesce(low, last_value(close IGNORE NULLS) OVER w) AS low,
   coalesce(close, last_value(close IGNORE NULLS) OVER w) AS close, CASE WHEN is_imputed THEN 0 ELSE volume END AS volume, coalesce(wap, last_value(wap IGNORE NULLS) OVER w) AS wap, CASE WHEN is_imputed THEN 0 ELSE trade_count END AS trade_count,
   is_imputed, CASE WHEN is_imputed THEN 'ffill+zero' END AS imputation, is_imputed AS open_imputed, is_imputed AS high_imputed, is_imputed AS low_imputed, is_imputed AS close_imputed, is_imputed AS volume_imputed, is_imputed AS wap_imputed, is_imputed AS trade_count_imputed
 FROM joined WINDOW w AS (PARTITION BY symbol, date ORDER BY ts ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) ORDER BY date, symbol, ts) TO '/tmp/i17/boundout2' (FORMAT parquet, COMPRESSION zstd, PARTITION_BY (date), OVERWRITE_OR_IGNORE)`;
let bmin = Infinity;
for (let r = 0; r < Number(reps); r++) { const c0 = process.cpuUsage(); await run(bound); const c = process.cpuUsage(c0); bmin = Math.min(bmin, (c.user + c.system) / 1000); }
console.log([...mins].sort((a, b) => b[1] - a[1]).map(([k, v]) => `${k}=${v.toFixed(0)}`).join(' '));
console.log(`total min ${totalMin.toFixed(0)} ms cpu; bound min ${bmin.toFixed(0)}; ratio ${(bmin / totalMin).toFixed(2)}`);
await lake.close();
// second phase: split compute vs publish
{
  const { TransformPass } = await import('../src/pipelines/transform-sql.js');
  const lake2 = await Lake.open({ root: dir, threads: Number(threads ?? 1) });
  const d2 = { ...deps, lake: lake2, rawStore: new RawStore(lake2, calendars), curatedStore: new CuratedStore(lake2), quarantineStore: new QuarantineStore(lake2) };
  const st = lake2.stage.bind(lake2);
  let stageCpu = 0;
  lake2.stage = (async (...a: Parameters<typeof lake2.stage>) => { const c0 = process.cpuUsage(); const r = await st(...a); const c = process.cpuUsage(c0); stageCpu += (c.user + c.system) / 1000; return r; }) as typeof lake2.stage;
  let best = [Infinity, Infinity, Infinity, Infinity];
  for (let r = 0; r < Number(reps); r++) {
    rmSync(lake2.path('curated'), { recursive: true, force: true }); rmSync(lake2.path('quarantine'), { recursive: true, force: true });
    stageCpu = 0;
    const c0 = process.cpuUsage();
    const pass = await TransformPass.compute([session!.date], undefined, d2);
    const c1 = process.cpuUsage(c0);
    await pass.publish(session!.date);
    const c2 = process.cpuUsage(c0);
    await pass.dispose();
    const c3 = process.cpuUsage(c0);
    const v = [(c1.user + c1.system) / 1000, (c2.user + c2.system - c1.user - c1.system) / 1000, (c3.user + c3.system - c2.user - c2.system) / 1000, stageCpu];
    best = best.map((b, i) => Math.min(b, v[i] as number));
  }
  console.log(`compute ${best[0]!.toFixed(0)} publish ${best[1]!.toFixed(0)} dispose ${best[2]!.toFixed(0)} (stage ${best[3]!.toFixed(0)})`);
  await lake2.close();
}
{
  const sel = bound.replace(/^COPY \(/, '').replace(/\) TO '\/tmp\/i17\/boundout2'.*$/s, '');
  let a = Infinity; let b = Infinity;
  for (let r = 0; r < Number(reps); r++) {
    const lk = await Lake.open({ root: dir, threads: Number(threads ?? 1) });
    let c0 = process.cpuUsage(); await lk.run(`CREATE TEMP TABLE bx AS ${sel}`); let c = process.cpuUsage(c0); a = Math.min(a, (c.user + c.system) / 1000);
    c0 = process.cpuUsage(); await lk.run(`COPY (SELECT * FROM bx ORDER BY date, symbol, ts) TO '/tmp/i17/bx.parquet' (FORMAT parquet, COMPRESSION zstd)`); c = process.cpuUsage(c0); b = Math.min(b, (c.user + c.system) / 1000);
    await lk.close();
  }
  console.log(`bound select ${a.toFixed(0)} + sorted copy ${b.toFixed(0)}`);
}
