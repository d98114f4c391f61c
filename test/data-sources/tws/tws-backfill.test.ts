import { afterEach, describe, expect, it } from 'vitest';
import { InstrumentCalendars } from '../../../src/calendar/instrument-calendars.js';
import { instrumentConfigSchema } from '../../../src/config/instrument-config.js';
import { TwsClient } from '../../../src/data-sources/tws/tws-client.js';
import { backfillBatchId, TwsIngestor } from '../../../src/data-sources/tws/tws-ingestor.js';
import { BACKFILL_LEDGER, type BackfillLedgerRecord } from '../../../src/data-sources/tws/backfill-ledger.js';
import { planBackfill } from '../../../src/data-sources/tws/backfill-planner.js';
import { parseBarSize } from '../../../src/sim/ib-request-time.js';
import { SyntheticMarket } from '../../../src/sim/market.js';
import { RawStore } from '../../../src/storage/raw-store.js';
import { JsonlLedger } from '../../../src/storage/state-store.js';
import { CountingApiFactory, SimDriver } from '../../support/sim-driver.js';
import { AAPL, MSFT, type ManualRig, nyseMinuteStarts, startManualRig } from './tws-rig.js';

/** Monday 2024-12-02, 07:00 New York: every session backfilled below is complete. */
const NOW = Date.UTC(2024, 11, 2, 12, 0);

// Thanksgiving week 2024 by hand: 09:30-16:00 ET = 14:30-21:00 UTC; the 28th closed; the 29th closes 13:00 ET.
const THANKSGIVING_WEEK = nyseMinuteStarts([
  { date: '2024-11-25', openUtc: '14:30', closeUtc: '21:00' },
  { date: '2024-11-26', openUtc: '14:30', closeUtc: '21:00' },
  { date: '2024-11-27', openUtc: '14:30', closeUtc: '21:00' },
  { date: '2024-11-29', openUtc: '14:30', closeUtc: '18:00' },
]);

let rig: ManualRig | undefined;
afterEach(async () => {
  await rig?.close();
  rig = undefined;
});

describe('TWS backfill against the simulated gateway', () => {
  it('stores exactly the sim bars of Thanksgiving week for two instruments, with zero pacing violations, and a re-run asks for nothing', async () => {
    expect(THANKSGIVING_WEEK).toHaveLength(390 * 3 + 210);
    rig = await startManualRig(NOW, { tws: { pacing_safety_margin_ms: 20 } });
    await rig.driver.run(rig.client.connect());
    const summary = await rig.driver.run(rig.ingestor.ingestHistoricalRange([AAPL, MSFT], '2024-11-25', '2024-11-29'));
    expect(summary).toMatchObject({ windows: 8, skipped: 0, complete: true, barsWritten: 2 * 1380, batchesWritten: 8 });
    expect(rig.sim.stats().pacingViolations).toBe(0);

    const market = new SyntheticMarket();
    for (const inst of [AAPL, MSFT]) {
      const rows = await rig.rawStore.readTwsBars({ symbols: [inst.key], start: '2024-11-25', end: '2024-11-29', dedup: true });
      expect(rows.map((r) => r.ts)).toEqual(THANKSGIVING_WEEK);
      // Values are the sim market's own bars, asked of the market model directly (not through the client).
      const simInst = rig.sim.instruments.find((i) => i.key === inst.key);
      if (!simInst) throw new Error('sim instrument missing');
      const truth = market.bars(simInst, {
        start: Date.UTC(2024, 10, 25),
        end: Date.UTC(2024, 10, 30),
        bar: parseBarSize('1 min') as NonNullable<ReturnType<typeof parseBarSize>>,
        series: 'TRADES',
        rth: true,
        now: rig.clock.now(),
      });
      expect(rows.map((r) => [r.ts, r.open, r.high, r.low, r.close, r.volume])).toEqual(truth.map((b) => [b.ts, b.open, b.high, b.low, b.close, b.volume]));
      expect(new Set(rows.map((r) => r.con_id))).toEqual(new Set([simInst.conId]));
      const all = await rig.rawStore.readTwsBars({ symbols: [inst.key], start: '2024-11-25', end: '2024-11-29' });
      expect(all).toHaveLength(1380); // pages do not overlap, so there is nothing to deduplicate
    }

    // Every request carried a UTC end date; none was zone-less.
    const requests = rig.simLog.historicalRequests();
    expect(requests).toHaveLength(8);
    for (const r of requests) expect(r.end).toMatch(/^\d{8}-\d{2}:\d{2}:\d{2}$/);
    expect(rig.sim.stats().errorsSent['2174']).toBeUndefined();

    const before = rig.sim.stats().requestsByType['historicalData'];
    const again = await rig.driver.run(rig.ingestor.ingestHistoricalRange([AAPL, MSFT], '2024-11-25', '2024-11-29'));
    expect(again).toMatchObject({ windows: 8, skipped: 8, complete: true, barsWritten: 0 });
    expect(rig.sim.stats().requestsByType['historicalData']).toBe(before);

    const ledger = new JsonlLedger<BackfillLedgerRecord>(rig.lake.path('state', BACKFILL_LEDGER)).readAll();
    const windows = ledger.filter((r) => r.type === 'window');
    expect(windows).toHaveLength(8);
    expect(windows.every((w) => w.status === 'ok' && w.attempts === 1 && w.batch_id?.startsWith('bf-'))).toBe(true);
    expect(windows.map((w) => w.bars).sort()).toEqual([210, 210, 390, 390, 390, 390, 390, 390]);
  });
});

describe('pacing violations IB still reports', () => {
  it('two processes sharing one account: a 162 pacing violation backs off and retries that window only; both backfills complete', async () => {
    rig = await startManualRig(NOW, { tws: { pacing_safety_margin_ms: 20 } });
    const nvda = instrumentConfigSchema.parse({ key: 'NVDA', sec_type: 'STK', symbol: 'NVDA', exchange: 'SMART', primary_exchange: 'NASDAQ', currency: 'USD', calendar: 'XNYS' });
    const jpm = instrumentConfigSchema.parse({ key: 'JPM', sec_type: 'STK', symbol: 'JPM', exchange: 'SMART', primary_exchange: 'NYSE', currency: 'USD', calendar: 'XNYS' });
    // The other process: its own client (own pacer, own client id) on the same gateway, same lake.
    const otherCalendars = new InstrumentCalendars([nvda, jpm]);
    const otherWire = new CountingApiFactory(12);
    const otherClient = TwsClient.fromConfig({ ...rig.config, client_id: 12 }, { clock: rig.clock, apiFactory: otherWire.factory });
    const r = rig;
    const driver = new SimDriver(rig.clock, rig.sim, [rig.wire, otherWire], { idle: () => !r.lake.busy });
    const other = new TwsIngestor({
      client: otherClient,
      rawStore: new RawStore(rig.lake, otherCalendars),
      stateDir: rig.lake.path('state', 'other'),
      calendarFor: (k) => otherCalendars.calendarFor(k),
      clock: rig.clock,
      config: rig.config,
    });
    await driver.run(Promise.all([rig.client.connect(), otherClient.connect()]));
    try {
      // 2 x 2 instruments x 20 sessions = 80 requests: each process stays under 60, together they do not.
      const [a, b] = await driver.run(
        Promise.all([rig.ingestor.ingestHistoricalRange([AAPL, MSFT], '2024-10-01', '2024-10-28'), other.ingestHistoricalRange([nvda, jpm], '2024-10-01', '2024-10-28')]),
      );
      const stats = rig.sim.stats();
      expect(stats.pacingViolations).toBeGreaterThan(0);
      expect(a).toMatchObject({ windows: 40, complete: true, batchesWritten: 40 });
      expect(b).toMatchObject({ windows: 40, complete: true, batchesWritten: 40 });
      // Every rejected request was retried once more, alone: requests = windows + violations.
      expect(stats.requestsByType['historicalData']).toBe(80 + stats.pacingViolations);
      const ledgers = [rig.lake.path('state', BACKFILL_LEDGER), rig.lake.path('state', 'other', BACKFILL_LEDGER)];
      const windows = ledgers.flatMap((f) => new JsonlLedger<BackfillLedgerRecord>(f).readAll()).filter((r) => r.type === 'window');
      expect(windows).toHaveLength(80);
      expect(windows.every((w) => w.status === 'ok')).toBe(true);
      expect(windows.reduce((n, w) => n + w.attempts, 0)).toBe(80 + stats.pacingViolations);
    } finally {
      await otherClient.disconnect();
    }
  });
});

describe('an instrument IB does not know', () => {
  it('fails alone: the others are backfilled and the run reports itself incomplete', async () => {
    rig = await startManualRig(NOW);
    await rig.driver.run(rig.client.connect());
    const bogus = instrumentConfigSchema.parse({ key: 'BOGUS', sec_type: 'STK', symbol: 'BOGUS', exchange: 'SMART', currency: 'USD', calendar: 'XNYS' });
    const summary = await rig.driver.run(rig.ingestor.ingestHistoricalRange([bogus, AAPL], '2024-11-25', '2024-11-29'));
    expect(summary).toMatchObject({ windows: 4, complete: false, batchesWritten: 4 });
    expect(summary.failed).toEqual([expect.objectContaining({ instrument: 'BOGUS', status: 'error' })]);
  });
});

describe('crash between storing a page and recording it', () => {
  it('a page whose batch is already committed is recorded from the raw store, not requested again', async () => {
    rig = await startManualRig(NOW);
    await rig.driver.run(rig.client.connect());
    const contract = await rig.driver.run(rig.client.resolveContract(AAPL));
    // Store the newest window's page the way a run that died before its ledger line would have.
    const [newest] = planBackfill({ calendar: rig.calendars.calendarFor('AAPL'), startDate: '2024-11-25', endDate: '2024-11-29', barSize: '1 min' });
    if (!newest) throw new Error('empty plan');
    const page = await rig.driver.run(rig.client.requestHistoricalBars(contract, newest.start, newest.end, '1 min', 'TRADES', true, { symbol: 'AAPL' }));
    await rig.rawStore.writeTwsBars(page.bars, backfillBatchId('AAPL', contract.conId, newest, 'TRADES', true), rig.clock.now());
    const before = rig.sim.stats().requestsByType['historicalData'] ?? 0;

    const summary = await rig.driver.run(rig.ingestor.ingestHistoricalRange([AAPL], '2024-11-25', '2024-11-29'));
    expect(summary).toMatchObject({ windows: 4, complete: true, batchesWritten: 3 });
    expect((rig.sim.stats().requestsByType['historicalData'] ?? 0) - before).toBe(3);
    const rows = await rig.rawStore.readTwsBars({ symbols: ['AAPL'], start: '2024-11-25', end: '2024-11-29' });
    expect(rows.map((r) => r.ts)).toEqual(THANKSGIVING_WEEK);
  });
});
