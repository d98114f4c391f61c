import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { instrumentConfigSchema } from '../../../src/config/instrument-config.js';
import { drainIngestor, parseWindowEdge } from '../../../src/data-sources/ingestor.js';
import { createIngestor } from '../../../src/data-sources/ingestor-registry.js';
import { sourceConfigSchema } from '../../../src/data-sources/sources-config.js';
import { BACKFILL_LEDGER, type BackfillLedgerRecord } from '../../../src/data-sources/tws/backfill-ledger.js';
import { silentLogger } from '../../../src/ops/logging-setup.js';
import { JsonlLedger } from '../../../src/storage/state-store.js';
import { runCliInProcess } from '../../support/cli-in-process.js';
import { AAPL, MSFT, nyseMinuteStarts, type Rig, startRig, twsSourceOn } from './tws-rig.js';

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
    const ingestor = twsSourceOn(rig, [AAPL, MSFT]);
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

  it('without a start, a tws source resumes each instrument at its newest stored session, or default_sessions completed sessions back', async () => {
    rig = await startRig({ timeScale: 0.01, tws: { pacing_safety_margin_ms: 20 } });
    // The rig's own client holds tws.client_id: the source connects with the client_id it names (else IB answers 326).
    await rig.client.connect();
    const ingestor = createIngestor(sourceConfigSchema.parse({ type: 'tws', name: 'ib', default_sessions: 2, client_id: 13 }), {
      lake: rig.lake,
      rawStore: rig.rawStore,
      clock: rig.clock,
      logger: silentLogger(),
      instruments: [AAPL, MSFT].map((i) => instrumentConfigSchema.parse(i)),
      barSize: rig.config.historical_bar_size,
      env: {},
      tws: rig.config,
    });
    const request = { symbols: ['MSFT'], start: parseWindowEdge('2024-11-25', 'start'), end: parseWindowEdge('2024-11-26', 'end') };
    await drainIngestor(ingestor, request, { sink: rig.rawStore, clock: rig.clock, logger: silentLogger() });
    const now = rig.clock.now();
    const cal = rig.calendars.calendarFor('AAPL');
    const dateOf = (w: { start: number | null }): string => cal.sessionDateOf(w.start as number);

    // MSFT: its newest stored session (done: skipped) onwards, up to the last completed session.
    const msft = await ingestor.plan({ symbols: ['MSFT'], end: parseWindowEdge('2024-12-06', 'end') });
    expect(msft.map(dateOf).sort()).toEqual(['2024-11-27', '2024-11-29', '2024-12-02', '2024-12-03', '2024-12-04', '2024-12-05', '2024-12-06']);

    // AAPL: nothing stored, so the two newest sessions that have closed by now (none left out in between).
    const aapl = (await ingestor.plan({ symbols: ['AAPL'] })).map(dateOf).sort();
    expect(aapl).toHaveLength(2);
    const completed = cal.sessionsInRange(aapl[0] as string, cal.sessionDateOf(now)).filter((s) => s.close <= now).map((s) => s.date);
    expect(completed).toEqual(aapl);
  });

  it('`ibpipe ingest --source tws` backfills through the implicit tws source (none configured) and prints the one summary row', async () => {
    rig = await startRig({ timeScale: 0.01, tws: { pacing_safety_margin_ms: 20 } });
    const cfg = join(rig.dir, 'ibpipe.yaml');
    writeFileSync(
      cfg,
      `lake: { root: ${rig.dir} }\nlogging: { level: warn }\ntws: { port: ${rig.config.port}, client_id: 14, pacing_time_scale: 0.01, pacing_safety_margin_ms: 20 }\n` +
        'instruments:\n  - { key: AAPL, sec_type: STK, symbol: AAPL, exchange: SMART, primary_exchange: NASDAQ, currency: USD, calendar: XNYS }\n' +
        '  - { key: BOGUS, sec_type: STK, symbol: BOGUS, exchange: SMART, currency: USD, calendar: XNYS }\n',
    );
    const window = ['--start', '2024-11-25', '--end', '2024-11-26', '--format', 'json'];
    const args = ['ingest', '--config', cfg, '--source', 'tws', '--symbols', 'AAPL', ...window];
    const first = await runCliInProcess(args);
    expect(first.code, first.stderr).toBe(0);
    expect(JSON.parse(first.stdout)).toEqual([{ source: 'tws', type: 'tws', batches: 2, batches_written: 2, rows_read: 780, rows_written: 780, unfinished: 0, complete: true }]);
    const rows = await rig.rawStore.readTwsBars({ symbols: ['AAPL'], start: '2024-11-25', end: '2024-11-26', dedup: true });
    expect(rows.map((r) => r.ts)).toEqual(TWO_SESSIONS);
    const again = await runCliInProcess(args);
    expect(JSON.parse(again.stdout)).toMatchObject([{ batches: 0, rows_written: 0, complete: true }]);

    // An instrument IB does not know: the run is incomplete (exit 1, listed on stderr), as is the job, with a retryable code.
    const all = await runCliInProcess(['ingest', '--config', cfg, '--source', 'tws', ...window]);
    expect(all.code).toBe(1);
    expect(JSON.parse(all.stdout)).toMatchObject([{ source: 'tws', batches: 0, unfinished: 1, complete: false }]);
    expect(all.stderr).toMatch(/^unfinished: BOGUS: error/m);
    const job = await runCliInProcess(['run', 'ingest', '--config', cfg, '--source', 'tws', ...window]);
    expect(job.code).toBe(1);
    expect(JSON.parse(job.stdout)).toMatchObject([{ job: 'ingest', status: 'failed' }]);
    expect(job.stderr).toContain('error [INGEST_INCOMPLETE]: ingest: 1 item(s) unfinished');
  });

  it('a tws source given a dataset requests its what_to_show into its own partition and resumes from that dataset\'s own watermark', async () => {
    rig = await startRig({ timeScale: 0.01, tws: { pacing_safety_margin_ms: 20 } });
    const calendars = rig.calendars;
    const sourceFor = (twsDataset: { name: string; barSize: '1 min' | '1 day'; series: 'MIDPOINT' | null; instruments: string[] | null }, clientId: number) =>
      createIngestor(sourceConfigSchema.parse({ type: 'tws', name: 'ib', default_sessions: 2, client_id: clientId }), {
        lake: rig?.lake as Rig['lake'],
        rawStore: rig?.rawStore as Rig['rawStore'],
        clock: rig?.clock as Rig['clock'],
        logger: silentLogger(),
        instruments: [AAPL, MSFT].map((i) => instrumentConfigSchema.parse(i)),
        barSize: '1 min',
        env: {},
        tws: rig?.config,
        calendarFor: (s) => calendars.calendarFor(s),
        twsDataset,
      });
    const deps = { sink: rig.rawStore, clock: rig.clock, logger: silentLogger() };
    // A MIDPOINT dataset of MSFT only: AAPL is left out, every request asks for MIDPOINT, the bars land in bar_size=1min-midpoint.
    const mid = sourceFor({ name: 'bars_1min_mid', barSize: '1 min', series: 'MIDPOINT', instruments: ['MSFT'] }, 17);
    const request = { start: parseWindowEdge('2024-11-25', 'start'), end: parseWindowEdge('2024-11-26', 'end') };
    const summary = await drainIngestor(mid, request, deps);
    expect(summary).toMatchObject({ batches: 2, batchesWritten: 2, rowsWritten: 780 });
    const asked = rig.simLog.lines.filter((l) => l['event'] === 'request' && (l['type'] === 'historicalData' || l['type'] === 'headTimestamp'));
    expect(asked.length).toBeGreaterThan(0);
    expect(new Set(asked.map((l) => `${String(l['symbol'])} ${String(l['what_to_show'])}`))).toEqual(new Set(['MSFT MIDPOINT']));
    const midRows = await rig.rawStore.readTwsBars({ symbols: ['MSFT'], start: '2024-11-25', end: '2024-11-26', series: 'MIDPOINT', dedup: true });
    expect(midRows.map((r) => r.ts)).toEqual(TWO_SESSIONS);
    expect(await rig.rawStore.readTwsBars({ start: '2024-11-25', end: '2024-11-26' })).toEqual([]);

    // Without a start: the MIDPOINT dataset resumes at its newest stored session (2024-11-26, done) ...
    const cal = calendars.calendarFor('MSFT');
    const dateOf = (w: { start: number | null }): string => cal.sessionDateOf(w.start as number);
    expect((await mid.plan({ end: parseWindowEdge('2024-11-29', 'end') })).map(dateOf).sort()).toEqual(['2024-11-27', '2024-11-29']);
    // ... while the classic 1-minute dataset, with nothing stored, goes default_sessions (2) closed sessions back from now, not from MIDPOINT's watermark.
    const classic = sourceFor({ name: 'bars_1min', barSize: '1 min', series: null, instruments: null }, 18);
    const planned = await classic.plan({ symbols: ['MSFT'] });
    const now = rig.clock.now();
    const closed = planned.map(dateOf).sort();
    expect(closed).toHaveLength(2);
    expect(cal.sessionsInRange(closed[0] as string, cal.sessionDateOf(now)).filter((x) => x.close <= now).map((x) => x.date)).toEqual(closed);
  });

  it('`ibpipe ingest --source tws` fills every bar dataset into its own raw partition, one summary row each; --dataset narrows; other sources refuse it', { timeout: 60_000 }, async () => {
    rig = await startRig({ timeScale: 0.01, tws: { pacing_safety_margin_ms: 20 } });
    const { readdirSync } = await import('node:fs');
    const cfg = join(rig.dir, 'datasets.yaml');
    writeFileSync(
      cfg,
      `lake: { root: ${rig.dir} }\nlogging: { level: warn }\ntws: { port: ${rig.config.port}, client_id: 15, pacing_time_scale: 0.01, pacing_safety_margin_ms: 20 }\n` +
        'instruments:\n  - { key: AAPL, sec_type: STK, symbol: AAPL, exchange: SMART, primary_exchange: NASDAQ, currency: USD, calendar: XNYS }\n' +
        'bar_datasets:\n  - { name: bars_1min, bar_size: 1 min }\n  - { name: bars_1d, bar_size: 1 day }\n' +
        `sources:\n  - { type: file, name: csv, paths: [${join(rig.dir, 'none.csv')}] }\n`,
    );
    const window = ['--start', '2024-11-25', '--end', '2024-11-26', '--format', 'json'];
    const args = ['ingest', '--config', cfg, '--source', 'tws', ...window];

    // --dataset bars_1d: only the daily partition, one page for both sessions, one bar per session; one row, no dataset column.
    const narrowed = await runCliInProcess([...args, '--dataset', 'bars_1d']);
    expect(narrowed.code, narrowed.stderr).toBe(0);
    expect(JSON.parse(narrowed.stdout)).toEqual([{ source: 'tws', type: 'tws', batches: 1, batches_written: 1, rows_read: 2, rows_written: 2, unfinished: 0, complete: true }]);
    expect(readdirSync(rig.lake.path('raw', 'tws_bars'))).toEqual(['bar_size=1d']);

    // Every dataset: the 1-minute one is filled (one page per session, 390 bars each); the daily one is already done.
    const first = await runCliInProcess(args);
    expect(first.code, first.stderr).toBe(0);
    expect(JSON.parse(first.stdout)).toEqual([
      { source: 'tws', dataset: 'bars_1min', type: 'tws', batches: 2, batches_written: 2, rows_read: 780, rows_written: 780, unfinished: 0, complete: true },
      { source: 'tws', dataset: 'bars_1d', type: 'tws', batches: 0, batches_written: 0, rows_read: 0, rows_written: 0, unfinished: 0, complete: true },
    ]);
    expect(readdirSync(rig.lake.path('raw', 'tws_bars')).sort()).toEqual(['bar_size=1d', 'bar_size=1min']);
    const minutes = await rig.rawStore.readTwsBars({ symbols: ['AAPL'], start: '2024-11-25', end: '2024-11-26', dedup: true });
    expect(minutes.map((r) => r.ts)).toEqual(TWO_SESSIONS);
    // The sim's daily bar of a session is its minutes aggregated, stamped at the open (09:30 EST = 14:30 UTC).
    const daily = await rig.rawStore.readTwsBars({ symbols: ['AAPL'], start: '2024-11-25', end: '2024-11-26', barSize: '1 day', dedup: true });
    expect(daily.map((r) => Number(r.ts))).toEqual([Date.parse('2024-11-25T14:30:00Z'), Date.parse('2024-11-26T14:30:00Z')]);
    for (const d of daily) {
      const own = minutes.filter((m) => Number(m.ts) >= Number(d.ts) && Number(m.ts) < Number(d.ts) + 390 * 60_000);
      expect(own).toHaveLength(390);
      expect(d.open).toBeCloseTo(own[0]?.open as number, 6);
      expect(d.close).toBeCloseTo(own.at(-1)?.close as number, 6);
      expect(d.high).toBeCloseTo(Math.max(...own.map((m) => m.high ?? NaN)), 6);
      expect(d.low).toBeCloseTo(Math.min(...own.map((m) => m.low ?? NaN)), 6);
    }

    // A second run adds nothing and asks IB for nothing.
    const requestsBefore = rig.sim.stats().requestsByType['historicalData'];
    const again = await runCliInProcess(args);
    expect(again.code, again.stderr).toBe(0);
    expect(JSON.parse(again.stdout)).toMatchObject([
      { dataset: 'bars_1min', batches: 0, rows_written: 0, complete: true },
      { dataset: 'bars_1d', batches: 0, rows_written: 0, complete: true },
    ]);
    expect(rig.sim.stats().requestsByType['historicalData']).toBe(requestsBefore);

    // --dataset means nothing to another source type, and an unknown dataset is named: both exit 2 before any work.
    const file = await runCliInProcess(['ingest', '--config', cfg, '--source', 'csv', '--dataset', 'bars_1d']);
    expect(file.code).toBe(2);
    expect(file.stderr).toContain('--dataset: bar datasets are filled by tws sources only; csv is a file source');
    const unknown = await runCliInProcess(['ingest', '--config', cfg, '--source', 'tws', '--dataset', 'bars_5min']);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain('dataset: unknown bar dataset bars_5min; expected one of bars_1min, bars_1d');
    expect(rig.sim.stats().pacingViolations).toBe(0);
  });
});
