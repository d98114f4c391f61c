// Profile: where `ingest-file` of one Parquet file spends its time, statement by statement.
import { appendFileSync } from 'node:fs';
// Run: npx tsx bench/profile-ingest-file.ts [daily|history] [reps]
import { join } from 'node:path';
import { ManualClock } from '../src/core/clock.js';
import { sqlString } from '../src/core/sql.js';
import { FileIngestor } from '../src/data-sources/file-ingestor.js';
import { Lake } from '../src/storage/lake.js';
import { RawStore } from '../src/storage/raw-store.js';
import { benchCalendars, benchSessions, benchSymbols } from './support/synthetic-market.js';
import { openBenchLake } from './support/temp-lake.js';

const shape = process.argv[2] ?? 'daily';
const reps = Number(process.argv[3] ?? 2);
const [nSym, bars] = shape === 'daily' ? [5128, 390] : [500, 4000];

const data = await openBenchLake();
const symbols = benchSymbols(nSym);
const sessions = benchSessions(Math.ceil(bars / 390));
const file = join(data.dir, `input.parquet`);
await data.lake.run(`COPY (
    SELECT symbol, CAST(epoch_ms(list_extract([${sessions.map((s) => s.open).join(', ')}]::BIGINT[], (j // 390 + 1)::INTEGER) + (j % 390) * 60000) AS TIMESTAMPTZ) AS ts,
           100 + (hash(symbol, j) % 1000) / 100.0 AS open, 101 + (hash(symbol, j) % 1000) / 100.0 AS high,
           99 + (hash(symbol, j) % 1000) / 100.0 AS low, 100 + (hash(symbol, j + 1) % 1000) / 100.0 AS close,
           (hash(j, symbol) % 5000)::DOUBLE AS volume, 100 + (hash(symbol, j) % 997) / 100.0 AS wap, (hash(j) % 300)::BIGINT AS trade_count
    FROM (SELECT unnest([${symbols.map(sqlString).join(', ')}]::VARCHAR[]) AS symbol) s, range(${bars}) r(j)
    ORDER BY symbol, ts) TO ${sqlString(file)} (FORMAT parquet, COMPRESSION zstd)`);

const log: { what: string; ms: number; cpu: number }[] = [];
function wrap(lake: Lake): void {
  for (const m of ['run', 'query'] as const) {
    const orig = (lake as unknown as Record<string, (sql: string) => Promise<unknown>>)[m]!.bind(lake);
    (lake as unknown as Record<string, unknown>)[m] = async (sql: string) => {
      const t0 = performance.now();
      const c0 = process.cpuUsage();
      try {
        return await orig(sql);
      } finally {
        const c = process.cpuUsage(c0);
        log.push({ what: `${m}: ${sql.replace(/\s+/g, ' ').slice(0, 90)}`, ms: performance.now() - t0, cpu: (c.user + c.system) / 1000 }); if (process.env.DUMP) appendFileSync(process.env.DUMP, `-- ${m}\n${sql};\n`);
      }
    };
  }
}

for (let r = 0; r < reps; r++) {
  const bl = await openBenchLake();
  wrap(bl.lake);
  log.length = 0;
  const ing = new FileIngestor({
    rawStore: new RawStore(bl.lake, benchCalendars(symbols)),
    lake: bl.lake,
    clock: new ManualClock(Date.parse('2024-04-01T00:00:00Z')),
    instruments: symbols.map((key) => ({ key, what_to_show: 'TRADES' })),
    barSize: '1 min',
  });
  const t0 = performance.now();
  const cpu0 = process.cpuUsage();
  const c = await ing.checkFile(file);
  const t1 = performance.now();
  const res = await ing.writeFile(c);
  const t2 = performance.now();
  const cpu = process.cpuUsage(cpu0);
  const inSql = log.reduce((n, l) => n + l.ms, 0);
  console.log(`rep ${r + 1}: check ${(t1 - t0).toFixed(0)} ms, write ${(t2 - t1).toFixed(0)} ms, total ${(t2 - t0).toFixed(0)} ms, cpu ${((cpu.user + cpu.system) / 1000).toFixed(0)} ms (${res.rows} rows, ${res.dates.length} dates); in SQL ${inSql.toFixed(0)} ms`);
  for (const l of log) if (l.ms > 5) console.log(`  ${l.ms.toFixed(0).padStart(6)} ms cpu ${l.cpu.toFixed(0).padStart(6)} ms  ${l.what}`);
  await bl.dispose();
}
for (let r = 0; r < 2; r++) {
  const t0 = performance.now();
  const c0 = process.cpuUsage();
  await data.lake.run(`COPY (SELECT * FROM read_parquet(${sqlString(file)})) TO ${sqlString(join(data.dir, 'copy.parquet'))} (FORMAT parquet, COMPRESSION zstd)`);
  const c = process.cpuUsage(c0);
  console.log(`plain COPY ${(performance.now() - t0).toFixed(0)} ms, cpu ${((c.user + c.system) / 1000).toFixed(0)} ms`);
}
await data.dispose();
