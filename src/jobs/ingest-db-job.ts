import type { JobDefinition } from '../ops/job-definition.js';
import { drainSourcesRun } from './ingest-job.js';

/**
 * The `ingest_db` job for the scheduler and `ibpipe run`: every configured postgres source (or
 * `params.source` / `params.sources`), incrementally from the watermarks; `symbols`, `start`,
 * `end` narrow it like the CLI flags. Credentials come from `app.sourceEnv`, which the CLI
 * fills with `pickSourceEnv(settings.sources, process.env)`. Re-running is always safe.
 */
export const ingestDbJob: JobDefinition = {
  kind: 'ingest_db',
  description: 'load new bars from the configured PostgreSQL / TimescaleDB sources (incremental by watermark)',
  perDate: false,
  run: drainSourcesRun('ingest_db', ['postgres']),
};
