import { setImmediate as nextMacrotask } from 'node:timers/promises';
import { Worker } from 'node:worker_threads';
import { InputError, StorageError } from '../../core/errors.js';
import { computeFeatureBatch, type FeatureBatchInput, type FeatureBatchOutput } from './compute-feature-batch.js';

/** Batches smaller than this are computed on the calling thread (a worker's start-up costs more). */
export const WORKER_MIN_ROWS = 100_000;

/** Where feature batches are computed: `inline` on the event loop (yielding), `worker` on a worker thread, `auto` by size. */
export type FeatureComputeMode = 'auto' | 'inline' | 'worker';

type Reply = { id: number; output: FeatureBatchOutput } | { id: number; error: { name: string; message: string } };

/**
 * Computes feature batches, on a worker thread for large ones: the kernels then run on the other
 * core while DuckDB reads and writes, and the event loop stays free (only DuckDB calls and
 * memcpys run on it). Inputs and outputs move between threads by transfer, not copy. One worker
 * per process, started on first use and unref'd, so it never keeps a process alive.
 */
export class FeatureBatchRunner {
  static #shared: FeatureBatchRunner | undefined;
  #worker: Worker | undefined;
  #next = 0;
  readonly #pending = new Map<number, { resolve: (o: FeatureBatchOutput) => void; reject: (e: Error) => void }>();

  /** The process's runner. */
  static shared(): FeatureBatchRunner {
    FeatureBatchRunner.#shared ??= new FeatureBatchRunner();
    return FeatureBatchRunner.#shared;
  }

  /** Computes one batch; the input's arrays are given away (transferred or reordered). */
  compute(input: FeatureBatchInput, mode: FeatureComputeMode = 'auto'): Promise<FeatureBatchOutput> {
    const rows = input.columns.ts.length;
    if (mode === 'inline' || (mode === 'auto' && rows < WORKER_MIN_ROWS)) return computeFeatureBatch(input, () => nextMacrotask());
    return this.#onWorker(input);
  }

  #onWorker(input: FeatureBatchInput): Promise<FeatureBatchOutput> {
    const worker = this.#ensureWorker();
    const id = ++this.#next;
    const arrays = [input.columns, ...(input.carried ? [input.carried] : [])].flatMap((c) => [c.symbol, c.ts, c.day, c.available, ...c.inputs]);
    const transfer = [...new Set(arrays.map((a) => a.buffer as ArrayBuffer))];
    return new Promise((resolve, reject) => {
      this.#pending.set(id, { resolve, reject });
      if (this.#pending.size === 1) worker.ref();
      worker.postMessage({ id, input }, transfer);
    });
  }

  #ensureWorker(): Worker {
    if (this.#worker) return this.#worker;
    const worker = startWorker();
    worker.on('message', (reply: Reply) => {
      const p = this.#pending.get(reply.id);
      if (!p) return;
      this.#pending.delete(reply.id);
      if (this.#pending.size === 0) worker.unref();
      if ('error' in reply) p.reject(reply.error.name === 'InputError' ? new InputError(reply.error.message) : new StorageError(`feature computation failed: ${reply.error.message}`));
      else p.resolve(reply.output);
    });
    const fail = (err: Error): void => {
      if (this.#worker === worker) this.#worker = undefined;
      for (const p of this.#pending.values()) p.reject(new StorageError(`feature worker stopped: ${err.message}`, { cause: err }));
      this.#pending.clear();
    };
    worker.on('error', fail);
    worker.on('exit', (code) => fail(new Error(`exit code ${code}`)));
    worker.unref();
    this.#worker = worker;
    return worker;
  }
}

/**
 * The worker thread, from the built .js file, or from the .ts source under tsx or vitest (whose
 * loaders do not reach worker threads: feature-batch-worker-source.mjs registers tsx first).
 */
function startWorker(): Worker {
  const self = import.meta.url;
  return new Worker(new URL(self.endsWith('.ts') ? './feature-batch-worker-source.mjs' : './feature-batch-worker.js', self));
}
