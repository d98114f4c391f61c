// Profile: where raw-write/backfill-pages (pages through the group committer) spends its time,
// step by step per commit, in wall and process CPU time, next to the benchmark's bound.
// Run: npx tsx bench/profile-raw-write.ts [symbols] [reps]
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { SystemClock } from '../src/core/clock.js';
import { sqlString } from '../src/core/sql.js';
import type { Lake } from '../src/storage/lake.js';
import { DEFAULT_GROUP_COMMIT, RawBatchWriter } from '../src/storage/raw-batch-writer.js';
import { RAW_DATASET, RawStore } from '../src/storage/raw-store.js';
import { RAW_BARS } from '../src/storage/tables/raw-bars.js';
import { benchCalendars, benchSessions, benchSymbols, sessionBars } from './support/synthetic-market.js';
import { openBenchLake } from './support/temp-lake.js';

const nSymbols = Number(process.argv[2] ?? 500);
const reps = Number(process.argv[3] ?? 3);
const symbols = benchSymbols(nSymbols);
const [session] = benchSessions(1);
if (!session) throw new Error('no session');
const pages = symbols.map((s, i) => sessionBars(s, i, session));
const rows = pages.reduce((n, p) => n + p.length, 0);

interface Step {
  what: string;
  ms: number;
  cpu: number;
}
const log: Step[] = [];
function timedAsync<F extends (...a: never[]) => Promise<unknown>>(what: (...a: Parameters<F>) => string, fn: F): F {
  return (async (...args: Parameters<F>) => {
    const t0 = performance.now();
    const c0 = process.cpuUsage();
    try {
      return await fn(...args);
    } finally {
      const c = process.cpuUsage(c0);
      log.push({ what: what(...args), ms: performance.now() - t0, cpu: (c.user + c.system) / 1000 });
    }
  }) as F;
}
function wrap(lake: Lake): void {
  lake.run = timedAsync((sql: string) => `run ${sql.replace(/\s+/g, ' ').slice(0, 60)}`, lake.run.bind(lake)) as Lake['run'];
  lake.withDoubles = timedAsync(() => 'withDoubles (every COPY of the commit)', lake.withDoubles.bind(lake)) as Lake['withDoubles'];
  lake.writeParquetAtomic = timedAsync(() => 'writeParquetAtomic (COPY+fsync+rename+fsync dir)', lake.writeParquetAtomic.bind(lake));
  lake.dropTable = timedAsync(() => 'dropTable', lake.dropTable.bind(lake));
}

for (let r = 0; r < reps; r++) {
  const bl = await openBenchLake();
  wrap(bl.lake);
  log.length = 0;
  const store = new RawStore(bl.lake, benchCalendars(symbols));
  const group = store.writeBatchGroup.bind(store);
  store.writeBatchGroup = timedAsync(() => 'writeBatchGroup (whole commit)', group);
  const writer = new RawBatchWriter(store, new SystemClock(), DEFAULT_GROUP_COMMIT);
  const t0 = performance.now();
  const c0 = process.cpuUsage();
  const committed: Promise<unknown>[] = [];
  let k = 0;
  for (const p of pages) committed.push((await writer.submit({ batchId: `p-${k++}`, events: p })).committed);
  await writer.flush();
  await Promise.all(committed);
  const c = process.cpuUsage(c0);
  console.log(`rep ${r + 1}: ${rows} rows, ${writer.commits} commits, ${(performance.now() - t0).toFixed(0)} ms, cpu ${((c.user + c.system) / 1000).toFixed(0)} ms`);
  const agg = new Map<string, { n: number; ms: number; cpu: number }>();
  for (const l of log) {
    const a = agg.get(l.what) ?? { n: 0, ms: 0, cpu: 0 };
    a.n++;
    a.ms += l.ms;
    a.cpu += l.cpu;
    agg.set(l.what, a);
  }
  for (const [what, a] of agg) console.log(`  ${a.ms.toFixed(0).padStart(6)} ms cpu ${a.cpu.toFixed(0).padStart(6)} ms  x${a.n}  ${what}`);
  await bl.dispose();
}

// The bound, as bench/raw-write.ts measures it.
for (let r = 0; r < reps; r++) {
  const bl = await openBenchLake();
  const events = pages.flat();
  const col = (k: keyof (typeof events)[number]): unknown[] => events.map((e) => e[k]);
  const table = await bl.lake.stage([...RAW_BARS.columns, { name: 'date', type: 'VARCHAR' }], {
    source: col('source'), symbol: col('symbol'), con_id: col('conId'), what_to_show: col('whatToShow'), ts: col('ts'),
    open: col('open'), high: col('high'), low: col('low'), close: col('close'), volume: col('volume'), wap: col('wap'),
    trade_count: col('tradeCount'), batch_id: events.map(() => 'b'), ingestion_ts: events.map(() => 0), request_id: col('requestId'),
    date: events.map(() => '2024-03-04'),
  }, events.length);
  mkdirSync(join(bl.dir, 'raw'), { recursive: true });
  const t0 = performance.now();
  const c0 = process.cpuUsage();
  await bl.lake.run(`COPY (SELECT ${RAW_BARS.select}, '1min' AS bar_size, date FROM ${table} ORDER BY symbol, ts)
     TO ${sqlString(join(bl.dir, 'raw', RAW_DATASET))} (FORMAT parquet, COMPRESSION zstd, PARTITION_BY (bar_size, date))`);
  const c = process.cpuUsage(c0);
  console.log(`bound rep ${r + 1}: one COPY ${(performance.now() - t0).toFixed(0)} ms, cpu ${((c.user + c.system) / 1000).toFixed(0)} ms`);
  await bl.dispose();
}
