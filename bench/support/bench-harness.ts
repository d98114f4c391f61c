import { memoryUsage, resourceUsage } from 'node:process';

/**
 * What every benchmark file shares: the command line (`--size quick|full`, `--child`), the
 * result record, medians and percentiles, and a peak-RSS sampler. A benchmark file calls
 * {@link benchMain}; run directly (`npx tsx bench/raw-write.ts --size quick`) it prints its
 * results as a table, under bench/run.ts (`--child`) it prints one marked JSON line each.
 */

export type BenchSize = 'quick' | 'full';

/**
 * One benchmark's figures (the `--json` output, one object per line). `ratio` is always
 * ibpipe / bound in rows/s (1 = as fast as the bound; for the backfill: minimum time / elapsed).
 */
export interface BenchResult {
  name: string;
  /** Rows the measured work handles per repetition. */
  rows: number;
  /** Median over the repetitions. */
  rows_per_s: number | null;
  bound_rows_per_s: number | null;
  ratio: number | null;
  /** Peak resident set of the process while the ibpipe path ran (sampled), MiB. */
  peak_rss_mb: number;
  target: string;
  /** Null when the figure has no target (a breakdown row). */
  met: boolean | null;
  notes: string;
  size?: BenchSize;
  reps?: number;
  /** Median seconds of one ibpipe repetition and of one bound repetition. */
  seconds?: number | null;
  bound_seconds?: number | null;
  /** Further figures (latency percentiles, violation counts, …). */
  metrics?: Record<string, number | string | boolean | null>;
}

export const RESULT_MARKER = '@@bench-result ';

export interface BenchArgs {
  size: BenchSize;
  /** Under bench/run.ts: print marked JSON lines only. */
  child: boolean;
}

export function parseBenchArgs(argv: readonly string[]): BenchArgs {
  let size: BenchSize = 'quick';
  let child = false;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i] as string;
    if (a === '--child') child = true;
    else if (a === '--size' || a.startsWith('--size=')) {
      const v = a.includes('=') ? a.slice('--size='.length) : argv[++i];
      if (v !== 'quick' && v !== 'full') throw new Error(`--size must be quick or full, got ${String(v)}`);
      size = v;
    }
  }
  return { size, child };
}

export function median(xs: readonly number[]): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? (s[m] as number) : ((s[m - 1] as number) + (s[m] as number)) / 2;
}

/** Nearest-rank percentile (p in 0..100). */
export function percentile(xs: readonly number[], p: number): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))] as number;
}

/** Rounds for display and JSON: 3 significant digits, integers above 1000. */
export function round(x: number | null): number | null {
  if (x === null || !Number.isFinite(x)) return null;
  if (Math.abs(x) >= 1000) return Math.round(x);
  return Number(x.toPrecision(3));
}

const MB = 1024 * 1024;

/**
 * Peak RSS of this process over a phase. `process.resourceUsage().maxRSS` is a high-water mark
 * for the whole process life, so each phase samples `memoryUsage.rss()` on a timer and at every
 * explicit `sample()` call (synchronous stretches block the timer; call sample() after them).
 */
export class RssSampler {
  #peak = 0;
  #timer: NodeJS.Timeout | undefined;

  start(intervalMs = 20): this {
    this.sample();
    this.#timer = setInterval(() => this.sample(), intervalMs);
    this.#timer.unref();
    return this;
  }

  sample(): void {
    const rss = memoryUsage.rss();
    if (rss > this.#peak) this.#peak = rss;
  }

  /** Stops sampling; the peak in MiB. */
  stop(): number {
    this.sample();
    clearInterval(this.#timer);
    return this.#peak / MB;
  }
}

/** The process's lifetime peak RSS (kernel high-water mark), MiB. */
export function processMaxRssMb(): number {
  return resourceUsage().maxRSS / 1024;
}

/** Seconds since `t0` (a performance.now() reading). */
export function secondsSince(t0: number): number {
  return (performance.now() - t0) / 1000;
}

/** Progress on stderr, so stdout stays machine-readable. */
export function progress(message: string): void {
  process.stderr.write(`  ${message}\n`);
}

export function formatTable(results: readonly BenchResult[]): string {
  // Small figures (starts per second) keep two decimals, as in the Markdown table.
  const fmt = (x: number | null): string => (x === null || !Number.isFinite(x) ? '—' : x.toLocaleString('en-US', { maximumFractionDigits: Math.abs(x) < 10 ? 2 : 0 }));
  const rows = results.map((r) => [
    r.name,
    fmt(r.rows),
    fmt(r.rows_per_s),
    fmt(r.bound_rows_per_s),
    r.ratio === null ? '—' : r.ratio.toFixed(3),
    fmt(r.peak_rss_mb),
    r.target,
    r.met === null ? '—' : r.met ? 'yes' : 'NO',
  ]);
  const header = ['benchmark', 'rows', 'rows/s', 'bound rows/s', 'ratio', 'peak RSS MB', 'target', 'met'];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] as string).length)));
  const line = (cells: readonly string[]): string => cells.map((c, i) => (i === 0 || i === 6 ? c.padEnd(widths[i] as number) : c.padStart(widths[i] as number))).join('  ');
  const notes = results.filter((r) => r.notes).map((r) => `  ${r.name}: ${r.notes}`);
  return [line(header), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line), '', ...notes].join('\n');
}

/** The results as a Markdown table (the README's Performance section). */
export function formatMarkdown(results: readonly BenchResult[]): string {
  const n = (x: number | null): string => (x === null || !Number.isFinite(x) ? '—' : x.toLocaleString('en-US', { maximumFractionDigits: x < 10 ? 2 : 0 }));
  const lines = [
    '| benchmark | rows | rows/s | bound rows/s | ratio | peak RSS MB | target | met |',
    '|---|---:|---:|---:|---:|---:|---|---|',
    ...results.map(
      (r) =>
        `| ${r.name} | ${n(r.rows)} | ${n(r.rows_per_s)} | ${n(r.bound_rows_per_s)} | ${r.ratio === null ? '—' : r.ratio.toFixed(3)} | ${n(r.peak_rss_mb)} | ${r.target} | ${r.met === null ? '—' : r.met ? 'yes' : '**no**'} |`,
    ),
  ];
  return lines.join('\n');
}

/**
 * Entry point of a benchmark file: parses the arguments, runs, prints. Exits non-zero only when
 * the benchmark itself fails (a missed target is a result, not an error).
 */
export function benchMain(run: (args: BenchArgs) => Promise<BenchResult[]>): void {
  const args = parseBenchArgs(process.argv.slice(2));
  run(args)
    .then((results) => {
      for (const r of results) r.size = args.size;
      if (args.child) for (const r of results) process.stdout.write(`${RESULT_MARKER}${JSON.stringify(r)}\n`);
      else process.stdout.write(`${formatTable(results)}\n`);
      // Sockets, DuckDB handles or sim timers must not keep a finished benchmark alive.
      process.exit(0);
    })
    .catch((err: unknown) => {
      process.stderr.write(`benchmark failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
      process.exit(1);
    });
}
