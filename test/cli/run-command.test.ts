import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { getCalendar } from '../../src/calendar/calendar-registry.js';
import { parseSymbols, planRunDates } from '../../src/cli/run-command.js';
import { makeBar, makeBars } from '../support/bar-factory.js';
import { spawnTs, waitForExit } from '../support/child.js';
import { openTempLake } from '../support/temp-lake.js';

const utc = (s: string): number => Date.parse(s);
let dir: string;
let config: string;

async function ibpipe(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawnTs('src/cli/main.ts', args);
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
  const code = await waitForExit(child);
  return { code, stdout, stderr };
}

const curatedFile = (date: string): string => join(dir, 'curated', 'bars_1min', `date=${date}`, 'data.parquet');

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'ibpipe-'));
  const t = await openTempLake(dir);
  // Full XNYS sessions: Fri 03-08 (EST 14:30Z-21:00Z), Mon 03-11 and Tue 03-12 (EDT 13:30Z-20:00Z).
  const sessions: [string, string][] = [
    ['2024-03-08T14:30:00Z', '2024-03-08T21:00:00Z'],
    ['2024-03-11T13:30:00Z', '2024-03-11T20:00:00Z'],
    ['2024-03-12T13:30:00Z', '2024-03-12T20:00:00Z'],
  ];
  const events = sessions.flatMap(([a, b]) => ['AAPL', 'MSFT'].flatMap((s) => makeBars(s, utc(a), utc(b))));
  // One fat-finger volume on 03-12 that a `fail` rule must stop.
  const fat = utc('2024-03-12T16:00:00Z');
  await t.raw.writeTwsBars(events.map((e) => (e.symbol === 'MSFT' && e.ts === fat ? makeBar('MSFT', fat, { volume: 5e6 }) : e)), 'fixture-1', utc('2024-03-13T00:00:00Z'));
  await t.lake.close();
  config = join(dir, 'ibpipe.yaml');
  writeFileSync(
    config,
    [
      `lake: { root: ${JSON.stringify(dir)} }`,
      'instruments:',
      '  - { key: AAPL, sec_type: STK, symbol: AAPL, exchange: SMART, currency: USD, calendar: XNYS }',
      '  - { key: MSFT, sec_type: STK, symbol: MSFT, exchange: SMART, currency: USD, calendar: XNYS }',
      'dq_rules:',
      '  tws_bars:',
      '    - { type: ohlc_consistency, severity: error, action: quarantine }',
      '    - { type: range, name: volume_cap, field: volume, max: 1000000, severity: error, action: fail }',
      'gaps: { frequency: 1min, imputation: { close: ffill, volume: zero }, max_gap_bars: 30 }',
      'logging: { level: warn, format: json }',
      '',
    ].join('\n'),
  );
});
afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

describe('ibpipe run transform', () => {
  it('processes each session of a range in order; a fail rule exits 3 and publishes nothing for that date', async () => {
    const res = await ibpipe(['run', 'transform', '--config', config, '--start', '2024-03-08', '--end', '2024-03-12', '--format', 'json']);
    expect(res.code).toBe(3);
    const rows = JSON.parse(res.stdout) as { date: string; status: string; curated_rows?: number; error?: string }[];
    expect(rows.map((r) => [r.date, r.status])).toEqual([
      ['2024-03-08', 'ok'],
      ['2024-03-11', 'ok'],
      ['2024-03-12', 'dq_failed'],
    ]);
    expect(rows[0]?.curated_rows).toBe(780);
    expect(rows[2]?.error).toContain('nothing published');
    expect(res.stderr).toContain('DQ_FAILED');
    expect(existsSync(curatedFile('2024-03-08'))).toBe(true);
    expect(existsSync(curatedFile('2024-03-11'))).toBe(true);
    expect(existsSync(curatedFile('2024-03-12'))).toBe(false);
    const jobRuns = readFileSync(join(dir, 'state', 'job_runs.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { status: string });
    expect(jobRuns.map((r) => r.status)).toEqual(['running', 'ok', 'running', 'ok', 'running', 'failed']);

    // Re-running one date through the CLI rewrites an identical file.
    const before = readFileSync(curatedFile('2024-03-11'));
    const again = await ibpipe(['run', 'transform', '--config', config, '--date', '2024-03-11', '--symbols', 'AAPL,MSFT', '--format', 'csv']);
    expect(again.code).toBe(0);
    expect(again.stdout.split('\n')[0]).toMatch(/^date,job,status,run_id,raw_rows,/);
    expect(readFileSync(curatedFile('2024-03-11')).equals(before)).toBe(true);
  });

  it('rejects bad usage with exit 2', async () => {
    const both = await ibpipe(['run', 'transform', '--config', config, '--date', '2024-03-11', '--start', '2024-03-08', '--end', '2024-03-11']);
    expect(both.code).toBe(2);
    expect(both.stderr).toContain('either --date or --start/--end');
    const unknown = await ibpipe(['run', 'transform', '--config', config, '--date', '2024-03-11', '--symbols', 'NOPE']);
    expect(unknown.code).toBe(2);
  });
});

describe('run helpers', () => {
  it('plans session dates across calendars and parses symbol lists', () => {
    // 2024-03-08..11: XNYS Fri and Mon; CMES labels Sunday evening's session Monday.
    expect(planRunDates({ start: '2024-03-08', end: '2024-03-11' }, [getCalendar('XNYS'), getCalendar('CMES')])).toEqual(['2024-03-08', '2024-03-11']);
    expect(planRunDates({ start: '2024-11-27', end: '2024-11-29' }, [getCalendar('XNYS')])).toEqual(['2024-11-27', '2024-11-29']);
    expect(planRunDates({ date: '2024-03-09' }, [getCalendar('XNYS')])).toEqual(['2024-03-09']);
    expect(() => planRunDates({ start: '2024-03-08' }, [])).toThrow(/--end/);
    expect(parseSymbols(['AAPL,MSFT', 'SPY', 'AAPL'])).toEqual(['AAPL', 'MSFT', 'SPY']);
    expect(parseSymbols(undefined)).toBeUndefined();
  });
});
