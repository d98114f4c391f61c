// Child process for crash tests: writes one large raw batch, compacts a date, or group-commits
// backfill-like pages, printing progress so the parent can SIGKILL it mid-operation.
import { join } from 'node:path';
import { SystemClock } from '../../src/core/clock.js';
import { RawBatchWriter } from '../../src/storage/raw-batch-writer.js';
import { JsonlLedger } from '../../src/storage/state-store.js';
import { makeBars } from './bar-factory.js';
import { openTempLake } from './temp-lake.js';

const [dir, mode, arg] = process.argv.slice(2) as [string, string, string];
const t = await openTempLake(dir);
// 20 XNYS sessions
const DAYS = ['2024-11-04', '2024-11-05', '2024-11-06', '2024-11-07', '2024-11-08', '2024-11-11', '2024-11-12', '2024-11-13', '2024-11-14', '2024-11-15', '2024-11-18', '2024-11-19', '2024-11-20', '2024-11-21', '2024-11-22', '2024-11-25', '2024-11-26', '2024-11-27', '2024-12-02', '2024-12-03'];
const SYMBOLS = ['AAPL', 'MSFT', 'SPY'];
if (mode === 'write') {
  // 20 sessions x 3 symbols x 390 bars = 23,400 rows in 20 partition files.
  const events = DAYS.flatMap((d) => SYMBOLS.flatMap((s) => makeBars(s, Date.parse(`${d}T14:30:00Z`), Date.parse(`${d}T21:00:00Z`))));
  process.stdout.write('start\n');
  await t.raw.writeTwsBars(events, arg, 1_000);
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
}
process.stdout.write('done\n');
await t.lake.close();
