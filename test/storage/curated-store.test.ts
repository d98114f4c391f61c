import { readFileSync } from 'node:fs';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { CuratedBarRow } from '../../src/storage/tables/curated-bars.js';
import { InputError } from '../../src/core/errors.js';
import { CURATED_BARS } from '../../src/storage/tables/curated-bars.js';
import { openTempLake, type TempLake } from '../support/temp-lake.js';

let t: TempLake;
beforeEach(async () => {
  t = await openTempLake();
});
afterEach(async () => {
  await t.cleanup();
});

function row(symbol: string, ts: number, close: number | null, imputed = false): CuratedBarRow {
  return {
    symbol, ts, available_ts: ts + 60_000, open: close, high: close, low: close, close, volume: imputed ? 0 : 5, wap: null, trade_count: null,
    is_imputed: imputed, imputation: imputed ? 'ffill' : null,
    open_imputed: imputed, high_imputed: imputed, low_imputed: imputed, close_imputed: imputed, volume_imputed: imputed, wap_imputed: false, trade_count_imputed: false,
  };
}
const T0 = Date.parse('2024-11-26T14:30:00Z');

describe('CuratedStore', () => {
  it('round-trips rows with their gap mask and replaces one symbol while keeping the others', async () => {
    await t.curated.writeCuratedBars([row('AAPL', T0, 1), row('AAPL', T0 + 60_000, 1, true), row('MSFT', T0, 2)], 'bars_1min', '2024-11-26');
    await t.curated.writeCuratedBars([row('AAPL', T0, 9)], 'bars_1min', '2024-11-26');
    const rows = await t.curated.readCuratedBars('bars_1min', undefined, '2024-11-25', '2024-11-27');
    expect(rows.map((r) => [r.symbol, r.ts, r.close])).toEqual([
      ['AAPL', T0, 9],
      ['MSFT', T0, 2],
    ]);
    const first = await t.curated.readCuratedBars('bars_1min', ['MSFT'], '2024-11-26', '2024-11-26');
    expect(first[0]).toEqual(row('MSFT', T0, 2));
  });

  it('a partition replaced at the same path is read fresh by the same connection (no external-file block cache)', async () => {
    // DuckDB's external file cache keeps blocks of files it read, for files that never change; the
    // lake replaces partitions in place, so the lake's connection must not use it.
    expect(await t.lake.query<{ v: string }>(`SELECT current_setting('enable_external_file_cache')::VARCHAR AS v`)).toEqual([{ v: 'false' }]);
    for (let i = 1; i <= 20; i++) {
      // Same rows, same sizes, only the values change: what a stale block would hide.
      await t.curated.writeCuratedBars([row('AAPL', T0, i), row('MSFT', T0, 100 + i)], 'bars_1min', '2024-11-26');
      const rows = await t.curated.readCuratedBars('bars_1min', undefined, '2024-11-26', '2024-11-26');
      expect(rows.map((r) => r.close)).toEqual([i, 100 + i]);
    }
  });

  it('writes byte-identical files for the same rows in any input order', async () => {
    const rows = [row('MSFT', T0, 2), row('AAPL', T0 + 60_000, 1, true), row('AAPL', T0, 1)];
    await t.curated.writeCuratedBars(rows, 'bars_1min', '2024-11-26');
    const a = readFileSync(t.curated.partitionFile('bars_1min', '2024-11-26'));
    await t.curated.writeCuratedBars([...rows].reverse(), 'bars_1min', '2024-11-26');
    const b = readFileSync(t.curated.partitionFile('bars_1min', '2024-11-26'));
    expect(b.equals(a)).toBe(true);
  });

  it('an ordered relation is written in its own order (its ORDER BY on other keys); merged with kept symbols, in (symbol, ts) order', async () => {
    const date = '2024-11-26';
    await t.curated.writeCuratedBars([row('AAPL', T0 + 60_000, 1), row('AAPL', T0, 2), row('MSFT', T0, 3)], 'src', date);
    // The key puts MSFT before AAPL: only a store that keeps the relation's order, rather than sorting by the text, writes that order.
    const keyed = `SELECT * EXCLUDE (k_sym, k_ts) FROM (SELECT *, CASE symbol WHEN 'MSFT' THEN 1 ELSE 2 END AS k_sym, epoch_ms(ts) AS k_ts FROM ${t.curated.relationSql('src', [date])} ORDER BY k_sym, k_ts)`;
    await t.curated.writeCuratedRelation(keyed, 'bars_1min', date, ['AAPL', 'MSFT'], { ordered: true });
    const file = t.curated.partitionFile('bars_1min', date);
    const columns = await t.lake.query<{ column_name: string }>(`SELECT column_name FROM (DESCRIBE SELECT * FROM read_parquet('${file}', hive_partitioning = false))`);
    expect(columns.map((c) => c.column_name)).toEqual(CURATED_BARS.names);
    const order = async (): Promise<unknown[][]> =>
      (await t.lake.query<{ symbol: string; ts: number }>(`SELECT symbol, epoch_ms(ts) AS ts FROM read_parquet('${file}')`)).map((r) => [r.symbol, r.ts]);
    expect(await order()).toEqual([['MSFT', T0], ['AAPL', T0], ['AAPL', T0 + 60_000]]);
    // Replacing AAPL keeps MSFT's rows from the file: the union is sorted by (symbol, ts) whatever the key.
    const aapl = `SELECT * FROM ${t.curated.relationSql('src', [date], ['AAPL'])} ORDER BY ts DESC`;
    await t.curated.writeCuratedRelation(aapl, 'bars_1min', date, ['AAPL'], { ordered: true });
    expect(await order()).toEqual([['AAPL', T0], ['AAPL', T0 + 60_000], ['MSFT', T0]]);
  });

  it('refuses names that would leave the lake', async () => {
    await expect(t.curated.writeCuratedBars([], '../x', '2024-11-26')).rejects.toBeInstanceOf(InputError);
    await expect(t.curated.writeCuratedBars([], 'bars_1min', '2024-11-26/../../x')).rejects.toBeInstanceOf(InputError);
    await expect(t.curated.writeCuratedBars([row('../../etc', T0, 1)], 'bars_1min', '2024-11-26')).rejects.toBeInstanceOf(InputError);
  });
});
