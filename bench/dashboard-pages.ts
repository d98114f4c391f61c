// Benchmark: dashboard page times on a synthetic lake (full: 500 symbols x 60 XNYS sessions of
// 1-min bars; quick: 100 x 20). Target: every page < 1 s, cold (empty caches, no warm-up) and warm.
// Run: npx tsx bench/dashboard-pages.ts [--size quick|full]
// (BENCH_KEEP_LAKE=1 keeps the lake it builds; BENCH_LAKE=<dir> measures a lake kept earlier, same size.)
//
// The lake is written straight with DuckDB SQL in the production layout (curated, raw compacted
// files with their ledger lines, quarantine, features + registry, predictions, dq_results, job
// runs, backfill ledger), with gaps of 1..45 bars in ~3 % of (symbol, session) cells.
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, rmSync, utimesSync, writeFileSync, appendFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { getCalendar } from '../src/calendar/calendar-registry.js';
import type { Session } from '../src/calendar/trading-calendar.js';
import { parseSettings } from '../src/config/settings.js';
import { ManualClock } from '../src/core/clock.js';
import { createAppContext } from '../src/ops/app-context.js';
import { dashboardRouteTable } from '../src/ops/dashboard/dashboard-routes.js';
import { HttpServer } from '../src/ops/http-server.js';
import { silentLogger } from '../src/ops/logging-setup.js';
import { Lake } from '../src/storage/lake.js';
import { benchMain, median, progress, RssSampler, type BenchResult } from './support/bench-harness.js';

const MIN = 60_000;
const TARGET_MS = 1000;
const WARM_REPS = 5;

function symbolsOf(n: number): string[] {
  return Array.from({ length: n }, (_, i) => `D${String(i).padStart(3, '0')}`);
}

/** ~3 % of cells have one gap: a run of 1..45 bars. Deterministic in (symbol index, session index). */
function gapOf(s: number, d: number, bars: number): { from: number; len: number } | null {
  if ((s * 7 + d * 13) % 29 !== 0) return null;
  return { from: (s * 11 + d * 3) % (bars - 50), len: 1 + ((s + d) % 45) };
}

async function buildLake(root: string, symbols: readonly string[], sessions: readonly Session[]): Promise<void> {
  const lake = await Lake.open({ root });
  try {
    const n = symbols.length;
    const state = (f: string): string => join(root, 'state', f);
    const appendLines = (f: string, recs: readonly unknown[]): void => appendFileSync(state(f), recs.map((r) => JSON.stringify(r)).join('\n') + '\n');
    // Gap table: (s, d, from, len) for every gapped cell, joined in SQL.
    const gaps: string[] = [];
    sessions.forEach((sess, d) => {
      const bars = (sess.close - sess.open) / MIN;
      for (let s = 0; s < n; s++) {
        const g = gapOf(s, d, bars);
        if (g) gaps.push(`(${s}, ${d}, ${g.from}, ${g.len})`);
      }
    });
    await lake.run(`CREATE TEMP TABLE gaps (s INTEGER, d INTEGER, g_from INTEGER, g_len INTEGER)`);
    if (gaps.length) await lake.run(`INSERT INTO gaps VALUES ${gaps.join(', ')}`);
    writeFileSync(
      state('feature_registry.jsonl'),
      JSON.stringify({ group: 'technical', version: 'v1', definition_hash: 'ab'.repeat(32), definition: null, columns: ['sma_20', 'rsi_14'], mask_columns: [], registered_at: '2024-01-01T00:00:00.000Z' }) + '\n',
    );
    const t0 = performance.now();
    for (let d = 0; d < sessions.length; d++) {
      const sess = sessions[d] as Session;
      const bars = (sess.close - sess.open) / MIN;
      const grid = `(SELECT r.s AS s, b, 'D' || lpad(CAST(r.s AS VARCHAR), 3, '0') AS symbol, to_timestamp((${sess.open} + b * ${MIN}) / 1000.0) AS ts,
                            100 + r.s + 2 * sin((b + ${d} * 7) / 25.0) AS px,
                            coalesce(b >= g.g_from AND b < g.g_from + g.g_len, false) AS imp
                       FROM range(${n}) r(s) CROSS JOIN range(${bars}) bb(b) LEFT JOIN gaps g ON g.s = r.s AND g.d = ${d})`;
      const curated = lake.path('curated', 'bars_1min', `date=${sess.date}`, 'data.parquet');
      await lake.writeParquetAtomic(
        curated,
        `SELECT symbol, ts, px AS open, px + 0.1 AS high, px - 0.1 AS low, px AS close, CASE WHEN imp THEN 0 ELSE 1000.0 END AS volume, px AS wap,
                CAST(CASE WHEN imp THEN 0 ELSE 10 END AS BIGINT) AS trade_count, imp AS is_imputed, CASE WHEN imp THEN 'ffill+zero' END AS imputation,
                imp AS open_imputed, imp AS high_imputed, imp AS low_imputed, imp AS close_imputed, imp AS volume_imputed, imp AS wap_imputed, imp AS trade_count_imputed
           FROM ${grid} ORDER BY symbol, ts`,
      );
      const rawName = `compacted-${createHash('sha256').update(sess.date).digest('hex').slice(0, 16)}.parquet`;
      const rawFile = lake.path('raw', 'tws_bars', 'bar_size=1min', `date=${sess.date}`, rawName);
      await lake.writeParquetAtomic(
        rawFile,
        `SELECT 'tws' AS source, symbol, CAST(1000 + s AS BIGINT) AS con_id, 'TRADES' AS what_to_show, ts, px AS open, px + 0.1 AS high, px - 0.1 AS low, px AS close,
                1000.0 AS volume, px AS wap, CAST(10 AS BIGINT) AS trade_count, 'bf-${d}' AS batch_id, to_timestamp(${sess.close} / 1000.0) AS ingestion_ts, NULL::VARCHAR AS request_id
           FROM ${grid} WHERE NOT imp ORDER BY symbol, ts`,
      );
      appendLines('raw_batches.jsonl', [{ type: 'compaction', bar_size: '1min', date: sess.date, path: relative(root, rawFile), rows: 0, replaces: [] }]);
      await lake.writeParquetAtomic(
        lake.path('features', 'technical', 'v=v1', `date=${sess.date}`, 'data.parquet'),
        `SELECT symbol, ts, ts + INTERVAL 1 MINUTE AS available_ts, 'technical' AS feature_group, 'v1' AS version, '${'ab'.repeat(32)}' AS definition_hash, imp AS is_imputed,
                CASE WHEN imp THEN 'ffill+zero' END AS imputation, px - 0.05 AS sma_20, 50 + 20 * sin(b / 30.0) AS rsi_14
           FROM ${grid} ORDER BY symbol, ts`,
        { rowGroupSize: 8192 },
      );
      if (d % 5 === 0) {
        await lake.writeParquetAtomic(
          lake.path('quarantine', 'tws_bars', `date=${sess.date}`, 'data.parquet'),
          `SELECT 'tws' AS source, symbol, CAST(1000 + s AS BIGINT) AS con_id, 'TRADES' AS what_to_show, ts, px AS open, px - 1 AS high, px AS low, px AS close, 1000.0 AS volume,
                  px AS wap, CAST(10 AS BIGINT) AS trade_count, 'bf-${d}' AS batch_id, to_timestamp(${sess.close} / 1000.0) AS ingestion_ts, NULL::VARCHAR AS request_id,
                  'dq' AS stage, 'ohlc_consistency' AS rule, 'high ' || (px - 1) || ' < low ' || px AS reason, NULL::VARCHAR AS other_rules
             FROM ${grid} WHERE s % 17 = ${d % 17} AND b = 100 ORDER BY symbol, ts`,
        );
      }
      if (d >= sessions.length - 5) {
        await lake.writeParquetAtomic(
          lake.path('predictions', 'baseline', `date=${sess.date}`, 'data.parquet'),
          `SELECT symbol, ts AS scoring_ts, ts AS feature_available_ts, sin(b / 10.0 + s) / 100 AS score, 'baseline' AS model, '1' AS model_version, 'run-${d}' AS run_id
             FROM ${grid} WHERE b % 5 = 4 ORDER BY symbol, scoring_ts`,
        );
      }

      // State ledgers as the transform, the job table and the backfill write them.
      const cells = Array.from({ length: n }, (_, s) => ({ s, g: gapOf(s, d, bars) }));
      const missing = cells.reduce((a, c) => a + (c.g?.len ?? 0), 0);
      const failures = cells
        .filter((c) => c.g && c.g.len > bars * 0.02)
        .map((c) => ({ rule: 'bar_count', severity: 'warn', action: 'log', symbol: symbols[c.s], reason: `${sess.date}: ${bars - (c.g?.len ?? 0)} of ${bars} expected bars` }));
      const runAt = sess.close + 10 * MIN;
      appendLines('dq_results.jsonl', [
        {
          run_at: runAt,
          dataset: 'tws_bars',
          target: 'bars_1min',
          date: sess.date,
          symbols,
          as_of: runAt,
          rows: n * bars - missing,
          severity: failures.length ? 'warn' : 'ok',
          published: true,
          failing_rules: [],
          rules: [
            { name: 'ohlc_consistency', type: 'ohlc_consistency', severity: 'error', action: 'quarantine', failures: d % 5 === 0 ? Math.ceil(n / 17) : 0 },
            { name: 'bar_count', type: 'bar_count', severity: 'warn', action: 'log', failures: failures.length },
          ],
          null_rates: {},
          quarantined: d % 5 === 0 ? Math.ceil(n / 17) : 0,
          outliers: 0,
          gaps: { expected: n * bars, observed: n * bars - missing, imputed: missing, unfilled: 0, overLimitGaps: 0 },
          sessions: cells.map((c) => ({ symbol: symbols[c.s], date: sess.date, expected: bars, observed: bars - (c.g?.len ?? 0), imputed: c.g?.len ?? 0, unfilled: 0, longest_gap: c.g?.len ?? 0, over_limit_gaps: 0 })),
          failures_total: failures.length,
          failures,
        },
      ]);
      const runs = ['transform', 'features', 'compact'].flatMap((job, k) => {
        const started = runAt + k * MIN;
        const base = { run_id: `${job}-${sess.date}`, job, kind: job, params: { date: sess.date }, trigger: 'schedule', attempt: 1, scheduled_for: started, started_at: started, counts: {}, error: null };
        return [
          { ...base, status: 'running', ended_at: null, duration_ms: null },
          { ...base, status: 'ok', ended_at: started + 4_000, duration_ms: 4_000, counts: { rows: n * bars } },
        ];
      });
      appendLines('job_runs.jsonl', runs);
      appendLines(
        'tws_backfill.jsonl',
        symbols.map((sym, s) => ({
          type: 'window', instrument: sym, con_id: 1000 + s, bar_size: '1 min', what_to_show: 'TRADES', use_rth: true, session_date: sess.date,
          window_start: sess.open, window_end: sess.close, end_date_time: '', duration: '1 D', status: 'ok', bars, expected_bars: bars, batch_id: `bf-${d}`, attempts: 1, run_id: 'bench', recorded_at: sess.close + MIN,
        })),
      );
      if (d % 10 === 9) progress(`lake: ${d + 1}/${sessions.length} sessions written (${((performance.now() - t0) / 1000).toFixed(1)} s)`);
    }
  } finally {
    await lake.close();
  }
}

async function timeGet(url: string): Promise<{ ms: number; bytes: number; status: number }> {
  const t = performance.now();
  const res = await fetch(url);
  const body = await res.arrayBuffer();
  return { ms: performance.now() - t, bytes: body.byteLength, status: res.status };
}

/** Navigation to `load` in Chromium (parse, layout, scripts), when Debian's Chromium is installed. */
async function browserLoadMs(urls: readonly string[]): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  if (!existsSync('/usr/bin/chromium')) return out;
  const { chromium } = await import('playwright-core');
  const profile = mkdtempSync(join(tmpdir(), 'ibpipe-chromium-'));
  const ctx = await chromium.launchPersistentContext(profile, {
    executablePath: '/usr/bin/chromium',
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  try {
    const page = await ctx.newPage();
    await page.goto('about:blank');
    for (const u of urls) {
      const times: number[] = [];
      for (let i = 0; i < 3; i++) {
        const t = performance.now();
        await page.goto(u, { waitUntil: 'load' });
        times.push(performance.now() - t);
      }
      out.set(u, median(times));
    }
  } finally {
    await ctx.close();
    rmSync(profile, { recursive: true, force: true });
  }
  return out;
}

benchMain(async ({ size }) => {
  const nSymbols = size === 'full' ? 500 : 100;
  const nSessions = size === 'full' ? 60 : 20;
  const symbols = symbolsOf(nSymbols);
  const sessions = getCalendar('XNYS').sessionsInRange('2024-09-01', '2024-12-31').slice(-nSessions);
  const last = sessions.at(-1) as Session;
  const reuse = process.env.BENCH_LAKE;
  const root = reuse ?? mkdtempSync(join(tmpdir(), 'ibpipe-bench-dash-'));
  if (!reuse) {
    mkdirSync(join(root, 'state'), { recursive: true });
    const t0 = performance.now();
    await buildLake(root, symbols, sessions);
    progress(`lake built: ${nSymbols} symbols x ${nSessions} sessions in ${((performance.now() - t0) / 1000).toFixed(1)} s at ${root}`);
  }

  const settings = parseSettings({
    lake: { root },
    instruments: symbols.map((key) => ({ key, sec_type: 'STK', symbol: key, exchange: 'SMART', currency: 'USD', calendar: 'XNYS' })),
    dq_rules: {},
    jobs: [
      { name: 'transform', schedule: '10 16 * * 1-5' },
      { name: 'features', after: ['transform'] },
      { name: 'compact', after: ['transform'] },
    ],
  });
  const app = await createAppContext(settings, { clock: new ManualClock(last.close + 3_600_000) });
  const server = await HttpServer.listen({ host: '127.0.0.1', port: 0, logger: silentLogger(), routes: {}, prefixRoutes: dashboardRouteTable({ app, warmUp: false }) });
  const results: BenchResult[] = [];
  try {
    const base = `${server.url}/dashboard`;
    const gapCell = (() => {
      for (let d = sessions.length - 1; d >= 0; d--) for (let s = 0; s < nSymbols; s++) if (gapOf(s, d, 390)) return { symbol: symbols[s] as string, date: (sessions[d] as Session).date };
      return { symbol: symbols[0] as string, date: last.date };
    })();
    const pages: [string, string][] = [
      ['coverage (default: 30 sessions, 100 per page)', `${base}`],
      [`coverage (${nSessions} sessions, 100 per page)`, `${base}?days=${nSessions}`],
      [`coverage (${nSessions} sessions x all ${nSymbols} on one page)`, `${base}?days=${nSessions}&per=${nSymbols}`],
      ['gap report', `${base}/gap?symbol=${gapCell.symbol}&date=${gapCell.date}`],
      ['data quality', `${base}/dq?days=${nSessions}`],
      ['dq of one date', `${base}/dq?date=${last.date}`],
      ['quarantine of one date', `${base}/quarantine?date=${(sessions[0] as Session).date}`],
      ['jobs', `${base}/jobs`],
      ['series + feature + predictions', `${base}/series?symbol=${symbols[7]}&date=${last.date}&feature=technical:v1:sma_20`],
      ['live (no daemon)', `${base}/live`],
    ];
    const rss = new RssSampler().start();
    for (const [name, url] of pages) {
      const cold = await timeGet(url);
      if (cold.status !== 200) throw new Error(`${url}: HTTP ${cold.status}`);
      const warm: number[] = [];
      for (let i = 0; i < WARM_REPS; i++) warm.push((await timeGet(url)).ms);
      const worst = Math.max(cold.ms, ...warm);
      results.push({
        name: `dashboard ${name}`,
        rows: nSymbols * nSessions,
        rows_per_s: null,
        bound_rows_per_s: null,
        ratio: null,
        peak_rss_mb: Math.round(rss.stop()),
        target: '< 1 s cold and warm',
        met: worst < TARGET_MS,
        notes: `cold ${cold.ms.toFixed(0)} ms, warm p50 ${median(warm).toFixed(0)} ms, ${(cold.bytes / 1024).toFixed(0)} KiB`,
        seconds: median(warm) / 1000,
        metrics: { cold_ms: Math.round(cold.ms), warm_p50_ms: Math.round(median(warm)), bytes: cold.bytes },
      });
      rss.start();
    }
    // One curated partition replaced (a transform re-ran): only that file is aggregated again.
    const f = join(root, 'curated', 'bars_1min', `date=${last.date}`, 'data.parquet');
    utimesSync(f, new Date(), new Date());
    const after = await timeGet(`${base}?days=${nSessions}`);
    results.push({
      name: 'dashboard coverage after one partition changed',
      rows: nSymbols * nSessions,
      rows_per_s: null,
      bound_rows_per_s: null,
      ratio: null,
      peak_rss_mb: Math.round(rss.stop()),
      target: '< 1 s',
      met: after.ms < TARGET_MS,
      notes: `${after.ms.toFixed(0)} ms`,
      metrics: { ms: Math.round(after.ms) },
    });
    const loads = await browserLoadMs([`${base}?days=${nSessions}`, `${base}?days=${nSessions}&per=${nSymbols}`, `${base}/series?symbol=${symbols[7]}&date=${last.date}&feature=technical:v1:sma_20`]);
    for (const [u, ms] of loads) {
      results.push({
        name: `chromium load ${u.slice(base.length) || '/'}`,
        rows: nSymbols * nSessions,
        rows_per_s: null,
        bound_rows_per_s: null,
        ratio: null,
        peak_rss_mb: 0,
        target: '< 1 s (warm server, median of 3)',
        met: ms < TARGET_MS,
        notes: `${ms.toFixed(0)} ms to load`,
        metrics: { ms: Math.round(ms) },
      });
    }
  } finally {
    await server.close();
    await app.close();
    if (!reuse && process.env.BENCH_KEEP_LAKE !== '1') rmSync(root, { recursive: true, force: true });
  }
  return results;
});
