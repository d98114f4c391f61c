import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { InstrumentCalendars } from '../../src/calendar/instrument-calendars.js';
import { CuratedStore } from '../../src/storage/curated-store.js';
import { Lake } from '../../src/storage/lake.js';
import { RawStore } from '../../src/storage/raw-store.js';

export const TEST_INSTRUMENTS = [
  { key: 'AAPL', calendar: 'XNYS' },
  { key: 'MSFT', calendar: 'XNYS' },
  { key: 'SPY', calendar: 'XNYS' },
  { key: 'ES-202503', calendar: 'CMES' },
  { key: 'EURUSD', calendar: 'FX' },
] as const;

export interface TempLake {
  dir: string;
  lake: Lake;
  calendars: InstrumentCalendars;
  raw: RawStore;
  curated: CuratedStore;
  cleanup(): Promise<void>;
}

/** A real lake (DuckDB + Parquet) in a fresh temp folder. */
export async function openTempLake(dir = mkdtempSync(join(tmpdir(), 'ibpipe-'))): Promise<TempLake> {
  const lake = await Lake.open({ root: dir });
  const calendars = new InstrumentCalendars(TEST_INSTRUMENTS);
  return {
    dir,
    lake,
    calendars,
    raw: new RawStore(lake, calendars),
    curated: new CuratedStore(lake),
    async cleanup() {
      await lake.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
