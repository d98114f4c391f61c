import { afterEach, describe, expect, it } from 'vitest';
import { instrumentConfigSchema } from '../../../src/config/instrument-config.js';
import type { Instrument } from '../../../src/core/instruments.js';
import { drainIngestor } from '../../../src/data-sources/ingestor.js';
import { BACKFILL_LEDGER, type BackfillLedgerRecord, type BackfillWindowRecord } from '../../../src/data-sources/tws/backfill-ledger.js';
import { silentLogger } from '../../../src/core/logger.js';
import { JsonlLedger } from '../../../src/storage/state-store.js';
import { AAPL, MSFT, type ManualRig, nyseMinuteStarts, startManualRig, twsSourceOn } from './tws-rig.js';

/** Monday 2024-12-02, 07:00 New York: every session below has closed. */
const NOW = Date.UTC(2024, 11, 2, 12, 0);

// Thanksgiving week by hand: 09:30-16:00 ET = 14:30-21:00 UTC; the 28th closed; the 29th closes 13:00 ET.
const WEEK = nyseMinuteStarts([
  { date: '2024-11-25', openUtc: '14:30', closeUtc: '21:00' },
  { date: '2024-11-26', openUtc: '14:30', closeUtc: '21:00' },
  { date: '2024-11-27', openUtc: '14:30', closeUtc: '21:00' },
  { date: '2024-11-29', openUtc: '14:30', closeUtc: '18:00' },
]);

/** A contract the sim does not know: its planning fails, the others go on. */
const BOGUS: Instrument = instrumentConfigSchema.parse({ key: 'BOGUS', sec_type: 'STK', symbol: 'BOGUS', exchange: 'SMART', currency: 'USD', calendar: 'XNYS' });

const rigs: ManualRig[] = [];
afterEach(async () => {
  for (const r of rigs.splice(0)) await r.close();
});

/** What a run left behind that does not depend on when or in which run it happened. */
async function outcome(rig: ManualRig) {
  const rows = await rig.rawStore.readTwsBars({ symbols: ['AAPL', 'MSFT', 'BOGUS'], start: '2024-11-25', end: '2024-11-29' });
  const ledger = new JsonlLedger<BackfillLedgerRecord>(rig.lake.path('state', BACKFILL_LEDGER)).readAll();
  const lines = ledger
    .map((r) => {
      const { recorded_at: _at, ...rest } = r;
      if (rest.type === 'head') return rest;
      const { run_id: _run, ...window } = rest;
      return window;
    })
    .map((r) => JSON.stringify(r))
    .sort();
  return {
    rows: rows.map(({ ingestion_ts: _ts, ...r }) => r),
    lines,
    requests: rig.simLog
      .historicalRequests()
      .map((r) => `${r.symbol} ${r.end}`)
      .sort(),
  };
}

describe('one backfill driver behind both entry points', () => {
  it('ingestHistoricalRange (backfill command, demo, daemon) and run() drained (sources job) write the same raw rows, ledger lines and requests for the same window', async () => {
    const viaRange = await startManualRig(NOW, { tws: { pacing_safety_margin_ms: 20 }, instruments: [AAPL, MSFT, BOGUS] });
    rigs.push(viaRange);
    await viaRange.driver.run(viaRange.client.connect());
    const summary = await viaRange.driver.run(viaRange.ingestor.ingestHistoricalRange([AAPL, MSFT, BOGUS], '2024-11-25', '2024-11-29'));
    expect(summary).toMatchObject({ windows: 8, complete: false, barsWritten: 2 * WEEK.length, batchesWritten: 8 });
    expect(summary.failed).toEqual([expect.objectContaining({ instrument: 'BOGUS', status: 'error' })]);

    const viaRun = await startManualRig(NOW, { tws: { pacing_safety_margin_ms: 20 }, instruments: [AAPL, MSFT, BOGUS] });
    rigs.push(viaRun);
    const source = twsSourceOn(viaRun, [AAPL, MSFT, BOGUS]);
    // The same sessions as epoch-ms edges: 2024-11-25 00:00 UTC up to 2024-11-30 00:00 UTC.
    const request = { start: Date.UTC(2024, 10, 25), end: Date.UTC(2024, 10, 30) };
    const drained = await viaRun.driver.run(drainIngestor(source, request, { sink: viaRun.rawStore, clock: viaRun.clock, logger: silentLogger() }));
    expect(drained).toMatchObject({ batches: 8, batchesWritten: 8, rowsWritten: 2 * WEEK.length });
    expect(drained.unfinished).toEqual([expect.stringMatching(/^BOGUS: error/)]);

    const a = await outcome(viaRange);
    const b = await outcome(viaRun);
    // Independent of both: every bar of the week once per instrument, 8 window lines and 2 head lines, 8 requests.
    expect(a.rows.filter((r) => r.symbol === 'AAPL').map((r) => r.ts)).toEqual(WEEK);
    expect(a.rows).toHaveLength(2 * WEEK.length);
    expect(a.lines.filter((l) => l.includes('"type":"window"'))).toHaveLength(8);
    expect(a.lines.filter((l) => l.includes('"type":"head"'))).toHaveLength(2);
    expect(a.requests).toHaveLength(8);
    expect(b.rows).toEqual(a.rows);
    expect(b.lines).toEqual(a.lines);
    expect(b.requests).toEqual(a.requests);
    for (const rig of [viaRange, viaRun]) expect(rig.sim.stats().pacingViolations).toBe(0);
  });
});

describe('run() when its consumer leaves early', () => {
  it('pages handed out but not acknowledged get no ledger line and are requested again by the next run; committed ones are not', async () => {
    const rig = await startManualRig(NOW, { tws: { pacing_safety_margin_ms: 20 } });
    rigs.push(rig);
    const source = twsSourceOn(rig, [AAPL, MSFT]);
    const request = { start: Date.UTC(2024, 10, 25), end: Date.UTC(2024, 10, 30) };
    const windowLines = (): BackfillWindowRecord[] =>
      new JsonlLedger<BackfillLedgerRecord>(rig.lake.path('state', BACKFILL_LEDGER)).readAll().filter((r): r is BackfillWindowRecord => r.type === 'window');

    // Commit and acknowledge the first batch, take the second without committing it, then leave.
    const firstRun = async (): Promise<string[]> => {
      const taken: string[] = [];
      for await (const batch of source.run(request)) {
        taken.push(batch.batchId);
        if (taken.length === 1) {
          const res = await rig.rawStore.writeTwsBars(batch.events, batch.batchId, rig.clock.now(), batch.series ?? null);
          await batch.acknowledge?.(res);
        } else break;
      }
      return taken;
    };
    const [committed, dropped] = await rig.driver.run(firstRun());
    expect(windowLines().map((r) => r.batch_id)).toEqual([committed]);
    expect(rig.rawStore.hasBatch(dropped as string)).toBe(false);

    // The next run asks for the 7 other windows (the dropped one among them), not the committed one.
    const second = await rig.driver.run(drainIngestor(source, request, { sink: rig.rawStore, clock: rig.clock, logger: silentLogger() }));
    expect(second).toMatchObject({ batches: 7, batchesWritten: 7 });
    expect(second.outcomes.map((o) => o.batchId)).toContain(dropped);
    expect(second.outcomes.map((o) => o.batchId)).not.toContain(committed);
    expect(new Set(windowLines().map((r) => r.batch_id)).size).toBe(8);
    expect(await rig.rawStore.readTwsBars({ symbols: ['AAPL', 'MSFT'], start: '2024-11-25', end: '2024-11-29' })).toHaveLength(2 * WEEK.length);
  });
});
