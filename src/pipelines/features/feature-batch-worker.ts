// Worker-thread entry: computes feature batches posted by FeatureBatchRunner (see
// feature-batch-runner.ts), so the kernels and their garbage run next to the DuckDB work, on the
// other core, and never on the event loop that serves live ingestion.
import { parentPort } from 'node:worker_threads';
import { computeFeatureBatch, type FeatureBatchInput } from './compute-feature-batch.js';

interface Request {
  readonly id: number;
  readonly input: FeatureBatchInput;
}

const port = parentPort;
if (!port) throw new Error('feature-batch-worker.ts runs only as a worker thread');
port.on('message', (req: Request) => {
  computeFeatureBatch(req.input).then(
    (output) => {
      const transfer = [...output.values()].flatMap((cols) => cols.map((c) => c.buffer as ArrayBuffer));
      port.postMessage({ id: req.id, output }, transfer);
    },
    (err: unknown) => port.postMessage({ id: req.id, error: err instanceof Error ? { name: err.name, message: err.message } : { name: 'Error', message: String(err) } }),
  );
});
