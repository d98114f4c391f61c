// Profile: where a feature run of the technical group spends its time (read, compute, write),
// and which threads are busy: per-statement wall time, and per-thread CPU from /proc (the main
// thread, the feature worker, DuckDB's threads), sampled over the run. Then the bound.
// Run: npx tsx bench/profile-features.ts [symbols] [sessions] [reps]
// The curated lake is kept in $TMPDIR/ibpipe-profile-features-<symbols>x<sessions> between runs.
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ManualClock } from '../src/core/clock.js';
import { sqlString } from '../src/core/sql.js';
import { silentLogger } from '../src/ops/logging-setup.js';
import { runFeaturePipeline } from '../src/pipelines/feature-pipeline.js';
import { FeatureBatchRunner } from '../src/pipelines/features/feature-batch-runner.js';
import { resolveSourceDataset } from '../src/pipelines/source-dataset.js';
import { FeatureStore } from '../src/storage/feature-store.js';
import { Lake } from '../src/storage/lake.js';
import { writeSyntheticCurated } from './support/curated-sql.js';
import { benchCalendars, benchSessions, benchSymbols } from './support/synthetic-market.js';
import { TECHNICAL } from './support/technical-group.js';

const nSym = Number(process.argv[2] ?? 500);
const nSes = Number(process.argv[3] ?? 20);
const reps = Number(process.argv[4] ?? 2);
/** `serial`: every statement and every compute runs alone (a mutex), so each one's CPU time is its own. */
const serial = process.argv.includes('--serial');
let mutex: Promise<void> = Promise.resolve();
const symbols = benchSymbols(nSym);
const sessions = benchSessions(nSes);
const dates = sessions.map((s) => s.date);
const root = join(tmpdir(), `ibpipe-profile-features-${nSym}x${nSes}`);
const fresh = !existsSync(join(root, 'curated'));
const threadsArg = process.argv.find((a) => a.startsWith('--threads='));
const lake = await Lake.open({ root, ...(threadsArg ? { threads: Number(threadsArg.slice(10)) } : {}) });
if (fresh) {
  process.stderr.write(`writing curated ${nSym} x ${nSes} to ${root}\n`);
  await writeSyntheticCurated(lake, symbols, sessions);
}
const files = dates.map((d) => lake.path('curated', 'bars_1min', `date=${d}`, 'data.parquet'));

/** CPU ticks (1/100 s) per thread of this process. */
function threadTicks(): Map<string, number> {
  const out = new Map<string, number>();
  for (const tid of readdirSync('/proc/self/task')) {
    try {
      const stat = readFileSync(`/proc/self/task/${tid}/stat`, 'utf8');
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      const comm = readFileSync(`/proc/self/task/${tid}/comm`, 'utf8').trim();
      out.set(`${tid === String(process.pid) ? 'main' : comm}#${tid}`, Number(f[11]) + Number(f[12]));
    } catch {
      // thread gone
    }
  }
  return out;
}

interface Span {
  what: string;
  start: number;
  end: number;
  cpu: number;
  /** CPU seconds of the busiest thread during the span (serial mode: 1 thread busy = no parallelism). */
  top: number;
}
const spans: Span[] = [];
function wrap<F extends (...a: never[]) => Promise<unknown>>(what: (...a: Parameters<F>) => string, fn: F): F {
  return (async (...a: Parameters<F>) => {
    let release = (): void => {};
    if (serial) {
      const prev = mutex;
      mutex = new Promise((r) => (release = r));
      await prev;
    }
    const start = performance.now();
    const c0 = process.cpuUsage();
    const th0 = serial ? threadTicks() : new Map<string, number>();
    try {
      return await fn(...a);
    } finally {
      const c = process.cpuUsage(c0);
      let top = 0;
      if (serial) for (const [k, v] of threadTicks()) top = Math.max(top, (v - (th0.get(k) ?? 0)) / 100);
      spans.push({ what: what(...a), start, end: performance.now(), cpu: (c.user + c.system) / 1e6, top });
      release();
    }
  }) as F;
}
const kind = (sql: string): string => {
  const s = sql.replace(/\s+/g, ' ').trim();
  if (s.startsWith('COPY')) return 'write: COPY';
  return `${s.slice(0, 40)}`;
};
function wrapLake(l: Lake, tag: string): void {
  l.run = wrap((sql: string) => `run${tag} ${kind(sql)}`, l.run.bind(l));
  l.query = wrap((sql: string) => `query${tag} ${kind(sql)}`, l.query.bind(l)) as Lake['query'];
  l.readDoubles = wrap((sql: string) => `read${tag}: ${sql.includes('count(*)') ? 'counts' : 'batch'}`, l.readDoubles.bind(l));
}
wrapLake(lake, '');
const runner = FeatureBatchRunner.shared();
runner.compute = wrap(() => 'compute (worker)', runner.compute.bind(runner));

const store = new FeatureStore(lake, benchCalendars(symbols), new ManualClock(Date.parse('2025-06-01T00:00:00Z')));
async function once(): Promise<{ wall: number; cpu: number; threads: Map<string, number> }> {
  rmSync(lake.path('features'), { recursive: true, force: true });
  rmSync(lake.path('state', 'feature_registry.jsonl'), { force: true });
  spans.length = 0;
  const t0 = performance.now();
  const c0 = process.cpuUsage();
  const th0 = threadTicks();
  const res = await runFeaturePipeline(dates, symbols, TECHNICAL, TECHNICAL.version, { lake, featureStore: store, logger: silentLogger(), source: resolveSourceDataset(TECHNICAL.source) });
  const wall = (performance.now() - t0) / 1000;
  const c = process.cpuUsage(c0);
  const th1 = threadTicks();
  const threads = new Map<string, number>();
  for (const [k, v] of th1) threads.set(k, (v - (th0.get(k) ?? 0)) / 100);
  const t = (ms: number): string => ((ms - t0) / 1000).toFixed(2);
  console.log(
    `run: ${wall.toFixed(2)} s wall, ${((c.user + c.system) / 1e6).toFixed(2)} s CPU (${((c.user + c.system) / 1e6 / wall).toFixed(2)} cores), ${res.rowsWritten} rows, ${res.rowsRead} read, ${res.batches} reads, peak RSS so far ${(process.resourceUsage().maxRSS / 1024).toFixed(0)} MB`,
  );
  const sums = new Map<string, { n: number; s: number; cpu: number; top: number }>();
  for (const sp of spans) {
    const e = sums.get(sp.what) ?? { n: 0, s: 0, cpu: 0, top: 0 };
    e.n++;
    e.s += (sp.end - sp.start) / 1000;
    e.cpu += sp.cpu;
    e.top += sp.top;
    sums.set(sp.what, e);
  }
  for (const [k, e] of [...sums].sort((a, b) => b[1].s - a[1].s)) console.log(`  ${e.s.toFixed(2).padStart(7)} s  cpu ${e.cpu.toFixed(2).padStart(6)} s  busiest thread ${e.top.toFixed(2).padStart(6)} s  x${e.n}  ${k}`);
  for (const sp of [...spans].sort((a, b) => a.start - b.start)) if (sp.end - sp.start > 100) console.log(`    ${t(sp.start)}–${t(sp.end)} ${sp.what}`);
  const busy = [...threads].filter(([, v]) => v > 0.05).sort((a, b) => b[1] - a[1]);
  console.log(`  threads (CPU s): ${busy.map(([k, v]) => `${k} ${v.toFixed(2)}`).join(', ')}`);
  return { wall, cpu: (c.user + c.system) / 1e6, threads };
}

async function bound(): Promise<number> {
  const dir = join(root, 'bound');
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  const W20 = 'w20 AS (PARTITION BY symbol ORDER BY ts ROWS BETWEEN 19 PRECEDING AND CURRENT ROW)';
  const PART = 'p AS (PARTITION BY symbol ORDER BY ts)';
  const source = `(SELECT symbol, ts, CAST(date AS VARCHAR) AS date, open, high, low, close, volume FROM read_parquet([${files.map(sqlString).join(', ')}], hive_partitioning = true))`;
  const from = `(SELECT *, ln(close / lag(close) OVER p) AS lr FROM ${source} WINDOW ${PART})`;
  const sel = `CASE WHEN count(close) OVER w20 = 20 THEN avg(close) OVER w20 END AS sma_20,
    CASE WHEN count(close) OVER w20 = 20 THEN avg(close) OVER w20 - 2 * stddev_pop(close) OVER w20 END AS bb_20_lower,
    CASE WHEN count(close) OVER w20 = 20 THEN avg(close) OVER w20 END AS bb_20_mid,
    CASE WHEN count(close) OVER w20 = 20 THEN avg(close) OVER w20 + 2 * stddev_pop(close) OVER w20 END AS bb_20_upper,
    CASE WHEN count(lr) OVER w20 = 20 THEN stddev_samp(lr) OVER w20 END AS vol_20,
    lag(close, 1) OVER p AS close_lag_1, lag(close, 5) OVER p AS close_lag_5, lag(close, 10) OVER p AS close_lag_10`;
  const t0 = performance.now();
  const c0 = process.cpuUsage();
  await lake.run(`COPY (SELECT symbol, ts, date, ${sel} FROM ${from} WINDOW ${W20}, ${PART} ORDER BY symbol, ts) TO ${sqlString(dir)} (FORMAT parquet, COMPRESSION zstd, PARTITION_BY (date))`);
  const wall = (performance.now() - t0) / 1000;
  const c = process.cpuUsage(c0);
  console.log(`bound: ${wall.toFixed(2)} s wall, ${((c.user + c.system) / 1e6).toFixed(2)} s CPU (${((c.user + c.system) / 1e6 / wall).toFixed(2)} cores)`);
  return wall;
}

for (let r = 0; r < reps; r++) {
  const a = await once();
  const b = await bound();
  console.log(`rep ${r + 1}: ratio ${(b / a.wall).toFixed(3)}`);
}
await lake.close();
