// Benchmark: backfill planning + ingestion (TwsIngestor.ingestHistoricalRange) against the
// simulated IB Gateway over a real socket, pacing windows time-scaled on both sides, against
// the minimum time IB's pacing rules allow for the same requests.
// Run: npx tsx bench/backfill-sim.ts [--size quick|full]
import { SystemClock } from '../src/core/clock.js';
import { HISTORICAL_WINDOW_MS, MAX_HISTORICAL_REQUESTS_PER_WINDOW, MAX_MESSAGES_PER_SECOND, MESSAGE_WINDOW_MS } from '../src/data-sources/tws/pacing.js';
import { TwsClient } from '../src/data-sources/tws/tws-client.js';
import { twsConfigSchema } from '../src/data-sources/tws/tws-config.js';
import { TwsIngestor } from '../src/data-sources/tws/tws-ingestor.js';
import { silentLogger } from '../src/ops/logging-setup.js';
import { startSimGateway } from '../src/sim/sim-server.js';
import { RawStore } from '../src/storage/raw-store.js';
import { benchMain, median, progress, round, RssSampler, type BenchResult } from './support/bench-harness.js';
import { benchCalendars, benchSessions, benchSymbols, configInstruments, MINUTE, simInstruments } from './support/synthetic-market.js';
import { openBenchLake } from './support/temp-lake.js';

const REPS = 3;
/**
 * 10 min → 6 s. Much smaller and the single raw writer (one Parquet file per page) binds
 * instead of the pacing rules: at 0.005 a page must be stored every 50 ms.
 */
const TIME_SCALE = 0.01;
/** Jitter allowance per pacing window (250 ms against a real gateway; the sim shares our clock). */
const SAFETY_MARGIN_MS = 15;

/**
 * The least time IB's rules allow for a sequence of client messages, sent in order as early as
 * the rules permit (greedy is optimal for sliding-window limits): every message counts against
 * "at most 50 messages a second", each historical-data request also against "at most 60 in any
 * 10 minutes" (scaled). Returns the send time of the last message, from the first at 0.
 */
export function rulesMinimumMs(messages: readonly ('message' | 'historical')[], windowMs: number): number {
  const sent: number[] = [];
  const historical: number[] = [];
  let t = 0;
  for (const kind of messages) {
    if (sent.length >= MAX_MESSAGES_PER_SECOND) t = Math.max(t, (sent[sent.length - MAX_MESSAGES_PER_SECOND] as number) + MESSAGE_WINDOW_MS);
    if (kind === 'historical' && historical.length >= MAX_HISTORICAL_REQUESTS_PER_WINDOW) {
      t = Math.max(t, (historical[historical.length - MAX_HISTORICAL_REQUESTS_PER_WINDOW] as number) + windowMs);
    }
    sent.push(t);
    if (kind === 'historical') historical.push(t);
  }
  return t;
}

/** The backfill's messages in order: contract details and head timestamp per instrument, then the windows. */
function messagePlan(instruments: number, historical: number, head: 'message' | 'historical'): ('message' | 'historical')[] {
  const out: ('message' | 'historical')[] = [];
  for (let i = 0; i < instruments; i++) out.push('message', head);
  for (let i = 0; i < historical; i++) out.push('historical');
  return out;
}

benchMain(async ({ size }) => {
  const nSymbols = size === 'full' ? 50 : 15;
  const nSessions = 5;
  const symbols = benchSymbols(nSymbols);
  const sessions = benchSessions(nSessions);
  const start = (sessions[0] as { date: string }).date;
  const end = (sessions[nSessions - 1] as { date: string }).date;
  const instruments = configInstruments(symbols);
  const windowMs = HISTORICAL_WINDOW_MS * TIME_SCALE;
  const expectedBars = nSymbols * sessions.reduce((n, s) => n + (s.close - s.open) / MINUTE, 0);

  const elapsed: number[] = [];
  const minimums: number[] = [];
  let violations = 0;
  let histRequests = 0;
  let headRequests = 0;
  let bars = 0;
  const rss = new RssSampler().start();
  for (let r = 0; r < REPS; r++) {
    const clock = new SystemClock();
    const sim = await startSimGateway({
      port: 0,
      clock,
      builtinInstruments: false,
      instruments: simInstruments(symbols),
      pacingTimeScale: TIME_SCALE,
      logger: silentLogger(),
    });
    const bl = await openBenchLake();
    const config = twsConfigSchema.parse({
      host: '127.0.0.1',
      port: sim.port,
      client_id: 11,
      pacing_time_scale: TIME_SCALE,
      pacing_safety_margin_ms: SAFETY_MARGIN_MS,
    });
    const client = TwsClient.fromConfig(config, { clock });
    try {
      await client.connect();
      const calendars = benchCalendars(symbols);
      const ingestor = new TwsIngestor({
        client,
        rawStore: new RawStore(bl.lake, calendars),
        stateDir: bl.lake.path('state'),
        calendarFor: (s) => calendars.calendarFor(s),
        clock,
        config,
      });
      const t0 = performance.now();
      const summary = await ingestor.ingestHistoricalRange(instruments, start, end);
      const seconds = (performance.now() - t0) / 1000;
      rss.sample();
      const stats = sim.stats();
      if (!summary.complete || summary.barsWritten !== expectedBars) {
        throw new Error(`backfill incomplete: ${JSON.stringify({ byStatus: summary.byStatus, bars: summary.barsWritten, expectedBars })}`);
      }
      histRequests = stats.requestsByType.historicalData ?? summary.windows;
      headRequests = stats.requestsByType.headTimestamp ?? 0;
      violations += stats.pacingViolations;
      bars = summary.barsWritten;
      elapsed.push(seconds);
      // IB paces historical-data requests (so does the sim); ibpipe's pacer also counts its
      // head-timestamp requests, reported as a second minimum.
      minimums.push(rulesMinimumMs(messagePlan(nSymbols, histRequests, 'message'), windowMs) / 1000);
      progress(
        `backfill rep ${r + 1}: ${seconds.toFixed(2)} s for ${histRequests} historical + ${headRequests} head requests (minimum ${minimums.at(-1)?.toFixed(2)} s), ${stats.pacingViolations} violations`,
      );
    } finally {
      await client.disconnect();
      await sim.close();
      await bl.dispose();
    }
  }
  const peak = rss.stop();
  const t = median(elapsed);
  const tMin = median(minimums);
  const ratio = tMin / t;
  const withHeads = rulesMinimumMs(messagePlan(nSymbols, histRequests, 'historical'), windowMs) / 1000;
  const result: BenchResult = {
    name: 'backfill-sim',
    rows: bars,
    rows_per_s: round(bars / t),
    bound_rows_per_s: round(bars / tMin),
    ratio: round(ratio),
    peak_rss_mb: round(peak) ?? 0,
    target: 'within 10% of minimum, 0 violations',
    met: t <= tMin * 1.1 && violations === 0,
    notes:
      `${nSymbols} symbols x ${nSessions} sessions over a socket to the in-process sim; pacing windows x${TIME_SCALE} on both sides (10 min = ${windowMs / 1000} s), safety margin ${SAFETY_MARGIN_MS} ms; ` +
      `minimum = earliest send of the last of ${nSymbols} contract + ${headRequests} head + ${histRequests} historical messages under 60 historical per window and 50 messages/s: ${round(tMin)} s (with heads paced as historical: ${round(withHeads)} s); ` +
      `elapsed = ingestHistoricalRange call (contracts, heads, plan, requests, raw writes); ${violations} pacing violations in ${REPS} runs; ratio = minimum / elapsed`,
    reps: REPS,
    seconds: round(t),
    bound_seconds: round(tMin),
    metrics: { historical_requests: histRequests, head_requests: headRequests, pacing_violations: violations, overhead_pct: round((t / tMin - 1) * 100) },
  };
  return [result];
});
