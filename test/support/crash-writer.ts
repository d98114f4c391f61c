// Child process for crash tests: writes raw batches, compacts a date, or group-commits
// backfill-like pages, printing progress.
// CRASH_BEFORE=<fs function>:<n> makes the process SIGKILL itself just before its n-th call of
// that node:fs function (renameSync, writeSync, rmSync): a crash at an exact step of the write
// path, whatever the machine's speed. The kill is real (SIGKILL, nothing runs after it).
import fs from 'node:fs';
import { syncBuiltinESMExports } from 'node:module';
import { join } from 'node:path';
import { SystemClock } from '../../src/core/clock.js';
import { RawBatchWriter } from '../../src/storage/raw-batch-writer.js';
import { JsonlLedger } from '../../src/storage/state-store.js';
import { makeBars } from './bar-factory.js';
import { openTempLake } from './temp-lake.js';

const crash = process.env['CRASH_BEFORE'];
if (crash) {
  const [name, nth] = crash.split(':') as [keyof typeof fs, string];
  const original = fs[name] as (...args: unknown[]) => unknown;
  if (typeof original !== 'function') throw new Error(`CRASH_BEFORE: fs.${String(name)} is not a function`);
  let calls = 0;
  (fs as unknown as Record<string, unknown>)[name] = (...args: unknown[]): unknown => {
    if (++calls === Number(nth)) process.kill(process.pid, 'SIGKILL');
    return original.apply(fs, args);
  };
  // Named imports of node:fs elsewhere (import { renameSync } from 'node:fs') see the wrapper too.
  syncBuiltinESMExports();
}

const [dir, mode, arg] = process.argv.slice(2) as [string, string, string];
const t = await openTempLake(dir);
// 20 XNYS sessions
const DAYS = ['2024-11-04', '2024-11-05', '2024-11-06', '2024-11-07', '2024-11-08', '2024-11-11', '2024-11-12', '2024-11-13', '2024-11-14', '2024-11-15', '2024-11-18', '2024-11-19', '2024-11-20', '2024-11-21', '2024-11-22', '2024-11-25', '2024-11-26', '2024-11-27', '2024-12-02', '2024-12-03'];
const SYMBOLS = ['AAPL', 'MSFT', 'SPY'];
if (mode === 'write') {
  // Per batch id (comma-separated): 20 sessions x 3 symbols x the first 30 minutes = 1,800 rows
  // in 20 partition files (their number, not their size, matters to the crash test).
  const events = DAYS.flatMap((d) => SYMBOLS.flatMap((s) => makeBars(s, Date.parse(`${d}T14:30:00Z`), Date.parse(`${d}T15:00:00Z`))));
  process.stdout.write('start\n');
  for (const batchId of arg.split(',')) await t.raw.writeTwsBars(events, batchId, 1_000);
} else if (mode === 'compact') {
  process.stdout.write('start\n');
  await t.raw.compactRaw(arg);
} else if (mode === 'groups') {
  // As the backfill does: one page per (symbol, session), group-committed (about 10 pages per
  // group), and a window line appended only after the page's group is committed. Windows with a
  // line are not submitted again; a page found already committed is recorded without rewriting.
  const windows = new JsonlLedger<{ batch_id: string; written: boolean }>(join(dir, 'state', 'windows.jsonl'));
  const done = new Set(windows.readAll().map((w) => w.batch_id));
  const writer = new RawBatchWriter(t.raw, new SystemClock(), { maxRows: 3_900, maxDelayMs: 50 });
  let groups = 0;
  const settled: Promise<void>[] = [];
  process.stdout.write('start\n');
  for (const d of DAYS) {
    for (const s of SYMBOLS) {
      const batchId = `bf-${s}-${d}`;
      if (done.has(batchId)) continue;
      const ticket = await writer.submit({ batchId, events: makeBars(s, Date.parse(`${d}T14:30:00Z`), Date.parse(`${d}T21:00:00Z`)) });
      settled.push(
        ticket.committed.then((res) => {
          windows.append({ batch_id: batchId, written: res.written });
          if (writer.commits > groups) process.stdout.write(`group ${(groups = writer.commits)}\n`);
        }),
      );
    }
  }
  await writer.flush();
  await Promise.all(settled);
} else if (mode === 'stall-before-ledger') {
  // A group commit frozen at its commit point: every file renamed into place, the raw ledger line
  // not yet written. Prints "renamed" and blocks synchronously, so the parent kills it exactly there.
  const appendMany = JsonlLedger.prototype.appendMany;
  JsonlLedger.prototype.appendMany = function (this: JsonlLedger<object>, records: readonly object[]): void {
    if (this.file.endsWith('raw_batches.jsonl')) {
      process.stdout.write('renamed\n');
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0);
    }
    appendMany.call(this, records);
  };
  process.stdout.write('start\n');
  // Two pages on two sessions: one group, two files (batch-g-….parquet in each date).
  await t.raw.writeBatchGroup(
    [
      { batchId: `${arg}-a`, events: makeBars('AAPL', Date.parse('2024-11-25T14:30:00Z'), Date.parse('2024-11-25T14:40:00Z')) },
      { batchId: `${arg}-b`, events: makeBars('MSFT', Date.parse('2024-11-26T14:30:00Z'), Date.parse('2024-11-26T14:40:00Z')) },
    ],
    1_000,
  );
}
process.stdout.write('done\n');
await t.lake.close();
