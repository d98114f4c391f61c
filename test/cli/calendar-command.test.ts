import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { runCli } from '../support/child.js';

// One node process per call (`node --import tsx`), not tsx's CLI, which starts a second one.
const ibpipe = runCli;

describe('ibpipe calendar sessions (child process)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ibpipe-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('prints the XNYS Thanksgiving week as CSV', async () => {
    const { code, stdout } = await ibpipe([
      'calendar',
      'sessions',
      '--calendar',
      'XNYS',
      '--start',
      '2024-11-25',
      '--end',
      '2024-12-02',
      '--format',
      'csv',
    ]);
    expect(code).toBe(0);
    expect(stdout).toBe(
      [
        'session,open,close',
        '2024-11-25,2024-11-25T14:30:00Z,2024-11-25T21:00:00Z',
        '2024-11-26,2024-11-26T14:30:00Z,2024-11-26T21:00:00Z',
        '2024-11-27,2024-11-27T14:30:00Z,2024-11-27T21:00:00Z',
        '2024-11-29,2024-11-29T14:30:00Z,2024-11-29T18:00:00Z',
        '2024-12-02,2024-12-02T14:30:00Z,2024-12-02T21:00:00Z',
        '',
      ].join('\n'),
    );
  });

  it('prints CMES and FX sessions that open the evening before, as JSON', async () => {
    const cmes = await ibpipe([
      'calendar',
      'sessions',
      '--calendar',
      'CMES',
      '--start',
      '2024-03-11',
      '--end',
      '2024-03-11',
      '--format',
      'json',
    ]);
    expect(cmes.code).toBe(0);
    // 17:00 Chicago on Sunday 2024-03-10 is CDT (UTC-5): 22:00Z.
    expect(JSON.parse(cmes.stdout)).toEqual([
      { session: '2024-03-11', open: '2024-03-10T22:00:00Z', close: '2024-03-11T22:00:00Z', breaks: '2024-03-11T21:00:00Z/2024-03-11T22:00:00Z' },
    ]);
    const fx = await ibpipe([
      'calendar',
      'sessions',
      '--calendar',
      'fx',
      '--start',
      '2024-11-02',
      '--end',
      '2024-11-04',
      '--format',
      'csv',
    ]);
    // Sunday 2024-11-03 17:00 New York is EST again (UTC-5): 22:00Z.
    expect(fx.stdout).toBe('session,open,close\n2024-11-04,2024-11-03T22:00:00Z,2024-11-04T22:00:00Z\n');
  });

  it('applies calendars.extra_closures from --config', async () => {
    const file = join(dir, 'ibpipe.yaml');
    writeFileSync(
      file,
      'instruments:\n  - { key: AAPL, sec_type: STK, symbol: AAPL, exchange: SMART, currency: USD, calendar: XNYS }\ncalendars:\n  extra_closures:\n    XNYS: ["2024-11-26"]\n',
    );
    const { code, stdout, stderr } = await ibpipe([
      'calendar',
      'sessions',
      '--calendar',
      'XNYS',
      '--start',
      '2024-11-25',
      '--end',
      '2024-11-27',
      '--format',
      'csv',
      '--config',
      file,
    ]);
    expect(stderr).toBe('');
    expect(code).toBe(0);
    expect(
      stdout
        .trim()
        .split('\n')
        .map((l) => l.split(',')[0]),
    ).toEqual(['session', '2024-11-25', '2024-11-27']);
  });

  it('exits 2 on a bad calendar or date', async () => {
    const bad = await ibpipe([
      'calendar',
      'sessions',
      '--calendar',
      'XLON',
      '--start',
      '2024-01-01',
      '--end',
      '2024-01-31',
      '--format',
      'csv',
    ]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('XNYS, CMES, FX');
    const badDate = await ibpipe([
      'calendar',
      'sessions',
      '--calendar',
      'XNYS',
      '--start',
      '2024-02-30',
      '--end',
      '2024-03-31',
      '--format',
      'csv',
    ]);
    expect(badDate.code).toBe(2);
    expect(badDate.stderr).toContain('2024-02-30');
  });

  it('lists the CME daily halt (16:00-17:00 Chicago) in JSON, keeping the CSV at three columns', async () => {
    const args = ['calendar', 'sessions', '--calendar', 'CMES', '--start', '2024-07-16', '--end', '2024-07-16'];
    const json = await ibpipe([...args, '--format', 'json']);
    expect(json.code).toBe(0);
    // July: Chicago is UTC-5, so the halt is 21:00Z-22:00Z and the session closes 22:00Z.
    expect(JSON.parse(json.stdout)).toEqual([
      { session: '2024-07-16', open: '2024-07-15T22:00:00Z', close: '2024-07-16T22:00:00Z', breaks: '2024-07-16T21:00:00Z/2024-07-16T22:00:00Z' },
    ]);
    const csv = await ibpipe([...args, '--format', 'csv']);
    expect(csv.stdout.trim().split('\n')).toEqual(['session,open,close', '2024-07-16,2024-07-15T22:00:00Z,2024-07-16T22:00:00Z']);
  });
});
