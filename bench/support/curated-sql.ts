import type { Session } from '../../src/calendar/trading-calendar.js';
import { CURATED_MASK_COLUMNS } from '../../src/core/bars.js';
import { sqlKeyList } from '../../src/core/sql.js';
import { CuratedStore } from '../../src/storage/curated-store.js';
import type { Lake } from '../../src/storage/lake.js';
import { MINUTE } from './synthetic-market.js';

/**
 * Writes gap-free curated 1-min sessions for `symbols`, generated inside DuckDB (no JS row ever
 * exists), one file per session as the transform writes them: sorted by (symbol, ts), no
 * imputed bars. Prices are a deterministic function of (symbol, minute): slow and fast waves
 * plus hashed noise, positive, with high >= max(open, close) and low <= min(open, close).
 * Returns the partition files, in session order.
 */
export async function writeSyntheticCurated(lake: Lake, symbols: readonly string[], sessions: readonly Session[]): Promise<string[]> {
  const curated = new CuratedStore(lake);
  const masks = CURATED_MASK_COLUMNS.map((c) => `false AS ${c}_imputed`).join(', ');
  const price = (minute: string): string =>
    `(20 + k % 400) * exp(0.01 * sin(${minute} / 37.0 + k) + 0.004 * sin(${minute} / 5.3 + k * 3) + (hash(symbol, ${minute}) % 10007) / 10007.0 * 0.002)`;
  const files: string[] = [];
  for (const s of sessions) {
    const file = curated.partitionFile('bars_1min', s.date);
    const bars = (s.close - s.open) / MINUTE;
    await lake.writeParquetAtomic(
      file,
      `WITH g AS (SELECT l[k + 1] AS symbol, k, to_timestamp(${s.open / 1000} + 60 * m) AS ts, ${s.open / MINUTE} + m AS minute
                  FROM (SELECT [${sqlKeyList(symbols)}] AS l), range(${symbols.length}) a(k), range(${bars}) b(m)),
            p AS (SELECT *, ${price('minute')} AS c, ${price('(minute - 1)')} AS o FROM g)
       SELECT symbol, ts, o AS open, greatest(o, c) * 1.0005 AS high, least(o, c) * 0.9995 AS low, c AS close,
              CAST(100 + hash(symbol, minute, 7) % 5000 AS DOUBLE) AS volume, (o + c) / 2 AS wap, CAST(10 + hash(symbol, minute) % 90 AS BIGINT) AS trade_count,
              false AS is_imputed, CAST(NULL AS VARCHAR) AS imputation, ${masks}
       FROM p ORDER BY symbol, ts`,
    );
    files.push(file);
  }
  return files;
}
