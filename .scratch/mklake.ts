import { rmSync } from 'node:fs';
import { Lake } from '../src/storage/lake.js';
import { RawStore } from '../src/storage/raw-store.js';
import { benchCalendars, benchSessions, benchSymbols, MINUTE, sessionBars } from '../bench/support/synthetic-market.js';
const [dir, n, k] = process.argv.slice(2) as [string, string, string];
rmSync(dir, { recursive: true, force: true });
const lake = await Lake.open({ root: dir });
const symbols = benchSymbols(Number(n));
const raw = new RawStore(lake, benchCalendars(symbols));
for (const session of benchSessions(Number(k))) {
  for (let from = 0; from < symbols.length; from += 100) {
    const events = symbols.slice(from, from + 100).flatMap((s, j) => sessionBars(s, from + j, session, { missingRate: 0.01, badRate: 0.001 }));
    await raw.writeTwsBars(events, `b-${session.date}-${from}`, session.close + 10 * MINUTE);
  }
  if (symbols.length > 100) await raw.compactRaw(session.date);
}
await lake.close();
