// The ingest-file benchmarks' input: a file of synthetic one-minute bars in (symbol, ts) order, and
// the FileIngestor that loads it, shared by bench/ingest-file.ts and bench/profile-ingest-file.ts.
import { join } from 'node:path';
import { ManualClock } from '../../src/core/clock.js';
import { sqlString } from '../../src/core/sql.js';
import { FileIngestor } from '../../src/data-sources/file-ingestor.js';
import { RawStore } from '../../src/storage/raw-store.js';
import type { Lake } from '../../src/storage/lake.js';
import { benchCalendars, benchSessions } from './synthetic-market.js';
import type { BenchLake } from './temp-lake.js';

/** Writes `symbols x bars` one-minute bars, (symbol, ts) order, as a pandas export per symbol would be. */
export async function makeInput(bl: BenchLake, symbols: readonly string[], barsPerSymbol: number, format: 'parquet' | 'csv'): Promise<string> {
  const sessions = benchSessions(Math.ceil(barsPerSymbol / 390));
  const opens = sessions.map((s) => s.open).join(', ');
  const file = join(bl.dir, `input-${symbols.length}x${barsPerSymbol}.${format}`);
  const select = `
    SELECT symbol, CAST(epoch_ms(list_extract([${opens}]::BIGINT[], (j // 390 + 1)::INTEGER) + (j % 390) * 60000) AS TIMESTAMPTZ) AS ts,
           100 + (hash(symbol, j) % 1000) / 100.0 AS open, 101 + (hash(symbol, j) % 1000) / 100.0 AS high,
           99 + (hash(symbol, j) % 1000) / 100.0 AS low, 100 + (hash(symbol, j + 1) % 1000) / 100.0 AS close,
           (hash(j, symbol) % 5000)::DOUBLE AS volume, 100 + (hash(symbol, j) % 997) / 100.0 AS wap, (hash(j) % 300)::BIGINT AS trade_count
    FROM (SELECT unnest([${symbols.map(sqlString).join(', ')}]::VARCHAR[]) AS symbol) s, range(${barsPerSymbol}) r(j)
    ORDER BY symbol, ts`;
  await bl.lake.run(`COPY (${select}) TO ${sqlString(file)} ${format === 'csv' ? '(HEADER)' : '(FORMAT parquet, COMPRESSION zstd)'}`);
  return file;
}

/** The ingestor `ibpipe ingest-file` runs, on one lake, serving `symbols` at 1 min. */
export function benchFileIngestor(lake: Lake, symbols: readonly string[]): FileIngestor {
  return new FileIngestor({
    rawStore: new RawStore(lake, benchCalendars(symbols)),
    lake,
    clock: new ManualClock(Date.parse('2024-04-01T00:00:00Z')),
    instruments: symbols.map((key) => ({ key, what_to_show: 'TRADES' })),
    barSize: '1 min',
  });
}
