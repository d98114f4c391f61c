import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { startPostgresOrSkip } from '../support/postgres-server.js';
import { runCli } from '../support/child.js';

const pg = await startPostgresOrSkip();
const dir = mkdtempSync(join(tmpdir(), 'ibpipe-cli-db-'));
afterAll(() => {
  pg?.destroy();
  rmSync(dir, { recursive: true, force: true });
});

const SECRET = 's3cret-never-printed';

function config(source: string): string {
  const file = join(dir, `cfg-${Math.random().toString(36).slice(2)}.yaml`);
  writeFileSync(
    file,
    `lake: { root: ./lake }
instruments:
  - { key: AAPL, sec_type: STK, symbol: AAPL, exchange: SMART, currency: USD, calendar: XNYS }
  - { key: MSFT, sec_type: STK, symbol: MSFT, exchange: SMART, currency: USD, calendar: XNYS }
sources:
${source}`,
  );
  return file;
}

describe.skipIf(!pg)('ibpipe ingest-db (child process, real PostgreSQL)', () => {
  it('loads a bars table, a re-run adds nothing, --dry-run counts new rows; credentials never printed', async () => {
    // 2 symbols x 30 one-minute bars from 2024-01-02 14:30Z.
    await pg!.sql(`CREATE TABLE market_bars AS
      SELECT s AS symbol, timestamptz '2024-01-02 14:30:00+00' + make_interval(mins => i) AS ts,
             100 + i AS open, 101 + i AS high, 99 + i AS low, 100.5 + i AS close, 1000 * i AS volume
      FROM unnest(ARRAY['AAPL', 'MSFT']) AS s, generate_series(0, 29) AS i`);
    const cfg = config(`  - type: postgres
    name: warehouse
    table: public.market_bars
    url_env: WAREHOUSE_URL
    page_size: 25
    columns: { symbol: symbol, ts: ts, open: open, high: high, low: low, close: close, volume: volume }
`);
    const env = { WAREHOUSE_URL: `postgres://postgres:${SECRET}@127.0.0.1:${pg!.port}/postgres`, PGPASSWORD: SECRET };
    const r1 = await runCli(['ingest-db', '--config', cfg, '--format', 'json'], env);
    expect(r1.stderr).not.toContain(SECRET);
    expect(r1.stdout).not.toContain(SECRET);
    expect(r1.code, r1.stderr).toBe(0);
    expect(JSON.parse(r1.stdout)).toEqual([{ source: 'warehouse', batches: 3, batches_written: 3, rows_read: 60, rows_written: 60 }]);

    const r2 = await runCli(['ingest-db', '--config', cfg, '--format', 'json'], env);
    expect(r2.code, r2.stderr).toBe(0);
    expect(JSON.parse(r2.stdout)).toEqual([{ source: 'warehouse', batches: 0, batches_written: 0, rows_read: 0, rows_written: 0 }]);

    await pg!.sql(`INSERT INTO market_bars VALUES ('AAPL', '2024-01-02 15:00:00+00', 1, 2, 0.5, 1.5, 7)`);
    const r3 = await runCli(['ingest-db', '--config', cfg, '--format', 'csv', '--dry-run', '--symbols', 'AAPL'], env);
    expect(r3.code, r3.stderr).toBe(0);
    expect(r3.stdout.trim().split('\n')).toEqual(['source,symbol,rows,first,end', 'warehouse,AAPL,1,2024-01-02T15:00:00.000Z,2024-01-02T15:01:00.000Z']);

    const r4 = await runCli(['sql', '--config', cfg, '--format', 'csv', "SELECT symbol, count(*) AS n, sum(volume) AS v FROM raw_bars WHERE source = 'DB' GROUP BY symbol ORDER BY symbol"]);
    // sum of 1000·i for i = 0..29 = 435000
    expect(r4.stdout.trim().split('\n')).toEqual(['symbol,n,v', 'AAPL,30,435000', 'MSFT,30,435000']);
  });

  it('exits 2 naming the column when the table does not match the mapping', async () => {
    await pg!.sql(`CREATE TABLE other_bars (sym text, ts timestamptz, o float8, h float8, l float8, c float8, v float8)`);
    const cfg = config(`  - type: postgres
    name: other
    table: other_bars
    columns: { symbol: sym, ts: ts, open: o, high: h, low: l, close: px_close, volume: v }
`);
    const r = await runCli(['ingest-db', '--config', cfg], { ...pg!.env, PGPASSWORD: SECRET });
    expect(r.code, r.stderr).toBe(2);
    expect(r.stderr).toContain('column "px_close" (columns.close) not found in table other_bars');
    expect(r.stderr).not.toContain(SECRET);
  });
});
