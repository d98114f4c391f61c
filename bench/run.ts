// `npm run bench [-- --size quick|full] [--json] [--only raw-write,transform]`: runs every hot-path
// benchmark, each in its own process (so peak RSS is that benchmark's), and prints a table, or
// with --json one JSON object per benchmark per line on stdout (progress goes to stderr).
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { cpus, loadavg, totalmem } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { formatMarkdown, formatTable, parseBenchArgs, RESULT_MARKER, type BenchResult } from './support/bench-harness.js';

/** One file per hot path, in pipeline order, then the CLI's start-up. */
export const BENCHMARKS = ['raw-write', 'ingest-file', 'transform', 'features', 'dataset-build', 'inference-lookup', 'backfill-sim', 'daemon-steady-state', 'live-latency', 'startup'] as const;

const here = dirname(fileURLToPath(import.meta.url));

function usage(): string {
  return `usage: npm run bench -- [--size quick|full] [--json] [--only ${BENCHMARKS.join(',')}]
  --size quick   small data, whole run under 2 minutes on 2 cores (default)
  --size full    the sizes of issue 10 (500 symbols, 20 sessions, …)
  --json         one JSON object per benchmark on stdout (use npm run -s to drop npm's banner)
  --markdown     the table as Markdown (as in the README)
  --from FILE    print the table (or --markdown) of a saved --json run instead of running`;
}

function runOne(name: string, size: string): Promise<{ results: BenchResult[]; code: number | null; seconds: number }> {
  const t0 = performance.now();
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', join(here, `${name}.ts`), '--size', size, '--child'], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let out = '';
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (d: string) => {
      out += d;
    });
    child.on('error', reject);
    child.on('close', (code) => {
      const results = out
        .split('\n')
        .filter((l) => l.startsWith(RESULT_MARKER))
        .map((l) => JSON.parse(l.slice(RESULT_MARKER.length)) as BenchResult);
      resolve({ results, code, seconds: (performance.now() - t0) / 1000 });
    });
  });
}

async function main(): Promise<number> {
  const argv = process.argv.slice(2);
  if (argv.includes('--help') || argv.includes('-h')) {
    process.stdout.write(`${usage()}\n`);
    return 0;
  }
  const { size } = parseBenchArgs(argv);
  const from = argv.includes('--from') ? argv[argv.indexOf('--from') + 1] : undefined;
  if (from !== undefined) {
    const saved = readFileSync(from, 'utf8')
      .split('\n')
      .filter((l) => l.trim().startsWith('{'))
      .map((l) => JSON.parse(l) as BenchResult);
    process.stdout.write(`${argv.includes('--markdown') ? formatMarkdown(saved) : formatTable(saved)}\n`);
    return 0;
  }
  const json = argv.includes('--json');
  const markdown = argv.includes('--markdown');
  const onlyArg = argv.find((a) => a.startsWith('--only'));
  const onlyValue = onlyArg?.includes('=') ? onlyArg.slice('--only='.length) : onlyArg ? argv[argv.indexOf(onlyArg) + 1] : undefined;
  const only = onlyValue ? onlyValue.split(',').filter(Boolean) : [...BENCHMARKS];
  const unknown = only.filter((o) => !(BENCHMARKS as readonly string[]).includes(o));
  if (unknown.length > 0) {
    process.stderr.write(`unknown benchmark(s): ${unknown.join(', ')}\n${usage()}\n`);
    return 2;
  }

  const machine = `${cpus().length} cores / ${Math.round(totalmem() / 2 ** 30)} GiB, Node ${process.version}`;
  const date = new Date().toISOString();
  process.stderr.write(`ibpipe bench --size ${size}: ${machine}, load average ${loadavg().map((l) => l.toFixed(1)).join(' ')}, ${date}\n`);
  const all: BenchResult[] = [];
  let failed = 0;
  const t0 = performance.now();
  for (const name of only) {
    process.stderr.write(`\n[${name}]\n`);
    const { results, code, seconds } = await runOne(name, size);
    process.stderr.write(`  (${seconds.toFixed(1)} s, load average ${loadavg()[0]?.toFixed(1)})\n`);
    if (code !== 0) {
      failed++;
      results.push({ name, rows: 0, rows_per_s: null, bound_rows_per_s: null, ratio: null, peak_rss_mb: 0, target: '', met: false, notes: `benchmark process exited with code ${String(code)}` });
    }
    for (const r of results) {
      const record = { ...r, date, machine };
      all.push(record);
      if (json) process.stdout.write(`${JSON.stringify(record)}\n`);
    }
  }
  process.stderr.write(`\nall benchmarks: ${((performance.now() - t0) / 1000).toFixed(1)} s\n`);
  if (markdown) process.stdout.write(`${formatMarkdown(all)}\n`);
  else if (!json) process.stdout.write(`\nibpipe bench --size ${size} — ${machine} — ${date}\n\n${formatTable(all)}\n`);
  return failed > 0 ? 1 : 0;
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exit(1);
  },
);
