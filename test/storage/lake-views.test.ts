import { existsSync, writeFileSync } from 'node:fs';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { InputError } from '../../src/core/errors.js';
import { BACKFILL_LEDGER } from '../../src/data-sources/tws/backfill-ledger.js';
import { createLakeViews } from '../../src/storage/lake-views.js';
import { makeBars } from '../support/bar-factory.js';
import { openTempLake, type TempLake } from '../support/temp-lake.js';

let t: TempLake;
beforeEach(async () => {
  t = await openTempLake();
});
afterEach(async () => {
  await t.cleanup();
});

describe('lake views for ibpipe sql', () => {
  it('exposes raw bars of committed batches, curated bars and the state ledgers', async () => {
    await t.raw.writeTwsBars(makeBars('AAPL', Date.parse('2024-11-26T14:30:00Z'), Date.parse('2024-11-26T14:40:00Z')), 'b1', 1);
    writeFileSync(t.lake.path('state', BACKFILL_LEDGER), '{"type":"window","instrument":"AAPL","status":"ok","bars":390}\n{"type":"window","instrument":"MSFT","status":"pacing","bars":null}\n');
    const views = await createLakeViews(t.lake, t.raw);
    expect(views).toEqual(expect.arrayContaining(['raw_bars', 'curated_bars', 'backfill_ledger', 'raw_batches']));
    const [raw] = await t.lake.query<{ n: number; d: string }>('SELECT count(*) AS n, min(date)::VARCHAR AS d FROM raw_bars');
    expect(raw).toEqual({ n: 10, d: '2024-11-26' });
    expect(await t.lake.query('SELECT count(*) AS n FROM curated_bars')).toEqual([{ n: 0 }]);
    expect(await t.lake.query("SELECT instrument FROM backfill_ledger WHERE status = 'pacing'")).toEqual([{ instrument: 'MSFT' }]);
  });
});

describe('read-only queries confined to the lake (what ibpipe sql runs)', () => {
  it('runs SELECT, SHOW and DESCRIBE; refuses every other statement kind, several statements and files outside the root', async () => {
    await t.raw.writeTwsBars(makeBars('AAPL', Date.parse('2024-11-26T14:30:00Z'), Date.parse('2024-11-26T14:35:00Z')), 'b1', 1);
    await createLakeViews(t.lake, t.raw);
    await t.lake.confineToLake();
    expect((await t.lake.queryReadOnly('FROM raw_bars SELECT count(*) AS n')).rows).toEqual([{ n: 5 }]);
    expect((await t.lake.queryReadOnly('SHOW TABLES')).rows.map((r) => r['name'])).toContain('raw_bars');
    expect((await t.lake.queryReadOnly('DESCRIBE raw_bars')).rows.map((r) => r['column_name'])).toContain('close');
    expect((await t.lake.queryReadOnly(`SELECT count(*) AS n FROM glob(${JSON.stringify(`${t.dir}/raw/**/*.parquet`).replaceAll('"', "'")})`)).rows).toEqual([{ n: 1 }]);
    const refused = async (sql: string): Promise<string> => {
      const err = await t.lake.queryReadOnly(sql).then(
        () => null,
        (e: unknown) => e,
      );
      expect(err, sql).toBeInstanceOf(InputError);
      return (err as Error).message;
    };
    expect(await refused('SELECT 1; SELECT 2')).toBe('refused: 2 statements given; ibpipe sql runs one query at a time');
    expect(await refused('   ')).toBe('refused: no SQL statement given');
    expect(await refused(`SELECT * FROM read_text('${t.dir}/../../etc/hostname')`)).toMatch(/^refused: .*etc\/hostname is outside the lake root/);
    expect(await refused(`SELECT * FROM glob('/etc/*')`)).toMatch(/^refused: \/etc\/\* is outside the lake root/);
    for (const [sql, kind] of [
      [`EXPLAIN ANALYZE COPY (SELECT 1) TO '${t.dir}/x.csv'`, 'EXPLAIN'],
      ['CALL pragma_version()', 'CALL'],
      ['BEGIN', 'transaction'],
      ['SET VARIABLE x = 1', 'SET, RESET'],
      ['RESET threads', 'SET, RESET'],
      [`EXPORT DATABASE '${t.dir}/exp'`, 'EXPORT'],
      ['CREATE MACRO m() AS 1', 'CREATE'],
      ['UPDATE EXTENSIONS', 'UPDATE'],
      ['PRAGMA show_tables', 'PRAGMA'],
      ['INSERT INTO raw_bars SELECT * FROM raw_bars', 'INSERT'],
      ['/* hi */ -- x\n ATTACH \'x.db\'', 'ATTACH'],
    ]) {
      expect(await refused(sql as string), sql).toMatch(new RegExp(`^refused: ${kind}`));
    }
    // Nothing above wrote a file; a locked configuration cannot be reopened from SQL either.
    expect(existsSync(`${t.dir}/x.csv`) || existsSync(`${t.dir}/exp`)).toBe(false);
    await expect(t.lake.run('SET enable_external_access = true')).rejects.toThrow(/locked/);
  });
});
