import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { runCli } from '../support/child.js';

const dir = mkdtempSync(join(tmpdir(), 'ibpipe-demo-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('ibpipe demo --once (what `npm start -- --once` runs)', () => {
  it('runs the whole batch pipeline on simulated data and prints the summary', async () => {
    const r = await runCli(['demo', '--once', '--lake', join(dir, 'lake')]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('SIMULATED DATA');
    // XNYS sessions 2024-11-29 (early close 13:00: 210 bars), 12-02 and 12-03 (390 each).
    for (const s of ['AAPL', 'MSFT', 'SPY', 'NVDA', 'JPM']) expect(r.stdout).toMatch(new RegExp(`\\n  ${s}\\s+990\\n`));
    // ES on CME Globex: 17:00 CT the evening before to the 16:00 CT halt = 1380 bars, 1140 on the 12:00 close of 11-29.
    expect(r.stdout).toMatch(/\n {2}ES-202503\s+3900\n/);
    // FX trades 24h on weekdays: 3 x 1440 one-minute bars.
    expect(r.stdout).toMatch(/\n {2}EURUSD\s+4320\n/);
    const stages = r.stdout.split('stages:\n')[1]?.trim().split('\n') ?? [];
    const names = stages.map((l) => l.trim().split(/\s+/).slice(1, 3).join(' '));
    expect(names).toEqual(expect.arrayContaining(['backfill windows=21', 'transform 2024-11-29', 'transform 2024-12-02', 'transform 2024-12-03', 'features technical']));
    expect(stages.some((l) => /^\s*ok\s+dataset /.test(l))).toBe(true);
    expect(stages.some((l) => /^\s*ok\s+train /.test(l))).toBe(true);
    expect(stages.some((l) => /^\s*ok\s+score /.test(l))).toBe(true);
    expect(stages.filter((l) => !/^\s*ok\s/.test(l))).toEqual([]);
    // the DQ rules caught the simulator's corrupted bars
    expect(r.stdout).toMatch(/quarantined=[1-9]/);
  });
});
