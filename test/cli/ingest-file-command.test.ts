import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { main } from '../../src/cli/program.js';
import { Lake } from '../../src/storage/lake.js';
import { runCli } from '../support/child.js';

// The hostile inputs of issue 16 through the CLI's own entry point (main, in this process: a child
// process per case would cost seconds each); one case also through a real child process.
const dir = mkdtempSync(join(tmpdir(), 'ibpipe-ingest-cli-'));
const lakeDir = join(dir, 'lake');
const cfg = join(dir, 'cfg.yaml');
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const HEADER = 'symbol,ts,open,high,low,close,volume';
const GOOD = ['AAPL,2024-11-26T14:30:00Z,10,11,9,10.5,100', 'AAPL,2024-11-26T14:31:00Z,10,11,9,10.5,101'];

async function cli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const out = process.stdout.write.bind(process.stdout);
  const err = process.stderr.write.bind(process.stderr);
  process.stdout.write = ((chunk: string | Uint8Array) => ((stdout += String(chunk)), true)) as typeof process.stdout.write;
  process.stderr.write = ((chunk: string | Uint8Array) => ((stderr += String(chunk)), true)) as typeof process.stderr.write;
  try {
    const code = await main(args);
    return { code, stdout, stderr };
  } finally {
    process.stdout.write = out;
    process.stderr.write = err;
    process.exitCode = undefined;
  }
}

/** Every file of the lake with its size and modification time (DuckDB's spill folder aside). */
function snapshot(): string[] {
  const out: string[] = [];
  const walk = (d: string): void => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      if (e.isDirectory()) {
        if (relative(lakeDir, p) !== '.tmp') walk(p);
      } else out.push(`${relative(lakeDir, p)} ${statSync(p).size} ${statSync(p).mtimeMs}`);
    }
  };
  walk(lakeDir);
  return out.sort();
}

async function parquet(name: string, select: string): Promise<string> {
  const f = join(dir, name);
  const lake = await Lake.open({ root: join(dir, 'scratch') });
  try {
    await lake.run(`COPY (${select}) TO '${f}' (FORMAT parquet)`);
  } finally {
    await lake.close();
  }
  return f;
}

beforeAll(async () => {
  writeFileSync(
    cfg,
    `lake: { root: ${lakeDir} }\ninstruments:\n  - { key: AAPL, sec_type: STK, symbol: AAPL, exchange: SMART, currency: USD, calendar: XNYS }\n`,
  );
  const good = join(dir, 'good.csv');
  writeFileSync(good, [HEADER, ...GOOD].join('\n'));
  const r = await cli(['ingest-file', '--config', cfg, good]);
  expect(r.stderr).toBe('');
  expect(r.code).toBe(0);
});

describe('ibpipe ingest-file refuses hostile input: exit 2, where and why, the lake unchanged', () => {
  const csvCases: [name: string, row: string, where: string, message: string][] = [
    ['feb30', 'AAPL,2024-02-30T14:30:00Z,1,2,0.5,1.5,10', ':3:6: column ts: "2024-02-30T14:30:00Z"', 'is not a calendar date'],
    ['nov31', 'AAPL,2024-11-31T14:30:00Z,1,2,0.5,1.5,10', ':3:6: column ts: "2024-11-31T14:30:00Z"', 'is not a calendar date'],
    ['feb29', 'AAPL,2023-02-29T14:30:00Z,1,2,0.5,1.5,10', ':3:6: column ts: "2023-02-29T14:30:00Z"', 'is not a calendar date'],
    ['t24', 'AAPL,2024-11-26T24:00:00Z,1,2,0.5,1.5,10', ':3:6: column ts: "2024-11-26T24:00:00Z"', 'is not a time of day'],
    ['truncated-epoch', 'AAPL,17326314,1,2,0.5,1.5,10', ':3:6: column ts: "17326314"', 'as an epoch number is outside the plausible range'],
    ['year-1900', 'AAPL,1900-01-01T14:30:00Z,1,2,0.5,1.5,10', ':3:6: column ts: "1900-01-01T14:30:00Z"', 'is outside the plausible range'],
    ['zone-less', 'AAPL,2024-11-26T14:35:00,1,2,0.5,1.5,10', ':3:6: column ts: "2024-11-26T14:35:00"', 'has no zone'],
    ['hex', 'AAPL,2024-11-26T14:35:00Z,0x10,2,0.5,1.5,10', ':3:27: column open: "0x10"', 'is not a decimal number'],
    ['infinity', 'AAPL,2024-11-26T14:35:00Z,1,2,0.5,Infinity,10', ':3:35: column close: "Infinity"', 'is not a decimal number'],
  ];
  for (const [name, row, where, message] of csvCases) {
    it(`CSV: ${name}`, async () => {
      // the column in the message is where the quoted cell starts in the row
      const [, column, cell] = /^:3:(\d+): column \w+: "(.*)"$/.exec(where) ?? [];
      expect(row.indexOf(`,${cell},`) + 2).toBe(Number(column));
      const f = join(dir, `${name}.csv`);
      writeFileSync(f, [HEADER, GOOD[0], row].join('\n'));
      const before = snapshot();
      const r = await cli(['ingest-file', '--config', cfg, f]);
      expect(r.code).toBe(2);
      expect(r.stderr).toContain(`${f}${where} ${message}`);
      expect(snapshot()).toEqual(before);
    });
  }

  it('CSV: a 20 MB bad cell is named by line and column, not echoed', async () => {
    const f = join(dir, 'big-cell.csv');
    writeFileSync(f, [HEADER, GOOD[0], `AAPL,2024-11-26T14:35:00Z,${'1'.repeat(20 * 1024 * 1024)}x,2,0.5,1.5,10`].join('\n'));
    const before = snapshot();
    const r = await cli(['ingest-file', '--config', cfg, f]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`${f}:3:1: line is 20,971,`);
    expect(r.stderr.length).toBeLessThan(500);
    expect(snapshot()).toEqual(before);
  });

  it('Parquet: zone-less TIMESTAMP refused naming the column; accepted with --ts-timezone, as New York time', async () => {
    const f = await parquet('naive.parquet', `SELECT 'AAPL' AS symbol, TIMESTAMP '2024-11-27 09:30:00' + to_minutes(i::BIGINT) AS ts, 1.0 AS open, 2.0 AS high, 0.5 AS low, 1.5 AS close, 10 AS volume FROM range(3) r(i)`);
    const before = snapshot();
    const r = await cli(['ingest-file', '--config', cfg, f]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`${f}: column ts: is a TIMESTAMP without time zone`);
    expect(snapshot()).toEqual(before);
    expect((await cli(['ingest-file', '--config', cfg, '--ts-timezone', 'Mars/Olympus', f])).code).toBe(2);
    const ok = await cli(['ingest-file', '--config', cfg, '--ts-timezone', 'America/New_York', '--format', 'json', f]);
    expect(ok.code).toBe(0);
    const q = await cli(['sql', '--config', cfg, '--format', 'json', `SELECT CAST(min(ts) AS VARCHAR) AS first FROM raw_bars WHERE request_id = 'naive.parquet'`]);
    expect(JSON.parse(q.stdout)).toEqual([{ first: '2024-11-27 14:30:00+00' }]);
  });

  it('Parquet: corrupt pages and a 1900 instant exit 2 naming the file (and the row)', async () => {
    const f = await parquet('corrupt.parquet', `SELECT 'AAPL' AS symbol, TIMESTAMPTZ '2024-11-26 14:30:00+00' + to_minutes(i::BIGINT) AS ts, 1.0 AS open, 2.0 AS high, 0.5 AS low, 1.5 AS close, 10 AS volume FROM range(50) r(i)`);
    const bytes = readFileSync(f);
    for (let i = 4; i < 12; i++) bytes[i] = (bytes[i] as number) ^ 0xa5;
    writeFileSync(f, bytes);
    const g = await parquet('y1900.parquet', `SELECT 'AAPL' AS symbol, TIMESTAMPTZ '1900-01-01 00:00:00+00' AS ts, 1.0 AS open, 2.0 AS high, 0.5 AS low, 1.5 AS close, 10 AS volume`);
    const before = snapshot();
    const r = await cli(['ingest-file', '--config', cfg, f]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`${f}: cannot read as Parquet (`);
    const s = await cli(['ingest-file', '--config', cfg, g]);
    expect(s.code).toBe(2);
    expect(s.stderr).toContain(`${g}: row 1, column ts: "1900-01-01 00:00:00+00" is outside the plausible range`);
    expect(snapshot()).toEqual(before);
  });

  it('all or nothing across files, as a real child process: a good file before a bad one is not written either', async () => {
    const good = join(dir, 'good2.csv');
    writeFileSync(good, [HEADER, 'AAPL,2024-11-27T14:30:00Z,1,2,0.5,1.5,10'].join('\n'));
    const bad = join(dir, 'bad2.csv');
    writeFileSync(bad, [HEADER, 'AAPL,2024-11-27T14:31:00Z,1,2,0.5,1.5,1e999'].join('\n'));
    const before = snapshot();
    const r = await runCli(['ingest-file', '--config', cfg, good, bad]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`${bad}:2:39: column volume: "1e999" is too large for a double`);
    expect(snapshot()).toEqual(before);
  });
});
