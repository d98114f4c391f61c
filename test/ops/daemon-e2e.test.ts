import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ChildProcess } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ScaledClock } from '../../src/core/clock.js';
import { startSimGateway, type SimGateway } from '../../src/sim/sim-server.js';
import { spawnTs, waitForExit } from '../support/child.js';
import { openTempLake } from '../support/temp-lake.js';

// Virtual time: Wednesday 2024-12-04, 10:00 New York, 120x (one 1-min bar every 0.5 s).
const T0 = Date.parse('2024-12-04T15:00:00Z');
const OPEN = Date.parse('2024-12-04T14:30:00Z');
const SPEED = 120;
const MIN = 60_000;

let dir: string;
let sim: SimGateway;
let realStart: number;
let clock: ScaledClock;

/** The daemon's config; `flushMs` is the live flush interval on the 120x clock. */
function config(flushMs: number): string {
  return `
lake: { root: ${join(dir, 'lake')} }
tws:
  port: ${sim.port}
  client_id: 21
  pacing_time_scale: 0.01
  pacing_safety_margin_ms: 5
  # Timeouts are on the daemon's 120x clock: generous, so a busy machine is slow, not broken.
  connect_timeout_ms: 1200000
  request_timeout_ms: 1200000
  # No flush as each minute turns final: the stop's flush is what this test watches (below).
  live: { flush_interval_ms: ${flushMs}, flush_on_final: false, finalize_grace_ms: 3000, silence_timeout_ms: 600000 }
instruments:
  - { key: AAPL, sec_type: STK, symbol: AAPL, exchange: SMART, primary_exchange: NASDAQ, currency: USD, calendar: XNYS }
  - { key: MSFT, sec_type: STK, symbol: MSFT, exchange: SMART, primary_exchange: NASDAQ, currency: USD, calendar: XNYS }
daemon: { catch_up_sessions: 1 }
jobs:
  - { name: transform, schedule: "*/5 * * * *", timezone: America/New_York, catch_up: true, retry: { max_attempts: 1, backoff_ms: 1000 } }
  - { name: compact, after: [transform] }
http: { host: 127.0.0.1, port: 0 }
logging: { level: info, format: json }
`;
}

interface Running {
  child: ChildProcess;
  lines: Record<string, unknown>[];
  url: Promise<string>;
}

function startDaemon(): Running {
  const child = spawnTs('src/cli/main.ts', ['daemon', '--config', join(dir, 'config.yaml'), '--clock', `${new Date(T0).toISOString()},${SPEED},${realStart}`]);
  const lines: Record<string, unknown>[] = [];
  let buf = '';
  let resolveUrl: (u: string) => void;
  let rejectUrl: (e: Error) => void;
  const url = new Promise<string>((res, rej) => {
    resolveUrl = res;
    rejectUrl = rej;
  });
  child.on('exit', (code) => rejectUrl(new Error(`daemon exited with ${code} before it started`)));
  child.stdout?.on('data', (d: Buffer) => {
    buf += d.toString();
    let i;
    while ((i = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, i);
      buf = buf.slice(i + 1);
      try {
        const obj = JSON.parse(line) as Record<string, unknown>;
        lines.push(obj);
        if (obj['msg'] === 'daemon started' && typeof obj['http'] === 'string') resolveUrl(obj['http']);
      } catch {
        // not a JSON line
      }
    }
  });
  child.stderr?.on('data', (d: Buffer) => process.stderr.write(d));
  return { child, lines, url };
}

/** Polls a condition; the bound only turns a hang into a readable failure (the daemons run on a scaled clock in other processes). */
async function waitFor(cond: () => Promise<boolean>, what: string, timeoutMs = 180_000, pollMs = 250): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    if (await cond().catch(() => false)) return;
    await new Promise((r) => setTimeout(r, pollMs));
  }
  throw new Error(`timed out waiting for ${what}`);
}

interface JobRun {
  job: string;
  status: string;
  trigger: string;
  run_id: string;
}

/** The job ledger: every line so far (a line being written right now is skipped), and each run's latest state. */
function readRuns(file: string): { lines: JobRun[]; final: JobRun[] } {
  const lines: JobRun[] = [];
  for (const l of existsSync(file) ? readFileSync(file, 'utf8').split('\n') : []) {
    if (l.trim() === '') continue;
    try {
      lines.push(JSON.parse(l) as JobRun);
    } catch {
      // the line being appended
    }
  }
  return { lines, final: [...new Map(lines.map((r) => [r.run_id, r])).values()] };
}
const okRuns = (file: string, job: string): number => readRuns(file).final.filter((r) => r.job === job && r.status === 'ok').length;

/** Real ms until the virtual clock reads `instant`. */
function realDelayUntil(instant: number): number {
  return Math.max(0, (instant - clock.now()) / SPEED);
}
const sleepUntil = (instant: number): Promise<void> => new Promise((r) => setTimeout(r, realDelayUntil(instant)));

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'ibpipe-daemon-'));
  realStart = Date.now();
  clock = new ScaledClock(T0, SPEED, realStart);
  sim = await startSimGateway({ port: 0, clock, pacingTimeScale: 0.01 });
  writeFileSync(join(dir, 'config.yaml'), config(10_000));
});
afterAll(async () => {
  await sim.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('daemon end to end against the sim (real child processes, real sockets)', () => {
  it('streams live bars, survives SIGKILL with catch-up, runs scheduled jobs, serves health and metrics, stops on SIGTERM', async () => {
    // 1. First daemon: catch-up of the open session since 09:30, then live.
    const first = startDaemon();
    const url = await first.url;
    await sleepUntil(T0 + 12 * MIN);
    // Healthy once live bars are stored and no live gap is open (a busy machine may open and repair
    // some): the assertions below are on the response that met the condition.
    type Health = { connected: boolean; last_bar_age_s: Record<string, number | null>; last_live_bar: Record<string, string | null>; live_gaps: Record<string, unknown> };
    let h: Health | undefined;
    let lastHealth = '';
    await waitFor(async () => {
      const res = await fetch(`${url}/healthz`);
      const body = (await res.json()) as Health;
      lastHealth = JSON.stringify(body);
      const ages = body.last_bar_age_s;
      const live = body.last_live_bar;
      if (res.status === 200 && ages['AAPL'] != null && ages['MSFT'] != null && live['AAPL'] != null && live['MSFT'] != null && Object.keys(body.live_gaps).length === 0) h = body;
      return h !== undefined;
    }, 'live bars and no open gap in the first daemon').catch((err: unknown) => {
      console.error(lastHealth);
      for (const l of first.lines) if ((l['level'] as number) >= 40) console.error(JSON.stringify(l).slice(0, 400));
      throw err;
    });
    expect(h?.connected).toBe(true);
    expect(h?.live_gaps).toEqual({});
    expect(Object.keys(h?.last_bar_age_s ?? {}).sort()).toEqual(['AAPL', 'MSFT']);
    const metrics = await (await fetch(`${url}/metrics`)).text();
    for (const m of ['ibpipe_bars_ingested_total', 'ibpipe_batches_written_total', 'ibpipe_pacing_waits_total', 'ibpipe_job_duration_seconds', 'ibpipe_job_runs_total', 'ibpipe_event_loop_lag_p99_seconds', 'ibpipe_tws_connected 1']) {
      expect(metrics).toContain(m);
    }
    // The gauge exists per instrument (its value may have moved since the health check above).
    expect(metrics).toMatch(/^ibpipe_live_open_gaps\{symbol="AAPL"\} \d+$/m);
    expect(metrics).toMatch(/^ibpipe_live_open_gaps\{symbol="MSFT"\} \d+$/m);

    // 2. Crash: once a scheduled transform has completed, SIGKILL the daemon the moment the job
    // ledger shows a run in progress (the run may still finish in the instant before the kill:
    // both cases are checked at the end).
    const ledgerFile = join(dir, 'lake', 'state', 'job_runs.jsonl');
    await waitFor(async () => okRuns(ledgerFile, 'transform') >= 1, 'a scheduled transform in the first daemon');
    await waitFor(async () => readRuns(ledgerFile).lines.at(-1)?.status === 'running', 'a job running in the first daemon', 180_000, 2);
    first.child.kill('SIGKILL');
    await waitForExit(first.child);
    const killedAt = clock.now();

    // 3. Down for ~10 simulated minutes, then restart: catch-up must fill the hole.
    await sleepUntil(killedAt + 10 * MIN);
    const restartedAt = clock.now();
    // The second daemon flushes live bars only at shutdown (the interval, 24 h on the 120x clock, is
    // longer than the test): the graceful stop's flush is what stores them. (Its /healthz then shows
    // stale stored bars; only its live streams are looked at.)
    writeFileSync(join(dir, 'config.yaml'), config(86_400_000));
    const second = startDaemon();
    const url2 = await second.url;
    // Under load the restart and its catch-up take a while. Wait, each on what the daemon shows
    // (not on time), until: both instruments' catch-up is done, the scheduler has run transforms
    // and a compaction, and the live streams have final bars two minutes past the restart.
    const caughtUp = (): boolean => ['AAPL', 'MSFT'].every((s) => second.lines.some((l) => l['msg'] === 'catch-up of completed sessions' && l['instrument'] === s));
    let liveBefore: Record<string, string | null> = {};
    await waitFor(async () => {
      if (!caughtUp() || okRuns(ledgerFile, 'transform') < 3 || okRuns(ledgerFile, 'compact') < 1) return false;
      const body = (await (await fetch(`${url2}/healthz`)).json()) as Health;
      lastHealth = JSON.stringify(body);
      liveBefore = body.last_live_bar;
      return Object.keys(body.live_gaps).length === 0 && ['AAPL', 'MSFT'].every((s) => Date.parse(liveBefore[s] ?? '') >= restartedAt + 2 * MIN);
    }, 'catch-up, jobs and live bars in the second daemon', 180_000, 500).catch((err: unknown) => {
      console.error(lastHealth);
      for (const l of [...first.lines, ...second.lines]) if ((l['level'] as number) >= 40 || String(l['msg']).startsWith('catch-up')) console.error(JSON.stringify(l).slice(0, 400));
      throw err;
    });

    // 4. SIGTERM: graceful, exit 0, buffered bars flushed.
    second.child.kill('SIGTERM');
    const code = await waitForExit(second.child);
    expect(code).toBe(0);
    expect(second.lines.some((l) => l['msg'] === 'stopped')).toBe(true);
    // The live stream's last final bar per instrument when it stopped: every one of them must be
    // stored (the bars still buffered were flushed at shutdown).
    const stoppedLine = second.lines.find((l) => l['event'] === 'live_stopped') as { last_final?: Record<string, string | null>; flush_failures?: number } | undefined;
    expect(stoppedLine?.flush_failures).toBe(0);
    // No timed flush ran (the interval is longer than the test): the stop's flush stored the live bars.
    const shutdownIdx = second.lines.findIndex((l) => l['msg'] === 'shutdown requested');
    expect(shutdownIdx).toBeGreaterThan(0);
    expect(second.lines.slice(0, shutdownIdx).some((l) => l['event'] === 'live_flush')).toBe(false);
    expect(second.lines.slice(shutdownIdx).filter((l) => l['event'] === 'live_flush').length).toBe(1);

    const t = await openTempLake(join(dir, 'lake'));
    try {
      const rows = await t.raw.readTwsBars({ start: '2024-12-04', end: '2024-12-04', dedup: true });
      for (const symbol of ['AAPL', 'MSFT']) {
        const ts = rows.filter((r) => r.symbol === symbol).map((r) => r.ts);
        // Every minute from the open, once, with no hole across the crash. A busy machine can stall
        // the daemon long enough for a gap to open just before the stop: a hole is allowed only where
        // the stop reported a gap left unrepaired (the next start's catch-up fetches it), never silently.
        const unrepaired = second.lines
          .filter((l) => l['msg'] === 'live stream closed with gaps unrepaired' && l['symbol'] === symbol)
          .flatMap((l) => l['gaps'] as { from: string; to: string | null }[])
          .map((g) => ({ from: Date.parse(g.from), to: g.to === null ? Infinity : Date.parse(g.to) }));
        const lastTs = ts[ts.length - 1] as number;
        const expected = Array.from({ length: (lastTs - OPEN) / MIN + 1 }, (_, i) => OPEN + i * MIN).filter((t) => ts.includes(t) || !unrepaired.some((g) => g.from <= t && t < g.to));
        try {
          expect(ts, `${symbol}: stored minutes`).toEqual(expected);
        } catch (err) {
          // Where the hole is against the crash, the restart's catch-up boundary and the live gaps.
          const missing = expected.filter((m) => !ts.includes(m)).map((m) => new Date(m).toISOString());
          console.error(`${symbol} misses ${JSON.stringify(missing)}; killed at ${new Date(killedAt).toISOString()}, restarted at ${new Date(restartedAt).toISOString()}`);
          for (const [n, run] of [first, second].entries()) {
            for (const l of run.lines) {
              const about = l['symbol'] === symbol || l['instrument'] === symbol || (l['live'] as { symbol?: string } | undefined)?.symbol === symbol;
              if ((l['level'] as number) >= 40 || (about && /catch-up|gap|live stream|subscribed/.test(String(l['msg'])))) console.error(`daemon ${n + 1}: ${JSON.stringify(l).slice(0, 400)}`);
            }
          }
          throw err;
        }
        // the last bar stored is the live stream's last final bar at shutdown: none lost in the buffer
        const lastFinal = stoppedLine?.last_final?.[symbol];
        expect(lastFinal, `${symbol} live stream's last final bar`).toBeTruthy();
        expect(new Date(lastTs).toISOString()).toBe(lastFinal);
        // and at least every bar the daemon showed as received live before the stop
        expect(lastTs).toBeGreaterThanOrEqual(Date.parse(liveBefore[symbol] ?? ''));
        expect(lastTs).toBeGreaterThanOrEqual(restartedAt + 2 * MIN);
      }
      // the stored bars are the sim's bars (compare with a direct historical request's closes via the raw rows' batches)
      const sources = new Set(rows.map((r) => r.batch_id.split('-')[0]));
      expect(sources.has('live')).toBe(true);
      expect(sources.has('catchup') || sources.has('bf')).toBe(true);

      const { final } = readRuns(ledgerFile);
      expect(final.filter((r) => r.job === 'transform' && r.status === 'ok').length).toBeGreaterThanOrEqual(3);
      expect(final.filter((r) => r.job === 'compact' && r.status === 'ok').length).toBeGreaterThanOrEqual(1);
      expect(final.some((r) => r.status === 'running')).toBe(false);
      const abandoned = final.filter((r) => r.status === 'abandoned');
      if (abandoned.length > 0) expect(final.some((r) => r.trigger === 'recovery' && r.status === 'ok')).toBe(true);
      // the curated partition of the day exists after the scheduled transforms
      expect(t.curated.hasPartition('bars_1min', '2024-12-04')).toBe(true);
    } finally {
      await t.lake.close();
    }
  }, 480_000);
});
