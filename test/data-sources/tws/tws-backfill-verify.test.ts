import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { TwsIngestor } from '../../../src/data-sources/tws/tws-ingestor.js';
import { unbackedWindows, latestWindowRecords, BACKFILL_LEDGER, type BackfillLedgerRecord } from '../../../src/data-sources/tws/backfill-ledger.js';
import { createLogger } from '../../../src/ops/logging-setup.js';
import { JsonlLedger } from '../../../src/storage/state-store.js';
import { parseSettings } from '../../../src/config/settings.js';
import { createAppContext } from '../../../src/ops/app-context.js';
import { buildStatusReport } from '../../../src/ops/status-report.js';
import { AAPL, LogSink, MSFT, nyseMinuteStarts, type Rig, startRig } from './tws-rig.js';

// 2024-11-18 .. 2024-11-22 by hand: five full XNYS sessions, 14:30-21:00 UTC (EST).
const WEEK = nyseMinuteStarts(['18', '19', '20', '21', '22'].map((d) => ({ date: `2024-11-${d}`, openUtc: '14:30', closeUtc: '21:00' })));

let rig: Rig | undefined;
afterEach(async () => {
  await rig?.close();
  rig = undefined;
});

interface RawLine {
  type: string;
  batch_id: string;
  files: { date: string; path: string }[];
  parts?: { batch_id: string; dates: string[] }[];
}

describe('backfill trusts the data, not only its ledger', () => {
  it('refetches windows recorded done whose raw batch is not committed or whose file is gone, lists them in status, and ends with every bar once', async () => {
    expect(WEEK).toHaveLength(5 * 390);
    // Groups of at most 2 pages (780 rows), so there are several raw ledger lines to damage.
    rig = await startRig({ timeScale: 0.01, tws: { pacing_safety_margin_ms: 20, backfill_commit_rows: 700 } });
    await rig.client.connect();
    const first = await rig.ingestor.ingestHistoricalRange([AAPL, MSFT], '2024-11-18', '2024-11-22');
    expect(first).toMatchObject({ windows: 10, complete: true, batchesWritten: 10 });

    // Damage state/ as a partial restore would: the last raw ledger line is lost, and the file
    // of the first group is deleted.
    const rawFile = join(rig.dir, 'state', 'raw_batches.jsonl');
    const lines = readFileSync(rawFile, 'utf8').split('\n').filter((l) => l.trim());
    const groups = lines.map((l) => JSON.parse(l) as RawLine);
    expect(groups.length).toBeGreaterThanOrEqual(5);
    const partsOf = (g: RawLine): string[] => (g.parts ?? [{ batch_id: g.batch_id }]).map((p) => p.batch_id);
    const lastGroup = groups[groups.length - 1] as RawLine;
    const firstGroup = groups[0] as RawLine;
    const deleted = firstGroup.files[0] as { date: string; path: string };
    writeFileSync(rawFile, lines.slice(0, -1).map((l) => `${l}\n`).join(''));
    rmSync(join(rig.dir, deleted.path));
    const hitByDelete = (firstGroup.parts ?? [{ batch_id: firstGroup.batch_id, dates: firstGroup.files.map((f) => f.date) }]).filter((p) => p.dates.includes(deleted.date)).map((p) => p.batch_id);
    const affected = new Set([...partsOf(lastGroup), ...hitByDelete]);
    expect(affected.size).toBeGreaterThanOrEqual(2);

    const windows = [...latestWindowRecords(new JsonlLedger<BackfillLedgerRecord>(join(rig.dir, 'state', BACKFILL_LEDGER)).readAll()).values()];
    const affectedWindows = windows.filter((w) => affected.has(w.batch_id ?? '')).map((w) => `${w.instrument} ${w.session_date}`).sort();

    // The status report lists exactly those windows, with the reason (and does not trip over the missing file).
    const settings = parseSettings({
      lake: { root: rig.dir },
      instruments: [AAPL, MSFT].map((i) => ({ key: i.key, sec_type: 'STK', symbol: i.key, exchange: 'SMART', primary_exchange: 'NASDAQ', currency: 'USD', calendar: 'XNYS' })),
    });
    const app = await createAppContext(settings);
    const report = await buildStatusReport(app).finally(() => app.close());
    const listed = report.unbacked_windows;
    expect(listed.map((w) => `${w.symbol} ${w.session_date}`).sort()).toEqual(affectedWindows);
    expect(report.coverage.find((c) => c.date === deleted.date && c.missing > 0)).toBeDefined();
    for (const w of listed) {
      expect(w.reason).toBe(partsOf(lastGroup).includes(w.batch_id) ? 'batch not committed in state/raw_batches.jsonl' : `raw file missing: ${join(rig.dir, deleted.path)}`);
    }

    // The re-run requests exactly those windows again and logs each mismatch.
    const sink = new LogSink();
    const ingestor = new TwsIngestor({
      client: rig.client,
      rawStore: rig.rawStore,
      stateDir: rig.lake.path('state'),
      calendarFor: (s) => rig?.calendars.calendarFor(s) as ReturnType<Rig['calendars']['calendarFor']>,
      clock: rig.clock,
      config: rig.config,
      logger: createLogger({ level: 'info', format: 'json', destination: sink }),
    });
    const before = rig.sim.stats().requestsByType['historicalData'] ?? 0;
    const second = await ingestor.ingestHistoricalRange([AAPL, MSFT], '2024-11-18', '2024-11-22');
    expect(second).toMatchObject({ windows: 10, skipped: 10 - affected.size, complete: true, batchesWritten: affected.size });
    expect((rig.sim.stats().requestsByType['historicalData'] ?? 0) - before).toBe(affected.size);
    const mismatches = sink.lines.filter((l) => l['event'] === 'backfill_ledger_mismatch');
    expect(mismatches.map((l) => `${String(l['instrument'])} ${String(l['session_date'])}`).sort()).toEqual(affectedWindows);

    // Whole again: every bar of the week once per instrument, no batch seen twice, nothing listed.
    for (const inst of [AAPL, MSFT]) {
      const rows = await rig.rawStore.readTwsBars({ symbols: [inst.key], start: '2024-11-18', end: '2024-11-22' });
      expect(rows.map((r) => r.ts)).toEqual(WEEK);
    }
    const done = [...latestWindowRecords(ingestor.ledger.readAll()).values()];
    expect(unbackedWindows(done, rig.rawStore)).toEqual([]);
  });
});
