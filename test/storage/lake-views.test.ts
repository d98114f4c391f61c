import { writeFileSync } from 'node:fs';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { BACKFILL_LEDGER } from '../../src/data-sources/tws/tws-ingestor.js';
import { createLakeViews } from '../../src/storage/lake-views.js';
import { makeBars } from '../support/bar-factory.js';
import { openTempLake, type TempLake } from '../support/temp-lake.js';

let t: TempLake;
beforeEach(async () => {
  t = await openTempLake();
});
afterEach(async () => {
  await t.cleanup();
});

describe('lake views for ibpipe sql', () => {
  it('exposes raw bars of committed batches, curated bars and the state ledgers', async () => {
    await t.raw.writeTwsBars(makeBars('AAPL', Date.parse('2024-11-26T14:30:00Z'), Date.parse('2024-11-26T14:40:00Z')), 'b1', 1);
    writeFileSync(t.lake.path('state', BACKFILL_LEDGER), '{"type":"window","instrument":"AAPL","status":"ok","bars":390}\n{"type":"window","instrument":"MSFT","status":"pacing","bars":null}\n');
    const views = await createLakeViews(t.lake, t.raw);
    expect(views).toEqual(expect.arrayContaining(['raw_bars', 'curated_bars', 'backfill_ledger', 'raw_batches']));
    const [raw] = await t.lake.query<{ n: number; d: string }>('SELECT count(*) AS n, min(date)::VARCHAR AS d FROM raw_bars');
    expect(raw).toEqual({ n: 10, d: '2024-11-26' });
    expect(await t.lake.query('SELECT count(*) AS n FROM curated_bars')).toEqual([{ n: 0 }]);
    expect(await t.lake.query("SELECT instrument FROM backfill_ledger WHERE status = 'pacing'")).toEqual([{ instrument: 'MSFT' }]);
  });
});
