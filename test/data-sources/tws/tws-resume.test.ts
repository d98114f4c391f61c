import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { getCalendar } from '../../../src/calendar/calendar-registry.js';
import { BACKFILL_LEDGER, type BackfillWindowRecord } from '../../../src/data-sources/tws/backfill-ledger.js';
import { nodeArgsFor, REPO } from '../../support/child.js';
import { AAPL, MSFT, type Rig, startRig } from './tws-rig.js';


let rig: Rig | undefined;
let child: ChildProcess | undefined;
afterEach(async () => {
  child?.kill('SIGKILL');
  child = undefined;
  await rig?.close();
  rig = undefined;
});

function runBackfill(configFile: string, env: Record<string, string> = {}): { proc: ChildProcess; done: Promise<{ code: number | null; stdout: string; stderr: string }> } {
  const proc = spawn(
    process.execPath,
    [...nodeArgsFor('src/cli/main.ts'), 'backfill', '--config', configFile, '--symbols', 'AAPL,MSFT', '--start', '2024-10-01', '--end', '2024-11-29', '--format', 'json'],
    { cwd: REPO, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } },
  );
  let stdout = '';
  let stderr = '';
  proc.stdout?.on('data', (d: Buffer) => (stdout += d.toString()));
  proc.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
  const done = new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => proc.on('close', (code) => resolve({ code, stdout, stderr })));
  return { proc, done };
}

function windowRecords(file: string): BackfillWindowRecord[] {
  if (!existsSync(file)) return [];
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter((l) => l.trim())
    .flatMap((l) => {
      try {
        return [JSON.parse(l) as BackfillWindowRecord];
      } catch {
        return []; // a torn last line from the killed writer
      }
    })
    .filter((r) => r.type === 'window');
}

describe('resumable backfill', () => {
  it('a backfill killed with SIGKILL part way completes on re-run: no duplicate batches, no missing bars, no finished window requested again', async () => {
    rig = await startRig({ timeScale: 0.005 });
    const configFile = join(rig.dir, 'ibpipe.yaml');
    writeFileSync(
      configFile,
      [
        `lake: { root: ${JSON.stringify(rig.dir)} }`,
        // Groups of about 5 pages, so the kill lands among several group commits. The margin absorbs
        // the delay between the client sending a request and this (busy) process's sim reading it:
        // IB's windows are 3 s here, the margin a sixth of that.
        `tws: { host: 127.0.0.1, port: ${rig.sim.port}, client_id: 21, pacing_time_scale: 0.005, pacing_safety_margin_ms: 500, backfill_concurrency: 8, backfill_commit_rows: 2000 }`,
        'logging: { level: info, format: json }',
        'instruments:',
        '  - { key: AAPL, sec_type: STK, symbol: AAPL, exchange: SMART, primary_exchange: NASDAQ, currency: USD, calendar: XNYS }',
        '  - { key: MSFT, sec_type: STK, symbol: MSFT, exchange: SMART, primary_exchange: NASDAQ, currency: USD, calendar: XNYS }',
        '',
      ].join('\n'),
    );
    const ledgerFile = join(rig.dir, 'state', BACKFILL_LEDGER);
    const sessions = getCalendar('XNYS').sessionsInRange('2024-10-01', '2024-11-29').length;
    const totalWindows = 2 * sessions;

    // Run 1: kill it once a good part of the first pacing window is stored. Its own windows are
    // ten times longer (30 s): after 60 requests it must wait half a minute, so it cannot finish
    // before the kill, however slowly this process notices its progress.
    const first = runBackfill(configFile, { IBPIPE_TWS__PACING_TIME_SCALE: '0.05' });
    child = first.proc;
    let exited: { stderr: string } | null = null;
    void first.done.then((r) => (exited = r));
    while (windowRecords(ledgerFile).length < 25) {
      if (exited !== null) throw new Error(`run 1 ended before it was killed: ${(exited as { stderr: string }).stderr}`);
      await new Promise((r) => setTimeout(r, 20));
    }
    first.proc.kill('SIGKILL');
    const r1 = await first.done;
    expect(r1.code).toBeNull(); // killed, not exited
    const afterKill = windowRecords(ledgerFile);
    const doneInRun1 = new Set(afterKill.filter((r) => r.status === 'ok').map((r) => `${r.instrument}|${r.window_start}`));
    expect(doneInRun1.size).toBeGreaterThanOrEqual(25);
    expect(doneInRun1.size).toBeLessThan(totalWindows);
    const requestsAfterRun1 = rig.sim.stats().requestsByType['historicalData'] ?? 0;

    // Run 2: completes, exit 0.
    const second = runBackfill(configFile);
    child = second.proc;
    const r2 = await second.done;
    expect(r2.code, r2.stderr.slice(-2000)).toBe(0);
    const summary = (JSON.parse(r2.stdout) as Array<Record<string, unknown>>)[0];
    expect(summary).toMatchObject({ windows: totalWindows, skipped: doneInRun1.size, complete: true });

    // The ledger shows it: run 2 recorded only windows run 1 had not finished, each exactly once.
    const all = windowRecords(ledgerFile);
    const run2 = all.slice(afterKill.length);
    expect(new Set(run2.map((r) => r.run_id)).size).toBe(1);
    const run2Keys = run2.map((r) => `${r.instrument}|${r.window_start}`);
    expect(new Set(run2Keys).size).toBe(run2Keys.length);
    expect(run2Keys.filter((k) => doneInRun1.has(k))).toEqual([]);
    expect(doneInRun1.size + run2.length).toBe(totalWindows);
    expect(run2.filter((r) => r.status !== 'ok')).toEqual([]);
    // And the gateway saw exactly those requests: pages run 1 had already stored (but not yet
    // recorded) are recognised by their batch id and not asked for again.
    const requested = run2.filter((r) => r.bars !== null);
    // (Windows unfinished in run 1 have no earlier ledger line, so their attempt count is run 2's.)
    expect(requested.filter((r) => r.attempts !== 1), JSON.stringify(rig.sim.stats().pacingByRule)).toEqual([]);
    expect((rig.sim.stats().requestsByType['historicalData'] ?? 0) - requestsAfterRun1).toBe(requested.length);
    expect(rig.sim.stats().pacingViolations).toBe(0);

    // No duplicate batches: every window's page is a part of exactly one committed group, and
    // every group is whole (its ledger line names the parts whose rows its files hold).
    const rawLedger = readFileSync(join(rig.dir, 'state', 'raw_batches.jsonl'), 'utf8')
      .split('\n')
      .filter((l) => l.trim())
      .flatMap((l) => {
        try {
          return [JSON.parse(l) as { type: string; batch_id: string; rows: number; parts?: { batch_id: string; rows: number }[] }];
        } catch {
          return [];
        }
      })
      .filter((r) => r.type === 'batch');
    expect(new Set(rawLedger.map((r) => r.batch_id)).size).toBe(rawLedger.length);
    expect(rawLedger.length).toBeGreaterThan(2); // group commits, not one page per commit nor one commit for all
    expect(rawLedger.length).toBeLessThan(totalWindows / 2);
    const parts = rawLedger.flatMap((r) => r.parts ?? [{ batch_id: r.batch_id, rows: r.rows }]);
    expect(new Set(parts.map((p) => p.batch_id)).size).toBe(parts.length);
    expect(parts).toHaveLength(totalWindows);
    for (const r of rawLedger) expect(r.parts?.reduce((n, p) => n + p.rows, 0) ?? r.rows).toBe(r.rows);
    const okWindows = all.filter((r) => r.status === 'ok').map((r) => r.batch_id);
    expect(new Set(okWindows)).toEqual(new Set(parts.map((p) => p.batch_id)));
    const expectedBars = (sessions - 1) * 390 + 210; // every session full except the day after Thanksgiving
    for (const inst of [AAPL, MSFT]) {
      const rows = await rig.rawStore.readTwsBars({ symbols: [inst.key], start: '2024-10-01', end: '2024-11-29' });
      expect(rows).toHaveLength(expectedBars);
      expect(new Set(rows.map((r) => r.ts)).size).toBe(expectedBars);
    }
  });
});
