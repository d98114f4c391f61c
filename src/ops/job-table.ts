import { ingestDbJob } from '../jobs/ingest-db-job.js';
import { ingestJob } from '../jobs/ingest-job.js';
import { alignJob } from '../jobs/alignment-job.js';
import { compactionJob } from '../jobs/compaction-job.js';
import { featuresJob } from '../jobs/feature-job.js';
import { transformJob } from '../jobs/transform-job.js';
import { scoreJob } from '../jobs/score-job.js';
import { datasetJob } from '../jobs/dataset-job.js';
import type { JobDefinition } from './job-definition.js';
import type { JobKind } from './ops-config.js';

/** Every job kind the scheduler and `ibpipe run` can execute, in one table. */
export const JOB_TABLE: Readonly<Partial<Record<JobKind, JobDefinition>>> = {
  compact: compactionJob,
  transform: transformJob,
  align: alignJob,
  features: featuresJob,
  dataset: datasetJob,
  score: scoreJob,
  ingest: ingestJob,
  ingest_db: ingestDbJob,
};

export function jobDefinition(kind: JobKind): JobDefinition | undefined {
  return JOB_TABLE[kind];
}
