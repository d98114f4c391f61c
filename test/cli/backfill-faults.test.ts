import { spawn } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { InstrumentCalendars } from '../../src/calendar/instrument-calendars.js';
import { SystemClock } from '../../src/core/clock.js';
import { StorageWriteError } from '../../src/core/errors.js';
import { TwsClient } from '../../src/data-sources/tws/tws-client.js';
import { twsConfigSchema } from '../../src/data-sources/tws/tws-config.js';
import { type BackfillSummary, TwsIngestor } from '../../src/data-sources/tws/tws-ingestor.js';
import { startSimGateway, type SimGateway } from '../../src/sim/sim-server.js';
import { Lake } from '../../src/storage/lake.js';
import { RawStore } from '../../src/storage/raw-store.js';
import { JsonlLedger } from '../../src/storage/state-store.js';
import { nodeArgsFor, REPO } from '../support/child.js';
import { canDropRootOverride, mountTmpfs, resizeTmpfs, unmount, withoutRootOverride } from '../support/real-faults.js';
import { AAPL, MSFT, nyseMinuteStarts } from '../data-sources/tws/tws-rig.js';

// 2024-11-18 .. 2024-11-22: five full XNYS sessions, 14:30-21:00 UTC.
const WEEK = nyseMinuteStarts(['18', '19', '20', '21', '22'].map((d) => ({ date: `2024-11-${d}`, openUtc: '14:30', closeUtc: '21:00' })));

let sim: SimGateway;
const cleanups: Array<() => void> = [];
beforeAll(async () => {
  sim = await startSimGateway({ port: 0, pacingTimeScale: 0.01 });
});
afterAll(async () => {
  for (const c of cleanups.reverse()) c();
  await sim.close();
});

function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'ibpipe-fault-'));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** A config whose lake is `lakeRoot`; commits of about two pages, so a fault can land mid-run. */
function writeConfig(dir: string, lakeRoot: string, clientId: number): string {
  const file = join(dir, 'ibpipe.yaml');
  writeFileSync(
    file,
    [
      `lake: { root: ${JSON.stringify(lakeRoot)} }`,
      `tws: { host: 127.0.0.1, port: ${sim.port}, client_id: ${clientId}, pacing_time_scale: 0.01, pacing_safety_margin_ms: 20, backfill_commit_rows: 700 }`,
      'logging: { level: info, format: json }',
      'instruments:',
      '  - { key: AAPL, sec_type: STK, symbol: AAPL, exchange: SMART, primary_exchange: NASDAQ, currency: USD, calendar: XNYS }',
      '  - { key: MSFT, sec_type: STK, symbol: MSFT, exchange: SMART, primary_exchange: NASDAQ, currency: USD, calendar: XNYS }',
      '',
    ].join('\n'),
  );
  return file;
}

interface Run {
  code: number | null;
  summary: Record<string, unknown>;
  /** stderr lines that are not JSON log lines: what a person reads. */
  humanLines: string[];
  stderr: string;
}

function backfill(config: string, options: { noRootOverride?: boolean } = {}): Promise<Run> {
  return new Promise((resolve) => {
    const args = [...nodeArgsFor('src/cli/main.ts'), 'backfill', '--config', config, '--symbols', 'AAPL,MSFT', '--start', '2024-11-18', '--end', '2024-11-22', '--format', 'json'];
    const [cmd, argv] = options.noRootOverride ? withoutRootOverride(process.execPath, args) : [process.execPath, args];
    const child = spawn(cmd, argv, { cwd: REPO, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('close', (code) => {
      let summary: Record<string, unknown> = {};
      try {
        summary = (JSON.parse(stdout) as Record<string, unknown>[])[0] ?? {};
      } catch {
        // asserted below
      }
      const humanLines = stderr.split('\n').filter((l) => l.trim() !== '' && !l.startsWith('{'));
      resolve({ code, summary, humanLines, stderr });
    });
  });
}

/** Every file under dir, lake-relative. */
function listFiles(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string): void => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      if (e.isDirectory()) walk(p);
      else out.push(relative(dir, p));
    }
  };
  walk(dir);
  return out;
}

/** No partial file: every Parquet file under raw/ is committed in the raw ledger, none is a temporary. */
function expectOnlyCommittedFiles(lakeRoot: string): void {
  const committed = new Set(
    new JsonlLedger<{ type: string; files?: { path: string }[] }>(join(lakeRoot, 'state', 'raw_batches.jsonl'))
      .readAll()
      .flatMap((r) => r.files?.map((f) => f.path) ?? []),
  );
  const files = listFiles(lakeRoot).filter((f) => f.startsWith('raw/'));
  expect(files.filter((f) => f.includes('.tmp-'))).toEqual([]);
  expect(files.filter((f) => !committed.has(f))).toEqual([]);
}

function expectOneErrorLine(run: Run, code: string, path: string, todo: RegExp): void {
  expect(run.code, run.stderr.slice(-3000)).toBe(1);
  expect(run.summary).toMatchObject({ complete: false, stopped_by: code });
  expect(String(run.summary['stopped_at'])).toContain(path);
  const errors = run.humanLines.filter((l) => l.startsWith('error'));
  expect(errors, run.stderr.slice(-3000)).toHaveLength(1);
  expect(errors[0]).toMatch(new RegExp(`^error \\[${code}\\]: cannot .+ at ${path.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`));
  expect(errors[0]).toMatch(todo);
  // No stack trace anywhere a person reads it.
  expect(run.humanLines.filter((l) => /^\s+at /.test(l))).toEqual([]);
  expect(run.stderr).not.toMatch(/\n\s+at .+\(.+:\d+:\d+\)/);
}

async function storedTimes(lakeRoot: string, symbol: string): Promise<number[]> {
  const lake = await Lake.open({ root: lakeRoot });
  try {
    const raw = new RawStore(lake, new InstrumentCalendars([{ key: symbol, calendar: 'XNYS' }]));
    return (await raw.readTwsBars({ symbols: [symbol], start: '2024-11-18', end: '2024-11-22' })).map((r) => r.ts);
  } finally {
    await lake.close();
  }
}

/** What `ibpipe backfill` runs, on the same lake and gateway. */
async function backfillInProcess(lakeRoot: string): Promise<BackfillSummary> {
  const lake = await Lake.open({ root: lakeRoot });
  const calendars = new InstrumentCalendars([AAPL, MSFT]);
  const config = twsConfigSchema.parse({ host: '127.0.0.1', port: sim.port, client_id: 44, pacing_time_scale: 0.01, pacing_safety_margin_ms: 20, backfill_commit_rows: 700 });
  const clock = new SystemClock();
  const client = TwsClient.fromConfig(config, { clock });
  try {
    await client.connect();
    const ingestor = new TwsIngestor({ client, rawStore: new RawStore(lake, calendars), stateDir: lake.path('state'), calendarFor: (k) => calendars.calendarFor(k), clock, config });
    return await ingestor.ingestHistoricalRange([AAPL, MSFT], '2024-11-18', '2024-11-22');
  } finally {
    await client.disconnect();
    await lake.close();
  }
}

const mountable = ((): boolean => {
  const probe = mkdtempSync(join(tmpdir(), 'ibpipe-mount-probe-'));
  const ok = mountTmpfs(probe, 1 << 20);
  if (ok) unmount(probe);
  rmSync(probe, { recursive: true, force: true });
  return ok;
})();
const permissionsBite = canDropRootOverride();

// Each case starts the CLI as a child process (two for the disk-full case): a busy machine gets a wider bound.
describe('backfill on a lake that refuses writes: one clear line, the JSON summary, exit 1, nothing partial', { timeout: 150_000 }, () => {
  it.runIf(mountable)('disk full (a real 64 KiB tmpfs): stops at the refused write; after space is freed the same backfill completes the data', async () => {
    const dir = tempDir();
    const lakeRoot = join(dir, 'lake');
    mkdirSync(lakeRoot);
    expect(mountTmpfs(lakeRoot, 64 * 1024)).toBe(true);
    cleanups.push(() => unmount(lakeRoot));
    const config = writeConfig(dir, lakeRoot, 41);

    const full = await backfill(config);
    if (process.env['SHOW_FAULT_OUTPUT'] !== undefined) console.info(full.humanLines.join('\n'), JSON.stringify(full.summary));
    expectOneErrorLine(full, 'DISK_FULL', lakeRoot, /To fix: free space on that file system/);
    expect(Number(full.summary['ok'])).toBeLessThan(10);
    expectOnlyCommittedFiles(lakeRoot);

    resizeTmpfs(lakeRoot, 16 << 20);
    // The same backfill again (in process: one CLI start-up less), once there is room.
    const again = await backfillInProcess(lakeRoot);
    expect(again).toMatchObject({ windows: 10, complete: true });
    expect(again.skipped + again.byStatus.ok).toBe(10);
    expect(again.skipped).toBe(Number(full.summary['ok']));
    for (const s of ['AAPL', 'MSFT']) expect(await storedTimes(lakeRoot, s)).toEqual(WEEK);
    expectOnlyCommittedFiles(lakeRoot);
  });

  it.runIf(permissionsBite)('permission denied (raw/ read-only to a process without root override): one line naming the folder and what to do', async () => {
    const dir = tempDir();
    const lakeRoot = join(dir, 'lake');
    mkdirSync(join(lakeRoot, 'raw'), { recursive: true });
    chmodSync(join(lakeRoot, 'raw'), 0o555);
    const config = writeConfig(dir, lakeRoot, 42);
    const run = await backfill(config, { noRootOverride: true });
    expectOneErrorLine(run, 'PERMISSION_DENIED', join(lakeRoot, 'raw'), /To fix: give the user running ibpipe write access/);
    expect(Number(run.summary['ok'])).toBe(0);
    expect(listFiles(join(lakeRoot, 'raw'))).toEqual([]);
  });

  it('a file where a folder is expected: one line naming it', async () => {
    const dir = tempDir();
    const lakeRoot = join(dir, 'lake');
    mkdirSync(join(lakeRoot, 'raw', 'tws_bars'), { recursive: true });
    writeFileSync(join(lakeRoot, 'raw', 'tws_bars', 'bar_size=1min'), 'not a folder');
    const config = writeConfig(dir, lakeRoot, 43);
    const run = await backfill(config);
    expectOneErrorLine(run, 'NOT_A_DIRECTORY', join(lakeRoot, 'raw', 'tws_bars', 'bar_size=1min'), /To fix: move that file out of the lake/);
    expect(readFileSync(join(lakeRoot, 'raw', 'tws_bars', 'bar_size=1min'), 'utf8')).toBe('not a folder');
  });
});

describe('a ledger append the disk refuses', () => {
  it('throws DISK_FULL naming the file (a real ENOSPC from /dev/full) and records nothing', () => {
    const dir = tempDir();
    const file = join(dir, 'state', 'l.jsonl');
    mkdirSync(join(dir, 'state'));
    symlinkSync('/dev/full', file);
    const ledger = new JsonlLedger<{ n: number }>(file);
    let caught: unknown;
    try {
      ledger.append({ n: 1 });
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(StorageWriteError);
    expect(caught).toMatchObject({ code: 'DISK_FULL', path: file, retryable: false });
    expect(ledger.readAll()).toEqual([]);
  });

  it.runIf(mountable)('a short write on a full tmpfs is cut back off: the file keeps exactly its earlier records', () => {
    const dir = tempDir();
    const fs = join(dir, 'fs');
    mkdirSync(fs);
    expect(mountTmpfs(fs, 64 * 1024)).toBe(true);
    cleanups.push(() => unmount(fs));
    const file = join(fs, 'l.jsonl');
    const ledger = new JsonlLedger<{ n: number; pad?: string }>(file);
    ledger.append({ n: 1 });
    const before = readFileSync(file, 'utf8');
    // Fill every free page; the ledger's own first page still has room for part of a record.
    const filler = join(fs, 'filler');
    const chunk = Buffer.alloc(4096, 1);
    try {
      for (;;) writeFileSync(filler, chunk, { flag: 'a' });
    } catch {
      // ENOSPC: the file system is full
    }
    expect(() => ledger.append({ n: 2, pad: 'x'.repeat(10_000) })).toThrow(expect.objectContaining({ code: 'DISK_FULL' }) as unknown as Error);
    expect(readFileSync(file, 'utf8')).toBe(before);
    expect(new JsonlLedger<{ n: number }>(file).readAll()).toEqual([{ n: 1 }]);
  });
});
