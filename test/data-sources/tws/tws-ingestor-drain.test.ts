import { afterEach, describe, expect, it } from 'vitest';
import { instrumentConfigSchema } from '../../../src/config/instrument-config.js';
import { drainIngestor, parseWindowEdge } from '../../../src/data-sources/ingestor.js';
import { createIngestor } from '../../../src/data-sources/ingestor-registry.js';
import { sourceConfigSchema } from '../../../src/data-sources/sources-config.js';
import { BACKFILL_LEDGER, type BackfillLedgerRecord, TwsIngestor } from '../../../src/data-sources/tws/tws-ingestor.js';
import { silentLogger } from '../../../src/ops/logging-setup.js';
import { JsonlLedger } from '../../../src/storage/state-store.js';
import { AAPL, MSFT, nyseMinuteStarts, type Rig, startRig } from './tws-rig.js';

// Two full XNYS sessions by hand: 09:30-16:00 EST = 14:30-21:00 UTC, 390 one-minute bars each.
const TWO_SESSIONS = nyseMinuteStarts([
  { date: '2024-11-25', openUtc: '14:30', closeUtc: '21:00' },
  { date: '2024-11-26', openUtc: '14:30', closeUtc: '21:00' },
]);

let rig: Rig | undefined;
afterEach(async () => {
  await rig?.close();
  rig = undefined;
});

describe('TwsIngestor as an Ingestor', () => {
  it('drains 2 instruments x 2 sessions through drainIngestor with exact bar counts; a second drain writes nothing and plans no work', async () => {
    expect(TWO_SESSIONS).toHaveLength(2 * 390);
    rig = await startRig({ timeScale: 0.01, tws: { pacing_safety_margin_ms: 20 } });
    const calendars = rig.calendars;
    const ingestor = new TwsIngestor({
      client: rig.client,
      ownsClient: true,
      rawStore: rig.rawStore,
      stateDir: rig.lake.path('state'),
      calendarFor: (s) => calendars.calendarFor(s),
      clock: rig.clock,
      config: rig.config,
      instruments: [AAPL, MSFT],
    });
    expect(ingestor.name).toBe('tws');
    expect(ingestor.source).toBe('TWS');
    const request = { start: parseWindowEdge('2024-11-25', 'start'), end: parseWindowEdge('2024-11-26', 'end') };
    const deps = { sink: rig.rawStore, clock: rig.clock, logger: silentLogger() };

    const planned = await ingestor.plan(request);
    expect(planned).toHaveLength(4);
    expect(planned.map((w) => w.rows)).toEqual([390, 390, 390, 390]);
    expect(new Set(planned.map((w) => w.symbols.join()))).toEqual(new Set(['AAPL', 'MSFT']));

    const first = await drainIngestor(ingestor, request, deps);
    expect(first).toMatchObject({ source: 'tws', batches: 4, batchesWritten: 4, rowsRead: 4 * 390, rowsWritten: 4 * 390 });
    expect(first.outcomes.every((o) => o.batchId.startsWith('bf-') && o.rows === 390)).toBe(true);
    for (const inst of [AAPL, MSFT]) {
      const rows = await rig.rawStore.readTwsBars({ symbols: [inst.key], start: '2024-11-25', end: '2024-11-26', dedup: true });
      expect(rows.map((r) => r.ts)).toEqual(TWO_SESSIONS);
    }
    const windows = new JsonlLedger<BackfillLedgerRecord>(rig.lake.path('state', BACKFILL_LEDGER)).readAll().filter((r) => r.type === 'window');
    expect(windows).toHaveLength(4);
    expect(windows.every((w) => w.status === 'ok' && w.bars === 390 && w.batch_id?.startsWith('bf-'))).toBe(true);

    const requestsBefore = rig.sim.stats().requestsByType['historicalData'];
    expect(await ingestor.plan(request)).toEqual([]);
    const second = await drainIngestor(ingestor, request, deps);
    expect(second).toMatchObject({ batches: 0, batchesWritten: 0, rowsRead: 0, rowsWritten: 0 });
    expect(rig.sim.stats().requestsByType['historicalData']).toBe(requestsBefore);
    const all = await rig.rawStore.readTwsBars({ symbols: ['AAPL', 'MSFT'], start: '2024-11-25', end: '2024-11-26' });
    expect(all).toHaveLength(4 * 390);
    expect(rig.sim.stats().pacingViolations).toBe(0);
  });

  it('the registry builds a tws source from `{ type: tws, name }` that connects its own client and drains the same windows', async () => {
    rig = await startRig({ timeScale: 0.01, tws: { pacing_safety_margin_ms: 20 } });
    const config = sourceConfigSchema.parse({ type: 'tws', name: 'ib' });
    const ingestor = createIngestor(config, {
      lake: rig.lake,
      rawStore: rig.rawStore,
      clock: rig.clock,
      logger: silentLogger(),
      instruments: [AAPL, MSFT].map((i) => instrumentConfigSchema.parse(i)),
      barSize: rig.config.historical_bar_size,
      env: {},
      tws: { ...rig.config, client_id: 12 },
    });
    expect(ingestor).toMatchObject({ name: 'ib', source: 'TWS' });
    const request = { symbols: ['MSFT'], start: parseWindowEdge('2024-11-25', 'start'), end: parseWindowEdge('2024-11-26', 'end') };
    const summary = await drainIngestor(ingestor, request, { sink: rig.rawStore, clock: rig.clock, logger: silentLogger() });
    expect(summary).toMatchObject({ source: 'ib', batches: 2, batchesWritten: 2, rowsWritten: 2 * 390 });
    const rows = await rig.rawStore.readTwsBars({ symbols: ['MSFT'], start: '2024-11-25', end: '2024-11-26', dedup: true });
    expect(rows.map((r) => r.ts)).toEqual(TWO_SESSIONS);
    expect(await ingestor.plan(request)).toEqual([]);
  });
});
