// One measured feature run in its own process, so its peak RSS is the run's and not the
// benchmark's data generation. Started by runFeaturesInChild; argv[2] is a JSON ChildRequest;
// prints one JSON ChildResult line on stdout.
import { spawn } from 'node:child_process';
import { rmSync } from 'node:fs';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { ManualClock } from '../../src/core/clock.js';
import { silentLogger } from '../../src/ops/logging-setup.js';
import { runFeaturePipeline } from '../../src/pipelines/feature-pipeline.js';
import { resolveSourceDataset } from '../../src/pipelines/source-dataset.js';
import { FeatureStore } from '../../src/storage/feature-store.js';
import { Lake } from '../../src/storage/lake.js';
import { RssSampler } from './bench-harness.js';
import { benchCalendars } from './synthetic-market.js';
import { TECHNICAL } from './technical-group.js';

interface ChildRequest {
  root: string;
  symbols: string[];
  /** One entry per measured run: the dates it computes (features are deleted before each). */
  runs: string[][];
  /** Dates run once before the measured runs, untimed: start-up costs (worker thread, JIT) stay out of the timings. */
  warmup?: string[];
  batchRows?: number;
}

export interface ChildResult {
  seconds: number[];
  rowsWritten: number[];
  batches: number[];
  peakRssMb: number;
  /** Event-loop lag while the runs were computing, ms. */
  lagP99Ms: number;
  lagMaxMs: number;
}

/** Runs the technical group over `runs` on the lake at `root` in a fresh process. */
export function runFeaturesInChild(req: ChildRequest): Promise<ChildResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', fileURLToPath(import.meta.url), JSON.stringify(req)], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (d: string) => (out += d));
    child.on('error', reject);
    child.on('close', (code) => {
      const line = out.split('\n').find((l) => l.startsWith('{'));
      if (code !== 0 || !line) reject(new Error(`feature run child exited with ${String(code)}`));
      else resolve(JSON.parse(line) as ChildResult);
    });
  });
}

async function main(req: ChildRequest): Promise<ChildResult> {
  const rss = new RssSampler().start();
  const lake = await Lake.open({ root: req.root });
  try {
    const store = new FeatureStore(lake, benchCalendars(req.symbols), new ManualClock(Date.parse('2025-06-01T00:00:00Z')));
    const result: ChildResult = { seconds: [], rowsWritten: [], batches: [], peakRssMb: 0, lagP99Ms: 0, lagMaxMs: 0 };
    const lag = monitorEventLoopDelay({ resolution: 10 });
    const run = (dates: readonly string[]): ReturnType<typeof runFeaturePipeline> => {
      rmSync(lake.path('features'), { recursive: true, force: true });
      rmSync(lake.path('state', 'feature_registry.jsonl'), { force: true });
      return runFeaturePipeline(dates, req.symbols, TECHNICAL, TECHNICAL.version, {
        lake,
        featureStore: store,
        logger: silentLogger(),
        source: resolveSourceDataset(TECHNICAL.source),
        ...(req.batchRows ? { batchRows: req.batchRows } : {}),
      });
    };
    if (req.warmup?.length) await run(req.warmup);
    for (const dates of req.runs) {
      lag.enable();
      const t0 = performance.now();
      const res = await run(dates);
      result.seconds.push((performance.now() - t0) / 1000);
      lag.disable();
      result.rowsWritten.push(res.rowsWritten);
      result.batches.push(res.batches);
    }
    result.peakRssMb = rss.stop();
    result.lagP99Ms = lag.percentile(99) / 1e6;
    result.lagMaxMs = lag.max / 1e6;
    return result;
  } finally {
    await lake.close();
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url) && process.argv[2]) {
  main(JSON.parse(process.argv[2]) as ChildRequest).then(
    (r) => {
      process.stdout.write(`${JSON.stringify(r)}\n`);
      process.exit(0);
    },
    (err: unknown) => {
      process.stderr.write(`feature run failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
      process.exit(1);
    },
  );
}
