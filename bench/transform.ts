// Benchmark: the transform (raw → curated: dedup, validity and DQ rules, quarantine, gap fill on
// the calendar grid, curated write), set-based in DuckDB (src/pipelines/transform-sql.ts), at
// 500 and 5,000 symbols x 1 session and over a range of 100 symbols x 250 sessions, each against
// one DuckDB statement doing the dedup + validity + grid + forward fill + write from the same
// raw files (for the range, that statement per pass of whole sessions, as the transform runs),
// measured in the same process and run: a warm-up of each side, then repetitions alternating
// which side runs first; the peak RSS is sampled over transform runs only (see measure()).
// Run: npx tsx bench/transform.ts [--size quick|full]
//
// Each case writes its raw lake here, then measures in a child process of its own (`--measure`),
// so the peak RSS is the transform's, not the data generator's. Profiling a kept lake:
//   npx tsx bench/transform.ts --measure NAME --dir LAKE --symbols N --sessions N --reps N --profile
// prints each statement's wall and CPU time; `--explain` instead runs each statement under
// EXPLAIN ANALYZE and prints its plan with operator timings (JSON, one line per statement).
import { spawn } from 'node:child_process';
import { mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ManualClock } from '../src/core/clock.js';
import { sqlKeyList, sqlString } from '../src/core/sql.js';
import { dqRulesConfigSchema, gapsConfigSchema } from '../src/data-quality/dq-config.js';
import { silentLogger } from '../src/ops/logging-setup.js';
import type { DqResultRecord } from '../src/pipelines/transform-pipeline.js';
import { DEFAULT_MAX_GRID_ROWS, runTransformSql, TransformRange, type SqlTransformDeps } from '../src/pipelines/transform-sql.js';
import { CuratedStore } from '../src/storage/curated-store.js';
import { Lake } from '../src/storage/lake.js';
import { QuarantineStore } from '../src/storage/quarantine-store.js';
import { RawStore } from '../src/storage/raw-store.js';
import { JsonlLedger } from '../src/storage/state-store.js';
import { benchMain, median, progress, RESULT_MARKER, round, RssSampler, type BenchResult, type BenchSize } from './support/bench-harness.js';
import type { Session } from '../src/calendar/trading-calendar.js';
import { benchCalendars, benchSessions, benchSymbols, FIRST_SESSION, MINUTE, sessionBars } from './support/synthetic-market.js';
import { openBenchLake } from './support/temp-lake.js';

const MISSING_RATE = 0.01;
const BAD_RATE = 0.001;
/** Symbols per raw batch while generating (bounds the generator's memory). */
const WRITE_CHUNK = 100;

/** The DQ rules of config/demo.yaml (what a user starts from). */
const DQ_RULES = {
  tws_bars: [
    { type: 'ohlc_consistency', severity: 'error', action: 'quarantine' },
    { type: 'range', field: 'close', min: 0.0001, max: 1_000_000, severity: 'error', action: 'quarantine' },
    { type: 'outlier', field: 'close', window: 60, threshold: 10, severity: 'warn', action: 'log' },
    { type: 'bar_count', tolerance: { fraction: 0.02 }, severity: 'warn', action: 'log' },
    { type: 'staleness', max_age: '15min', severity: 'warn', action: 'log' },
  ],
};
const GAPS = { frequency: '1min', imputation: { close: 'ffill', volume: 'zero' }, max_gap_bars: 30 };

interface Case {
  name: string;
  symbols: number;
  sessions: number;
  reps: number;
  /** Untimed runs of the transform and of the bound before the timed ones (both warmed alike). */
  warmup: number;
  /** First session; a year-long range starts in January (and meets the early closes). */
  first: string;
}

/** A universe, ten times that universe, and a range of sessions (the issue's sizes at --size full). */
function cases(size: BenchSize): Case[] {
  const [small, big, rangeSymbols, rangeSessions] = size === 'full' ? [500, 5000, 100, 250] : [100, 1000, 20, 20];
  return [
    // A sub-second run is at the mercy of the load: more repetitions, and a warm-up of each side.
    { name: `transform/${small}-symbols`, symbols: small, sessions: 1, reps: 5, warmup: 1, first: FIRST_SESSION },
    { name: `transform/${big}-symbols`, symbols: big, sessions: 1, reps: 3, warmup: 1, first: FIRST_SESSION },
    // Half a minute per side: a cold start is a small part of it, and a warm-up would double the case.
    { name: `transform/range-${rangeSymbols}x${rangeSessions}`, symbols: rangeSymbols, sessions: rangeSessions, reps: 1, warmup: 0, first: '2024-01-02' },
  ];
}

/** Writes the case's raw bars (one file per session, as after compaction). */
async function writeRaw(lake: Lake, c: Case): Promise<void> {
  const symbols = benchSymbols(c.symbols);
  const raw = new RawStore(lake, benchCalendars(symbols));
  for (const session of benchSessions(c.sessions, c.first)) {
    for (let from = 0; from < symbols.length; from += WRITE_CHUNK) {
      const events = symbols.slice(from, from + WRITE_CHUNK).flatMap((s, j) => sessionBars(s, from + j, session, { missingRate: MISSING_RATE, badRate: BAD_RATE }));
      await raw.writeTwsBars(events, `bench-${session.date}-${from}`, session.close + 10 * MINUTE);
    }
    if (symbols.length > WRITE_CHUNK) await raw.compactRaw(session.date);
  }
}

/** One statement from the same raw files: dedup, validity/OHLC filter, grid join, forward fill, sorted Parquet write per date. */
function boundSql(rawFiles: readonly string[], symbols: readonly string[], sessionList: readonly Session[], out: string): string {
  const sessions = sessionList.map((s) => `(${sqlString(s.date)}, ${s.open}, ${s.close})`).join(', ');
  return `COPY (
      WITH latest AS (
        SELECT * FROM read_parquet([${rawFiles.map(sqlString).join(', ')}], hive_partitioning = true)
        QUALIFY row_number() OVER (PARTITION BY symbol, ts ORDER BY ingestion_ts DESC, batch_id DESC) = 1
      ), valid AS (
        SELECT CAST(date AS VARCHAR) AS date, symbol, ts, open, high, low, close, volume,
               CASE WHEN wap > 0 THEN wap END AS wap, CASE WHEN trade_count >= 0 THEN trade_count END AS trade_count
        FROM latest
        WHERE isfinite(open) AND isfinite(high) AND isfinite(low) AND isfinite(close) AND open > 0 AND high > 0 AND low > 0 AND close > 0
          AND volume >= 0 AND high >= greatest(open, close, low) AND low <= least(open, close) AND close BETWEEN 0.0001 AND 1000000
      ), sessions(date, open_ms, close_ms) AS (VALUES ${sessions}),
      grid AS (
        SELECT y.symbol, s.date, CAST(epoch_ms(unnest(range(s.open_ms, s.close_ms, ${MINUTE}))) AS TIMESTAMPTZ) AS ts
        FROM (SELECT unnest([${sqlKeyList(symbols)}]) AS symbol) y, sessions s
      ), joined AS (
        SELECT grid.date, grid.symbol, grid.ts, v.open, v.high, v.low, v.close, v.volume, v.wap, v.trade_count, v.close IS NULL AS is_imputed
        FROM grid LEFT JOIN valid v ON v.symbol = grid.symbol AND v.ts = grid.ts
      )
      SELECT date, symbol, ts,
             coalesce(open, last_value(close IGNORE NULLS) OVER w) AS open,
             coalesce(high, last_value(close IGNORE NULLS) OVER w) AS high,
             coalesce(low, last_value(close IGNORE NULLS) OVER w) AS low,
             coalesce(close, last_value(close IGNORE NULLS) OVER w) AS close,
             CASE WHEN is_imputed THEN 0 ELSE volume END AS volume,
             coalesce(wap, last_value(wap IGNORE NULLS) OVER w) AS wap,
             CASE WHEN is_imputed THEN 0 ELSE trade_count END AS trade_count,
             is_imputed, CASE WHEN is_imputed THEN 'ffill+zero' END AS imputation,
             is_imputed AS open_imputed, is_imputed AS high_imputed, is_imputed AS low_imputed, is_imputed AS close_imputed,
             is_imputed AS volume_imputed, is_imputed AS wap_imputed, is_imputed AS trade_count_imputed
      FROM joined
      WINDOW w AS (PARTITION BY symbol, date ORDER BY ts ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW)
      ORDER BY date, symbol, ts
    ) TO ${sqlString(out)} (FORMAT parquet, COMPRESSION zstd, PARTITION_BY (date), OVERWRITE_OR_IGNORE)`;
}

/** Child process: measures the transform and the bound on a lake the parent wrote. */
async function measure(c: Case, dir: string, profile: 'off' | 'statements' | 'explain'): Promise<BenchResult> {
  const lake = await Lake.open({ root: dir });
  try {
    const symbols = benchSymbols(c.symbols);
    const calendars = benchCalendars(symbols);
    const sessions = benchSessions(c.sessions, c.first);
    const dates = sessions.map((s) => s.date);
    const raw = new RawStore(lake, calendars);
    if (profile !== 'off') {
      const run = lake.run.bind(lake);
      lake.run = async (sql: string): Promise<number> => {
        const t0 = performance.now();
        const c0 = process.cpuUsage();
        let changed: number;
        if (profile === 'explain' && /^\s*(CREATE TEMP TABLE|COPY|INSERT)/.test(sql)) {
          // The statement runs once, under EXPLAIN ANALYZE: its operators' timings as one JSON line.
          const plan = await lake.query<{ explain_value: string }>(`EXPLAIN (ANALYZE, FORMAT json) ${sql}`);
          progress(`plan ${plan.map((p) => p.explain_value).join('').replace(/\s*\n\s*/g, ' ')}`);
          changed = 0;
        } else changed = await run(sql);
        const ms = performance.now() - t0;
        const cpu = process.cpuUsage(c0);
        if (ms > 2) progress(`${ms.toFixed(0).padStart(6)} ms ${((cpu.user + cpu.system) / 1000).toFixed(0).padStart(6)} cpu  ${sql.replace(/\s+/g, ' ').slice(0, 80)}`);
        return changed;
      };
      // The small reads too: their round trips are part of the run's fixed cost.
      const query = lake.query.bind(lake);
      lake.query = async <T extends Record<string, unknown>>(sql: string): Promise<T[]> => {
        const t0 = performance.now();
        const c0 = process.cpuUsage();
        const out = await query<T>(sql);
        const cpu = process.cpuUsage(c0);
        if (!sql.startsWith('EXPLAIN')) progress(`${(performance.now() - t0).toFixed(0).padStart(6)} ms ${((cpu.user + cpu.system) / 1000).toFixed(0).padStart(6)} cpu  (read) ${sql.replace(/\s+/g, ' ').slice(0, 73)}`);
        return out;
      };
    }
    const deps: SqlTransformDeps = {
      lake,
      rawStore: raw,
      curatedStore: new CuratedStore(lake),
      quarantineStore: new QuarantineStore(lake),
      dqLedger: new JsonlLedger<DqResultRecord>(lake.path('state', 'dq_results.jsonl')),
      calendars,
      clock: new ManualClock((sessions.at(-1)?.close ?? 0) + 60 * MINUTE),
      logger: silentLogger(),
      dqRules: dqRulesConfigSchema.parse(DQ_RULES),
      gaps: gapsConfigSchema.parse(GAPS),
      barSize: '1 min',
    };
    const gridRows = c.symbols * sessions.reduce((n, s) => n + (s.close - s.open) / MINUTE, 0);
    let curated = 0;
    let quarantined = 0;
    let imputed = 0;
    /** The curated files the last run wrote. */
    let curatedFiles: string[] = [];
    /** One run of the transform over the case's dates; its wall seconds. */
    // Process CPU time of each timed run too (DuckDB's threads included): on a loaded machine it
    // says more about the work than the wall time does.
    const cpu: { transform: number[]; bound: number[] } = { transform: [], bound: [] };
    const cpuSince = (c0: NodeJS.CpuUsage): number => {
      const c = process.cpuUsage(c0);
      return (c.user + c.system) / 1e6;
    };
    let lastCpu = 0;
    const transform = async (rss: RssSampler | null): Promise<number> => {
      // Each run starts from empty curated and quarantine partitions, like the first run of the day.
      rmSync(lake.path('curated'), { recursive: true, force: true });
      rmSync(lake.path('quarantine'), { recursive: true, force: true });
      const c0 = process.cpuUsage();
      const t0 = performance.now();
      curated = 0;
      quarantined = 0;
      imputed = 0;
      curatedFiles = [];
      if (dates.length === 1) {
        const s = await runTransformSql(dates[0] as string, undefined, deps);
        curated += s.counts.curated_rows;
        quarantined += s.counts.quarantined;
        imputed += s.counts.imputed;
        if (s.curatedFile) curatedFiles.push(s.curatedFile);
      } else {
        const range = new TransformRange(dates, undefined, deps);
        try {
          for (const d of dates) {
            const s = await range.run(d);
            curated += s.counts.curated_rows;
            quarantined += s.counts.quarantined;
            imputed += s.counts.imputed;
        if (s.curatedFile) curatedFiles.push(s.curatedFile);
            rss?.sample();
          }
        } finally {
          await range.close();
        }
      }
      const seconds = (performance.now() - t0) / 1000;
      lastCpu = cpuSince(c0);
      if (curated !== gridRows) throw new Error(`transform wrote ${curated} rows, expected the grid's ${gridRows}`);
      return seconds;
    };

    // The bound's statement runs over passes of whole sessions of at most DEFAULT_MAX_GRID_ROWS
    // grid rows, as the transform does: one statement over a 250-session range (9.7 M grid rows)
    // outgrows the lake's memory_limit and spills (141 s against 70 s for the transform at load
    // 11), which would make it no bound at all. A single session is one statement whatever its size.
    const files = raw.visibleFiles('1 min', dates);
    const out = join(dir, 'bound');
    const statements: string[] = [];
    for (let from = 0; from < sessions.length; ) {
      const chunk: Session[] = [];
      let grid = 0;
      for (const s of sessions.slice(from)) {
        const n = c.symbols * ((s.close - s.open) / MINUTE);
        if (chunk.length > 0 && grid + n > DEFAULT_MAX_GRID_ROWS) break;
        chunk.push(s);
        grid += n;
      }
      statements.push(boundSql(chunk.flatMap((s) => files.get(s.date) ?? []), symbols, chunk, out));
      from += chunk.length;
    }
    const bound = async (): Promise<number> => {
      rmSync(out, { recursive: true, force: true });
      mkdirSync(out, { recursive: true });
      const c0 = process.cpuUsage();
      const t0 = performance.now();
      for (const sql of statements) await lake.run(sql);
      const seconds = (performance.now() - t0) / 1000;
      lastCpu = cpuSince(c0);
      return seconds;
    };

    // The peak RSS is the transform's alone: sampled only over the transform's runs made before
    // the bound's first statement (the cold one included), so no memory the bound's run left in
    // the allocator counts. Then the bound's warm-up, and the timed repetitions alternate which
    // side goes first, so both meet the same caches and a change in the machine's load hits both.
    const rss = new RssSampler().start();
    let transformFirst = true;
    for (let w = 0; w < c.warmup; w++) progress(`${c.name} transform warm-up ${w + 1}: ${(await transform(rss)).toFixed(2)} s`);
    const times: number[] = [];
    const bounds: number[] = [];
    let peak: number | null = null;
    const timedTransform = async (): Promise<void> => {
      times.push(await transform(peak === null ? rss : null));
      cpu.transform.push(lastCpu);
      progress(`${c.name} rep ${times.length}: ${times.at(-1)?.toFixed(2)} s, ${lastCpu.toFixed(2)} s CPU (curated ${curated}, quarantined ${quarantined}, imputed ${imputed})`);
    };
    const timedBound = async (): Promise<void> => {
      peak ??= rss.stop();
      bounds.push(await bound());
      cpu.bound.push(lastCpu);
      progress(`${c.name} bound rep ${bounds.length}: ${bounds.at(-1)?.toFixed(3)} s, ${lastCpu.toFixed(2)} s CPU (${statements.length} statement(s))`);
    };
    if (c.warmup === 0) {
      // No warm-up: the first transform repetition runs before any bound, for its RSS.
      await timedTransform();
      await timedBound();
      transformFirst = false;
    } else {
      peak = rss.stop();
      for (let w = 0; w < c.warmup; w++) progress(`${c.name} bound warm-up ${w + 1}: ${(await bound()).toFixed(3)} s`);
    }
    while (times.length < c.reps || bounds.length < c.reps) {
      if (transformFirst) {
        await timedTransform();
        await timedBound();
      } else {
        await timedBound();
        await timedTransform();
      }
      transformFirst = !transformFirst;
    }
    const [check] = await lake.query<{ n: number }>(`SELECT count(*) AS n FROM read_parquet(${sqlString(join(out, '**', '*.parquet'))})`);
    if (check?.n !== gridRows) throw new Error(`bound wrote ${check?.n} rows, expected ${gridRows}`);
    // The last run's curated files must be in (symbol, ts) order, as the readers expect: the
    // transform sorts on integer keys and relies on DuckDB keeping that order through the write.
    if (curatedFiles.length !== dates.length) throw new Error(`transform wrote ${curatedFiles.length} curated files for ${dates.length} dates`);
    for (const file of curatedFiles) {
      const [order] = await lake.query<{ bad: number }>(
        `SELECT count(*) FILTER (WHERE ps > symbol OR (ps = symbol AND pts >= ts)) AS bad
         FROM (SELECT symbol, ts, lag(symbol) OVER (ORDER BY file_row_number) AS ps, lag(ts) OVER (ORDER BY file_row_number) AS pts
               FROM read_parquet(${sqlString(file)}, file_row_number = true))`,
      );
      if (order?.bad !== 0) throw new Error(`${file}: ${order?.bad} rows out of (symbol, ts) order`);
    }

    const t = median(times);
    const tb = median(bounds);
    return {
      name: c.name,
      rows: gridRows,
      rows_per_s: round(gridRows / t),
      bound_rows_per_s: round(gridRows / tb),
      ratio: round(tb / t),
      peak_rss_mb: round(peak ?? rss.stop()) ?? 0,
      target: '',
      met: null,
      notes: '',
      reps: c.reps,
      seconds: round(t),
      bound_seconds: round(tb),
      metrics: { symbols: c.symbols, sessions: c.sessions, quarantined, imputed, cpu_seconds: round(median(cpu.transform)), bound_cpu_seconds: round(median(cpu.bound)) },
    };
  } finally {
    await lake.close();
  }
}

function runMeasure(c: Case, dir: string): Promise<BenchResult> {
  const self = fileURLToPath(import.meta.url);
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', self, '--measure', c.name, '--dir', dir, '--symbols', String(c.symbols), '--sessions', String(c.sessions), '--reps', String(c.reps), '--warmup', String(c.warmup), '--first', c.first], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let out = '';
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (d: string) => (out += d));
    child.on('error', reject);
    child.on('close', (code) => {
      const line = out.split('\n').find((l) => l.startsWith(RESULT_MARKER));
      if (code !== 0 || !line) reject(new Error(`${c.name}: measuring process exited with code ${String(code)}`));
      else resolve(JSON.parse(line.slice(RESULT_MARKER.length)) as BenchResult);
    });
  });
}

const argv = process.argv.slice(2);
const arg = (name: string): string | undefined => (argv.includes(name) ? argv[argv.indexOf(name) + 1] : undefined);
const measureName = arg('--measure');
if (measureName !== undefined) {
  const c: Case = {
    name: measureName,
    symbols: Number(arg('--symbols')),
    sessions: Number(arg('--sessions')),
    reps: Number(arg('--reps')),
    warmup: Number(arg('--warmup') ?? 1),
    first: arg('--first') ?? FIRST_SESSION,
  };
  measure(c, arg('--dir') as string, argv.includes('--explain') ? 'explain' : argv.includes('--profile') ? 'statements' : 'off').then(
    (r) => {
      process.stdout.write(`${RESULT_MARKER}${JSON.stringify(r)}\n`);
      process.exit(0);
    },
    (err: unknown) => {
      process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
      process.exit(1);
    },
  );
} else {
  benchMain(async ({ size }) => {
    const results: BenchResult[] = [];
    for (const c of cases(size)) {
      const bl = await openBenchLake();
      try {
        progress(`${c.name}: writing ${c.symbols} symbols x ${c.sessions} session(s) of raw bars (${MISSING_RATE * 100}% missing, ${BAD_RATE * 100}% bad)`);
        await writeRaw(bl.lake, c);
        await bl.lake.close();
        results.push(await runMeasure(c, bl.dir));
      } finally {
        await bl.dispose();
      }
    }
    const [small, big, range] = results as [BenchResult, BenchResult, BenchResult];
    const growth = (big.seconds ?? NaN) / (small.seconds ?? NaN);
    const scale = big.rows / small.rows;
    small.target = '>= 0.67 of bound, peak RSS <= 500 MB';
    small.met = (small.ratio ?? 0) >= 0.67 && small.peak_rss_mb <= 500;
    big.target = `peak RSS <= 1.5 GB, time <= ${(scale * 1.1).toFixed(0)}x the ${String(small.metrics?.symbols)}-symbol run`;
    big.met = big.peak_rss_mb <= 1536 && growth <= scale * 1.1;
    big.metrics = { ...big.metrics, growth_vs_smaller: round(growth) };
    range.target = '— (time, RSS, bound)';
    for (const r of results) {
      r.notes =
        `${r.metrics?.symbols} symbols x ${r.metrics?.sessions} session(s) of 1-min bars, ${MISSING_RATE * 100}% missing, ${BAD_RATE * 100}% bad; rows = curated grid rows; ` +
        `the DQ rules of config/demo.yaml (outlier, bar count, staleness too), quarantine and DQ ledger written; ` +
        `bound: one COPY (dedup + validity/OHLC filter + grid join + ffill, partitioned by date) from the same raw files${r.metrics?.sessions === 1 ? '' : `, one per pass of whole sessions of <= ${DEFAULT_MAX_GRID_ROWS.toLocaleString('en-US')} grid rows as the transform`}`;
    }
    return results;
  });
}
