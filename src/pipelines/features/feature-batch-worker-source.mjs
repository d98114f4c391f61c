// Worker-thread entry when ibpipe runs from its TypeScript sources (tsx, vitest): their loaders do
// not reach worker threads, so this registers tsx (a dev dependency) and then loads the worker.
// Never part of the build: the built runner starts feature-batch-worker.js directly.
import { register } from 'tsx/esm/api';

register();
await import('./feature-batch-worker.ts');
