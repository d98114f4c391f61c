import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { runCli } from '../support/child.js';

const dir = mkdtempSync(join(tmpdir(), 'ibpipe-cli-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const CONFIG = `
lake: { root: ./lake }
instruments:
  - { key: AAPL, sec_type: STK, symbol: AAPL, exchange: SMART, currency: USD, calendar: XNYS }
  - { key: MSFT, sec_type: STK, symbol: MSFT, exchange: SMART, currency: USD, calendar: XNYS }
`;

describe('ibpipe CLI (foundation commands, real child processes)', () => {
  it('config check prints every problem with its path and exits 2', async () => {
    const f = join(dir, 'bad.yaml');
    writeFileSync(
      f,
      `instruments:
  - { key: AAPL, sec_type: STK, symbol: AAPL, exchange: SMART, currency: USD, calendar: XNYS }
  - { key: OK, sec_type: STK, symbol: X, exchange: SMART, currency: USD, calendar: XNYS }
  - { key: ../../etc, sec_type: STK, symbol: X, exchange: SMART, currency: USD, calendar: XNYS }
tws: { port: 99999 }
lake: { rooot: /tmp }
`,
    );
    const r = await runCli(['config', 'check', f]);
    expect(r.code).toBe(2);
    const lines = r.stderr.trim().split('\n');
    expect(lines).toContain('instruments[2].key: must match ^[A-Za-z0-9._-]{1,32}$');
    expect(lines.some((l) => l.startsWith('tws.port: '))).toBe(true);
    expect(lines).toContain('lake.rooot: unknown key');
    expect(lines).toHaveLength(3);
  });

  it('a YAML alias bomb exits 2 with a clear message instead of expanding', async () => {
    const f = join(dir, 'bomb.yaml');
    // Nine levels of nine aliases: 9^9 (387 million) strings once expanded.
    const levels = ['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'i'];
    const lines = levels.map((name, i) => (i === 0 ? `${name}: &${name} ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]` : `${name}: &${name} [${Array(9).fill(`*${levels[i - 1]}`).join(',')}]`));
    writeFileSync(f, `${lines.join('\n')}\n${CONFIG}`);
    const r = await runCli(['config', 'check', f]);
    expect(r.code).toBe(2);
    expect(r.stderr.trim()).toBe(`${f}: YAML aliases expand more than 100 times (an alias bomb?); write the values out or use fewer anchors`);
  });

  it('config check accepts the shipped configs', async () => {
    for (const f of ['config/demo.yaml', 'config/production.example.yaml']) {
      const r = await runCli(['config', 'check', f]);
      expect(r.stderr).toBe('');
      expect(r.code).toBe(0);
    }
  });

  it('config schema prints a JSON Schema', async () => {
    const r = await runCli(['config', 'schema']);
    expect(r.code).toBe(0);
    const schema = JSON.parse(r.stdout) as { properties: Record<string, unknown> };
    expect(Object.keys(schema.properties)).toEqual(expect.arrayContaining(['lake', 'tws', 'instruments']));
  });

  it('ingest-file exits 2 on a malformed file and writes nothing; sql reads the lake', async () => {
    const cfg = join(dir, 'ok.yaml');
    writeFileSync(cfg, CONFIG);
    const bad = join(dir, 'bad.csv');
    writeFileSync(bad, 'symbol,ts,open,high,low,close,volume\nAAPL,1732631400,1,1,1,1,1\nAAPL,1732631460,1,1,x,1,1\n');
    const good = join(dir, 'good.csv');
    writeFileSync(good, 'symbol,ts,open,high,low,close,volume\nAAPL,1732631400,1,2,0.5,1.5,10\nMSFT,1732631400,3,4,2,3.5,20\n');
    const r1 = await runCli(['ingest-file', '--config', cfg, good, bad]);
    expect(r1.code).toBe(2);
    expect(r1.stderr).toContain(`${bad}:3:21: column low: "x" is not a decimal number`);
    const r2 = await runCli(['sql', '--config', cfg, '--format', 'json', 'SELECT count(*) AS n FROM raw_bars']);
    expect(r2.code).toBe(0);
    expect(JSON.parse(r2.stdout)).toEqual([{ n: 0 }]);
    const r3 = await runCli(['ingest-file', '--config', cfg, '--format', 'json', good]);
    expect(r3.code).toBe(0);
    const r4 = await runCli(['sql', '--config', cfg, '--format', 'csv', 'SELECT symbol, close FROM raw_bars ORDER BY symbol']);
    expect(r4.stdout.trim().split('\n')).toEqual(['symbol,close', 'AAPL,1.5', 'MSFT,3.5']);
  });

  it('every command has --help', async () => {
    for (const cmd of [['config', 'check'], ['ingest-file'], ['sql']]) {
      const r = await runCli([...cmd, '--help']);
      expect(r.code).toBe(0);
      expect(r.stdout).toContain('Usage: ibpipe');
    }
  });
});
