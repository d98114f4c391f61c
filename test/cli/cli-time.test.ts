import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { InstantFormatter } from '../../src/cli/instant-format.js';
import { ManualClock } from '../../src/core/clock.js';
import { InputError } from '../../src/core/errors.js';
import { JobLedger } from '../../src/ops/job-ledger.js';
import { makeBars } from '../support/bar-factory.js';
import { runCliInProcess } from '../support/cli-in-process.js';
import { openTempLake } from '../support/temp-lake.js';

// The expected strings below are written from the definition of New York time, not from the code:
// EST is UTC-5, EDT is UTC-4. In 2024 EDT began on Sunday 10 March at 02:00 EST (= 07:00 UTC; local
// clocks jump 01:59:59 -> 03:00:00) and ended on Sunday 3 November at 02:00 EDT (= 06:00 UTC; local
// 01:00-01:59 happens twice, first as EDT then as EST).
const NY = 'America/New_York';
const utc = (s: string): number => Date.parse(s);

describe('InstantFormatter (pure)', () => {
  it('prints UTC with Z, fractional seconds only when non-zero and as many digits as they need', () => {
    const f = InstantFormatter.fromOption(undefined);
    expect(f.fromEpochMs(Date.UTC(2024, 10, 26, 14, 30))).toBe('2024-11-26T14:30:00Z');
    expect(f.fromEpochMs(Date.UTC(2024, 10, 26, 14, 30, 0, 120))).toBe('2024-11-26T14:30:00.120Z');
    expect(f.fromEpochMs(Date.UTC(1969, 11, 31, 23, 59, 59, 500))).toBe('1969-12-31T23:59:59.500Z');
    // 2024-11-26T14:30:00Z is 1,732,631,400 s after the epoch.
    expect(f.fromEpochNanos(1_732_631_400_000_001_000n)).toBe('2024-11-26T14:30:00.000001Z');
    expect(f.fromEpochNanos(1_732_631_400_000_000_007n)).toBe('2024-11-26T14:30:00.000000007Z');
    expect(f.fromEpochNanos(-1n)).toBe('1969-12-31T23:59:59.999999999Z');
    expect(InstantFormatter.fromOption('UTC').fromEpochMs(0)).toBe('1970-01-01T00:00:00Z');
  });

  it('--tz America/New_York: local time with the offset in force at each instant, across both 2024 DST changes', () => {
    const f = InstantFormatter.fromOption(NY);
    expect(f.fromEpochMs(utc('2024-03-10T06:59:59Z'))).toBe('2024-03-10T01:59:59-05:00');
    expect(f.fromEpochMs(utc('2024-03-10T07:00:00Z'))).toBe('2024-03-10T03:00:00-04:00');
    expect(f.fromEpochMs(utc('2024-11-03T05:30:00Z'))).toBe('2024-11-03T01:30:00-04:00');
    expect(f.fromEpochMs(utc('2024-11-03T06:30:00Z'))).toBe('2024-11-03T01:30:00-05:00');
    expect(f.fromEpochMs(utc('2024-11-26T14:30:00.250Z'))).toBe('2024-11-26T09:30:00.250-05:00');
  });

  it('refuses an unknown zone as bad input naming the flag', () => {
    expect(() => InstantFormatter.fromOption('America/Nowhere')).toThrow(InputError);
    expect(() => InstantFormatter.fromOption('America/Nowhere')).toThrow(/--tz: unknown time zone "America\/Nowhere"/);
  });

  it('formats only the declared paths of a summary; dates, numbers elsewhere and missing keys stay as they are', () => {
    const f = InstantFormatter.fromOption(undefined);
    const summary = { date: '2024-03-08', asOf: utc('2024-03-09T00:00:00Z'), counts: { read: 5 }, reports: [{ overLimit: [{ start: utc('2024-03-08T15:00:00Z'), bars: 40 }] }, { overLimit: [] }] };
    expect(f.paths(summary, ['asOf', 'reports[].overLimit[].start', 'absent[].x'])).toEqual({
      date: '2024-03-08',
      asOf: '2024-03-09T00:00:00Z',
      counts: { read: 5 },
      reports: [{ overLimit: [{ start: '2024-03-08T15:00:00Z', bars: 40 }] }, { overLimit: [] }],
    });
    expect(f.paths([{ at: 0 }, { at: null }], ['[].at'])).toEqual([{ at: '1970-01-01T00:00:00Z' }, { at: null }]);
  });
});

describe('instants in ibpipe sql, status, run and features latest (in process, real lake)', () => {
  let dir: string;
  let cfg: string;
  const GAP_START = utc('2024-03-08T15:00:00Z');

  beforeAll(async () => {
    const t = await openTempLake(mkdtempSync(join(tmpdir(), 'ibpipe-cli-time-')));
    dir = t.dir;
    // Friday 2024-03-08 (EST, session 14:30Z-21:00Z): AAPL with 40 bars missing from 15:00Z, past max_gap_bars 30.
    const open = utc('2024-03-08T14:30:00Z');
    const bars = makeBars('AAPL', open, utc('2024-03-08T21:00:00Z')).filter((b) => b.ts < GAP_START || b.ts >= GAP_START + 40 * 60_000);
    await t.raw.writeTwsBars(bars, 'cli-time', utc('2024-03-09T00:00:00Z'));
    // One job run recorded at a known instant: 07:00:00 UTC on the day EDT began.
    const ledger = new JobLedger(t.lake, new ManualClock(utc('2024-03-10T07:00:00Z')));
    ledger.finish(ledger.start('compact', 'compact', { date: '2024-03-08' }, 'manual', 1, null), 'ok', { rows: 0 });
    await t.lake.close();
    cfg = join(dir, 'ibpipe.yaml');
    writeFileSync(
      cfg,
      [
        `lake: { root: ${JSON.stringify(dir)} }`,
        'instruments:',
        '  - { key: AAPL, sec_type: STK, symbol: AAPL, exchange: SMART, currency: USD, calendar: XNYS }',
        'gaps: { frequency: 1min, imputation: { close: ffill, volume: zero }, max_gap_bars: 30 }',
        'logging: { level: error, format: json }',
        '',
      ].join('\n'),
    );
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  // TIMESTAMPTZ from the lake, a zone-less TIMESTAMP (read as UTC), millisecond and nanosecond
  // timestamps, a DATE, and an epoch-ms BIGINT that must stay a number: instants are known by type.
  const QUERY = `SELECT ts, CAST(ts AS TIMESTAMP) + INTERVAL 250 MILLISECOND AS naive, CAST(ts AS TIMESTAMP_NS) + INTERVAL 1 MICROSECOND AS ns,
    date, epoch_ms(ts) AS ms, NULL::TIMESTAMPTZ AS nothing FROM raw_bars WHERE symbol = 'AAPL' ORDER BY ts LIMIT 1`;

  it('sql: ISO 8601 instants by DuckDB column type in table, CSV and JSON', async () => {
    const json = await runCliInProcess(['sql', '--config', cfg, '--format', 'json', QUERY]);
    expect(json.stderr).toBe('');
    expect(json.code).toBe(0);
    expect(JSON.parse(json.stdout)).toEqual([
      { ts: '2024-03-08T14:30:00Z', naive: '2024-03-08T14:30:00.250Z', ns: '2024-03-08T14:30:00.000001Z', date: '2024-03-08', ms: utc('2024-03-08T14:30:00Z'), nothing: null },
    ]);
    const csv = await runCliInProcess(['sql', '--config', cfg, '--format', 'csv', QUERY]);
    expect(csv.stdout.trim().split('\n')).toEqual([
      'ts,naive,ns,date,ms,nothing',
      `2024-03-08T14:30:00Z,2024-03-08T14:30:00.250Z,2024-03-08T14:30:00.000001Z,2024-03-08,${utc('2024-03-08T14:30:00Z')},`,
    ]);
    const table = await runCliInProcess(['sql', '--config', cfg, '--format', 'table', QUERY]);
    const lines = table.stdout.trimEnd().split('\n');
    expect(lines[0]?.split(/\s+/)).toEqual(['ts', 'naive', 'ns', 'date', 'ms', 'nothing']);
    expect(lines[2]?.split(/\s+/)).toEqual(['2024-03-08T14:30:00Z', '2024-03-08T14:30:00.250Z', '2024-03-08T14:30:00.000001Z', '2024-03-08', String(utc('2024-03-08T14:30:00Z'))]);
  });

  it('sql --tz America/New_York: a DST-crossing pair with their own offsets; a bad --tz exits 2 before anything runs', async () => {
    const pair = `SELECT t FROM (VALUES (TIMESTAMPTZ '2024-03-10 06:59:59+00'), (TIMESTAMPTZ '2024-03-10 07:00:00+00'), (TIMESTAMPTZ '2024-11-03 05:30:00+00'), (TIMESTAMPTZ '2024-11-03 06:30:00+00')) v(t) ORDER BY t`;
    const r = await runCliInProcess(['sql', '--config', cfg, '--format', 'csv', '--tz', NY, pair]);
    expect(r.code).toBe(0);
    expect(r.stdout.trim().split('\n')).toEqual(['t', '2024-03-10T01:59:59-05:00', '2024-03-10T03:00:00-04:00', '2024-11-03T01:30:00-04:00', '2024-11-03T01:30:00-05:00']);
    const bad = await runCliInProcess(['sql', '--config', cfg, '--tz', 'Mars/Olympus_Mons', pair]);
    expect(bad.code).toBe(2);
    expect(bad.stdout).toBe('');
    expect(bad.stderr).toContain('--tz: unknown time zone "Mars/Olympus_Mons"');
  });

  it('status: the last run of each job with started_at as ISO 8601, in UTC and with --tz', async () => {
    const r = await runCliInProcess(['status', '--config', cfg, '--format', 'json']);
    expect(r.code).toBe(0);
    const jobs = (JSON.parse(r.stdout) as { jobs: { job: string; started_at: string }[] }).jobs;
    expect(jobs.find((j) => j.job === 'compact')?.started_at).toBe('2024-03-10T07:00:00Z');
    const local = await runCliInProcess(['status', '--config', cfg, '--format', 'csv', '--tz', NY]);
    expect(local.code).toBe(0);
    const csv = local.stdout.split('# jobs (last run of each)\n')[1]?.split('\n#')[0]?.trim().split('\n') ?? [];
    expect(csv[0]).toBe('job,status,trigger,started_at,duration_ms,error');
    expect(csv).toContain('compact,ok,manual,2024-03-10T03:00:00-04:00,0,');
  });

  it('run --format json: the transform summary carries its instants as ISO 8601 (the run instant, over-limit gap starts)', async () => {
    const before = Date.now();
    const r = await runCliInProcess(['run', 'transform', '--config', cfg, '--date', '2024-03-08', '--format', 'json']);
    const after = Date.now();
    expect(r.code).toBe(0);
    const [row] = JSON.parse(r.stdout) as { status: string; summary: { asOf: string; reports: { symbol: string; overLimit: { start: string; bars: number }[] }[] } }[];
    expect(row?.status).toBe('ok');
    expect(row?.summary.asOf).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{3})?Z$/);
    const asOf = Date.parse(row?.summary.asOf ?? '');
    expect(asOf).toBeGreaterThanOrEqual(Math.floor(before / 1000) * 1000);
    expect(asOf).toBeLessThanOrEqual(after);
    expect(row?.summary.reports.find((g) => g.symbol === 'AAPL')?.overLimit).toEqual([{ start: '2024-03-08T15:00:00Z', bars: 40 }]);
  });
});
