import { afterEach, describe, expect, it } from 'vitest';
import { getCalendar } from '../../../src/calendar/calendar-registry.js';
import { HISTORICAL_WINDOW_MS, MAX_HISTORICAL_REQUESTS_PER_WINDOW } from '../../../src/data-sources/tws/pacing.js';
import { AAPL, MSFT, type ManualRig, startManualRig } from './tws-rig.js';

let rig: ManualRig | undefined;
afterEach(async () => {
  await rig?.close();
  rig = undefined;
});

describe('pacing efficiency', () => {
  /**
   * How it is measured: the sim logs every historical request it receives with its clock's time.
   * For N requests the 60-per-10-min rule allows the last one no earlier than floor((N-1)/60)
   * windows after the first: that is the minimum time. The backfill's time is its fetch phase,
   * from its first window request to the last answer (summary.fetchMs, on the client's clock);
   * storing the pages runs beside it. The sim's own arrival times give a second, independent
   * check (first to last request as the gateway saw them). Sim and client share a manual clock
   * that moves only when nothing is in flight, so IB's real windows (10 min) are measured
   * exactly: what is judged is how well the pacer schedules, not how fast the machine is.
   */
  it('a 126-request backfill finishes with zero violations within 10% of the minimum the 60-per-10-min rule allows', async () => {
    const scale = 1;
    rig = await startManualRig(Date.UTC(2024, 11, 2, 12, 0), { tws: { pacing_safety_margin_ms: 30, backfill_concurrency: 8 } });
    await rig.driver.run(rig.client.connect());
    const sessions = getCalendar('XNYS').sessionsInRange('2024-09-03', '2024-11-29').length;
    expect(sessions).toBe(20 + 23 + 20); // Sep (Labor Day off), Oct, Nov (Thanksgiving off)

    const summary = await rig.driver.run(rig.ingestor.ingestHistoricalRange([AAPL, MSFT], '2024-09-03', '2024-11-29'));
    const finishedAt = rig.clock.now();
    expect(summary.complete).toBe(true);
    expect(summary.byStatus.ok).toBe(2 * sessions);

    const stats = rig.sim.stats();
    expect(stats.pacingViolations).toBe(0);
    const requests = rig.simLog.historicalRequests();
    const n = requests.length;
    expect(n).toBe(2 * sessions);
    expect(n).toBeGreaterThan(MAX_HISTORICAL_REQUESTS_PER_WINDOW);
    expect(requests.every((q) => /^\d{8}-\d{2}:\d{2}:\d{2}$/.test(q.end))).toBe(true);

    const windowMs = HISTORICAL_WINDOW_MS * scale;
    const minimumMs = Math.floor((n - 1) / MAX_HISTORICAL_REQUESTS_PER_WINDOW) * windowMs;
    const first = requests[0]?.at ?? 0;
    const last = requests[n - 1]?.at ?? 0;
    const spanMs = last - first;
    const elapsedMs = finishedAt - first;
    const fetchMs = summary.fetchMs;
    // The rule itself: no 61 requests inside any window (checked on the sim's own timestamps).
    for (let i = MAX_HISTORICAL_REQUESTS_PER_WINDOW; i < n; i++) {
      expect((requests[i]?.at ?? 0) - (requests[i - MAX_HISTORICAL_REQUESTS_PER_WINDOW]?.at ?? 0)).toBeGreaterThanOrEqual(windowMs - 2);
    }
    expect(spanMs).toBeGreaterThanOrEqual(minimumMs - 5);
    expect(spanMs).toBeLessThanOrEqual(minimumMs * 1.1);
    expect(fetchMs).toBeGreaterThanOrEqual(minimumMs - 5);
    expect(fetchMs).toBeLessThanOrEqual(minimumMs * 1.1);
    console.info(
      JSON.stringify({ requests: n, minimumMs, spanMs, fetchMs, elapsedMs, fetchOverheadPct: +((fetchMs / minimumMs - 1) * 100).toFixed(2), pacer: rig.client.pacer.metrics() }),
    );
  });
});
