import { appendFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { TwsClient } from '../../../src/data-sources/tws/tws-client.js';
import { TwsIngestor } from '../../../src/data-sources/tws/tws-ingestor.js';
import { BACKFILL_LEDGER } from '../../../src/data-sources/tws/backfill-ledger.js';
import { REQUEST_LOG, RequestLog } from '../../../src/data-sources/tws/request-log.js';
import { AAPL, MSFT, type Rig, startRig } from './tws-rig.js';

let rig: Rig | undefined;
const dirs: string[] = [];
afterEach(async () => {
  await rig?.close();
  rig = undefined;
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

describe('RequestLog', () => {
  it('returns the requests inside the window, skipping a torn line, from the tail of a long log', () => {
    const dir = mkdtempSync(join(tmpdir(), 'ibpipe-reqlog-'));
    dirs.push(dir);
    const log = new RequestLog(join(dir, 'state', REQUEST_LOG));
    expect(log.exists()).toBe(false);
    expect(log.recent(1_000_000, 600_000)).toEqual([]);
    // Years of history: far more than the tail that is read.
    mkdirSync(join(dir, 'state'));
    writeFileSync(log.file, Array.from({ length: 5_000 }, (_, i) => JSON.stringify({ at: i, what_to_show: 'TRADES' })).join('\n') + '\n');
    log.note(1_000_000 - 600_000, 'TRADES'); // exactly one window old: out
    log.note(1_000_000 - 599_999, 'BID_ASK');
    log.note(999_000, 'TRADES');
    appendFileSync(log.file, '{"at":999500,"what_'); // killed mid-line
    expect(log.recent(1_000_000, 600_000)).toEqual([
      { at: 400_001, whatToShow: 'BID_ASK' },
      { at: 999_000, whatToShow: 'TRADES' },
    ]);
  });
});

describe('pacer preload after a restart', () => {
  it('counts exactly the requests the previous process sent, also those whose pages it had not recorded', async () => {
    rig = await startRig({ tws: { pacing_safety_margin_ms: 20 } });
    await rig.client.connect();
    const first = await rig.ingestor.ingestHistoricalRange([AAPL, MSFT], '2024-11-25', '2024-11-26');
    expect(first).toMatchObject({ windows: 4, complete: true });
    const sent = rig.sim.stats().requestsByType['historicalData'] ?? 0;
    expect(sent).toBe(4);
    expect(readFileSync(join(rig.dir, 'state', REQUEST_LOG), 'utf8').trim().split('\n')).toHaveLength(sent);
    // The process dies after its pages were committed but before their window lines were written.
    const ledger = join(rig.dir, 'state', BACKFILL_LEDGER);
    writeFileSync(ledger, readFileSync(ledger, 'utf8').split('\n').filter((l) => l.includes('"type":"head"')).map((l) => `${l}\n`).join(''));

    // The restarted process: its own client and pacer, the same lake.
    const client = TwsClient.fromConfig({ ...rig.config, client_id: 12 }, { clock: rig.clock });
    const restarted = new TwsIngestor({ client, rawStore: rig.rawStore, stateDir: rig.lake.path('state'), calendarFor: (s) => rig?.calendars.calendarFor(s) as never, clock: rig.clock, config: rig.config });
    await client.connect();
    try {
      const second = await restarted.ingestHistoricalRange([AAPL, MSFT], '2024-11-25', '2024-11-26');
      // Pages found committed are recorded without asking IB again …
      expect(second).toMatchObject({ windows: 4, skipped: 0, complete: true });
      expect(rig.sim.stats().requestsByType['historicalData']).toBe(sent);
      // … and the pacer counts the previous process's 4 requests, no more (a guess would hold back more).
      expect(client.pacer.metrics().historicalBudget).toBe(60 - sent);
    } finally {
      await client.disconnect();
    }
  });
});
