import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parseSettings } from '../../src/config/settings.js';
import { ManualClock } from '../../src/core/clock.js';
import { createAppContext } from '../../src/ops/app-context.js';
import { Daemon } from '../../src/ops/daemon.js';
import { silentLogger } from '../../src/ops/logging-setup.js';
import { compactionJob } from '../../src/jobs/compaction-job.js';
import { currentWriter, FOREIGN_TEMP_MAX_AGE_MS } from '../../src/storage/temp-files.js';
import { makeBars } from '../support/bar-factory.js';
import { spawnTs, waitForExit, waitForLine } from '../support/child.js';

const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

const NOW = Date.parse('2024-11-27T12:00:00Z');
const PARTITION = 'raw/tws_bars/bar_size=1min/date=2024-11-26';

async function until(what: string, check: () => boolean, timeoutMs = 60_000): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!check()) {
    if (performance.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

const temps = (dir: string, rel: string): string[] => (existsSync(join(dir, rel)) ? readdirSync(join(dir, rel)).filter((n) => n.startsWith('.tmp-')).sort() : []);

describe('stale .tmp-* files', () => {
  it('a writer SIGKILLed mid-write leaves a temporary file that start-up and compact remove, while a running writer’s file is kept', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ibpipe-stale-'));
    dirs.push(dir);
    const settings = parseSettings({
      lake: { root: dir },
      instruments: [{ key: 'AAPL', sec_type: 'STK', symbol: 'AAPL', exchange: 'SMART', currency: 'USD', calendar: 'XNYS' }],
      http: { enabled: false },
    });
    // Names whose writer cannot be checked from here: another host's, and the older unowned form.
    const me = currentWriter();
    mkdirSync(join(dir, 'curated/bars_1min/date=2024-11-25'), { recursive: true });
    const foreign = `.tmp-4242-77-deadbeef-00000000-data.parquet`;
    const oldUnowned = '.tmp-data.parquet-0a1b2c3d4e5f';
    const youngUnowned = '.tmp-data.parquet-aaaaaaaaaaaa';
    for (const n of [foreign, oldUnowned, youngUnowned]) writeFileSync(join(dir, 'curated/bars_1min/date=2024-11-25', n), 'x');
    const old = (NOW - FOREIGN_TEMP_MAX_AGE_MS - 60_000) / 1000;
    utimesSync(join(dir, 'curated/bars_1min/date=2024-11-25', oldUnowned), old, old);
    utimesSync(join(dir, 'curated/bars_1min/date=2024-11-25', youngUnowned), NOW / 1000, NOW / 1000);
    utimesSync(join(dir, 'curated/bars_1min/date=2024-11-25', foreign), NOW / 1000, NOW / 1000);
    // A reused pid: pid 1 runs, but it is not the process that started at this other time.
    const pid1Start = existsSync('/proc/1/stat') ? (readFileSync('/proc/1/stat', 'utf8').split(') ')[1]?.split(' ')[19] ?? '0') : null;
    const reused = pid1Start === null ? null : `.tmp-1-${BigInt(pid1Start) + 1n}-${me.host}-00000000-data.parquet`;
    if (reused) writeFileSync(join(dir, 'curated/bars_1min/date=2024-11-25', reused), 'x');

    // A real writer, killed once its temporary file exists.
    const child = spawnTs('test/support/temp-writer.ts', [dir, String(40_000_000)]);
    try {
      await waitForLine(child, 'start', 60_000);
      await until('the writer’s temporary file', () => temps(dir, PARTITION).length > 0);
      const [inFlight] = temps(dir, PARTITION);
      expect(inFlight).toMatch(new RegExp(`^\\.tmp-${child.pid}-\\d+-${me.host}-[0-9a-f]{8}-batch-slow\\.parquet$`));

      // While the writer runs, a sweep keeps its file (and judges the others).
      const app = await createAppContext(settings, { clock: new ManualClock(NOW) });
      try {
        const sweep = app.lake.removeStaleTempFiles(NOW);
        expect(sweep.removed.sort()).toEqual([`curated/bars_1min/date=2024-11-25/${oldUnowned}`, ...(reused ? [`curated/bars_1min/date=2024-11-25/${reused}`] : [])].sort());
        expect(temps(dir, PARTITION)).toEqual([inFlight]);
      } finally {
        await app.close();
      }

      child.kill('SIGKILL');
      await waitForExit(child);
      expect(temps(dir, PARTITION)).toEqual([inFlight]); // the leftover
      expect(existsSync(join(dir, PARTITION, 'batch-slow.parquet'))).toBe(false);

      // `compact` removes it: its writer is gone.
      const app2 = await createAppContext(settings, { clock: new ManualClock(NOW) });
      try {
        const out = await compactionJob.run({ app: app2, signal: new AbortController().signal, logger: silentLogger() }, { date: '2024-11-26' });
        expect(out.counts.stale_temp_removed).toBe(1);
      } finally {
        await app2.close();
      }
      expect(temps(dir, PARTITION)).toEqual([]);
      expect(temps(dir, 'curated/bars_1min/date=2024-11-25').sort()).toEqual([foreign, youngUnowned].sort());
    } finally {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    }

    // Daemon start-up removes a leftover too (here: one named after the killed writer).
    writeFileSync(join(dir, PARTITION, `.tmp-${child.pid}-${me.start}-${me.host}-00000001-batch-x.parquet`), 'x');
    const daemon = await Daemon.start({ settings, clock: new ManualClock(NOW), logger: silentLogger() });
    await daemon.stop();
    expect(temps(dir, PARTITION)).toEqual([]);
  });

  it('a group commit killed between its renames and its ledger line: invisible, kept while its writer runs, then removed by compact and by start-up; an unclaimed file stays', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ibpipe-stale-'));
    dirs.push(dir);
    const settings = parseSettings({
      lake: { root: dir },
      instruments: ['AAPL', 'MSFT'].map((k) => ({ key: k, sec_type: 'STK', symbol: k, exchange: 'SMART', currency: 'USD', calendar: 'XNYS' })),
      http: { enabled: false },
    });
    const BAR = 'raw/tws_bars/bar_size=1min';
    const batchFiles = (): string[] =>
      ['2024-11-25', '2024-11-26'].flatMap((d) => {
        const p = `${BAR}/date=${d}`;
        return existsSync(join(dir, p)) ? readdirSync(join(dir, p)).filter((n) => n.startsWith('batch-')).map((n) => `${p}/${n}`) : [];
      }).sort();
    // A committed batch, and a file no ledger line names and no writer claims (as after restoring
    // an older state/): both must survive every sweep.
    const app0 = await createAppContext(settings, { clock: new ManualClock(NOW) });
    await app0.rawStore.writeTwsBars(makeBars('AAPL', Date.parse('2024-11-26T15:00:00Z'), Date.parse('2024-11-26T15:05:00Z')), 'kept', 1);
    await app0.close();
    writeFileSync(join(dir, BAR, 'date=2024-11-26', 'batch-restored.parquet'), 'x');
    const survivors = [`${BAR}/date=2024-11-26/batch-kept.parquet`, `${BAR}/date=2024-11-26/batch-restored.parquet`];

    const child = spawnTs('test/support/crash-writer.ts', [dir, 'stall-before-ledger', 'pg']);
    let marker = '';
    try {
      await waitForLine(child, 'renamed', 60_000);
      const orphans = batchFiles().filter((f) => !survivors.includes(f));
      expect(orphans).toHaveLength(2);
      for (const f of orphans) expect(f).toMatch(/\/batch-g-[0-9a-f]{32}\.parquet$/);
      [marker = ''] = temps(dir, BAR);
      expect(marker).toMatch(new RegExp(`^\\.tmp-${child.pid}-\\d+-[0-9a-f]{8}-[0-9a-f]{8}-pending-batch-g-[0-9a-f]{32}$`));
      const app = await createAppContext(settings, { clock: new ManualClock(NOW) });
      try {
        // Invisible: not committed, no date, no row.
        expect(app.rawStore.hasBatch('pg-a')).toBe(false);
        expect(app.rawStore.listDates()).toEqual(['2024-11-26']);
        expect((await app.rawStore.readTwsBars({ start: '2024-11-25', end: '2024-11-26' })).length).toBe(5);
        // Its writer still runs: a sweep keeps its files and its marker.
        expect(app.rawStore.removeStaleFiles(NOW).removed).toEqual([]);
        expect(batchFiles()).toEqual([...orphans, ...survivors].sort());
      } finally {
        await app.close();
      }
      child.kill('SIGKILL');
      await waitForExit(child);

      // `compact` (of another date) removes the dead writer's files and marker, nothing else.
      const app2 = await createAppContext(settings, { clock: new ManualClock(NOW) });
      try {
        const out = await compactionJob.run({ app: app2, signal: new AbortController().signal, logger: silentLogger() }, { date: '2024-11-27' });
        expect(out.counts.stale_temp_removed).toBe(3);
        expect(batchFiles()).toEqual(survivors);
        expect(temps(dir, BAR)).toEqual([]);
        expect((await app2.rawStore.readTwsBars({ start: '2024-11-25', end: '2024-11-26' })).length).toBe(5);
        // The same group written again commits whole.
        const again = await app2.rawStore.writeBatchGroup([{ batchId: 'pg-a', events: makeBars('AAPL', Date.parse('2024-11-25T14:30:00Z'), Date.parse('2024-11-25T14:40:00Z')) }], 2);
        expect(again.parts[0]?.written).toBe(true);
      } finally {
        await app2.close();
      }
    } finally {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    }

    // Daemon start-up does the same (a leftover named after the killed writer, made by hand).
    const stem = 'batch-g-0123456789abcdef0123456789abcdef';
    writeFileSync(join(dir, BAR, 'date=2024-11-26', `${stem}.parquet`), 'x');
    writeFileSync(join(dir, BAR, marker.replace(/pending-batch-g-[0-9a-f]{32}$/, `pending-${stem}`)), '');
    const daemon = await Daemon.start({ settings, clock: new ManualClock(NOW), logger: silentLogger() });
    await daemon.stop();
    expect(batchFiles()).toEqual([`${BAR}/date=2024-11-25/batch-pg-a.parquet`, ...survivors].sort());
    expect(temps(dir, BAR)).toEqual([]);
  });
});
