// Child process for crash tests: writes one large raw batch or compacts a date, printing
// progress so the parent can SIGKILL it mid-operation.
import { makeBars } from './bar-factory.js';
import { openTempLake } from './temp-lake.js';

const [dir, mode, arg] = process.argv.slice(2) as [string, string, string];
const t = await openTempLake(dir);
if (mode === 'write') {
  // 20 XNYS sessions x 5 symbols x 390 bars = 39,000 rows in 20 partition files.
  const days = ['2024-11-04', '2024-11-05', '2024-11-06', '2024-11-07', '2024-11-08', '2024-11-11', '2024-11-12', '2024-11-13', '2024-11-14', '2024-11-15', '2024-11-18', '2024-11-19', '2024-11-20', '2024-11-21', '2024-11-22', '2024-11-25', '2024-11-26', '2024-11-27', '2024-12-02', '2024-12-03'];
  const events = days.flatMap((d) =>
    ['AAPL', 'MSFT', 'SPY'].flatMap((s) => makeBars(s, Date.parse(`${d}T14:30:00Z`), Date.parse(`${d}T21:00:00Z`))),
  );
  process.stdout.write('start\n');
  await t.raw.writeTwsBars(events, arg, 1_000);
} else if (mode === 'compact') {
  process.stdout.write('start\n');
  await t.raw.compactRaw(arg);
}
process.stdout.write('done\n');
await t.lake.close();
