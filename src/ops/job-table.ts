import { ingestDbJob } from '../data-sources/ingest-db-job.js';
import { ingestJob } from '../data-sources/ingest-job.js';
import { alignJob } from '../pipelines/alignment-job.js';
import { compactionJob } from '../pipelines/compaction-job.js';
import { featuresJob } from '../pipelines/feature-job.js';
import { transformJob } from '../pipelines/transform-job.js';
import { scoreJob } from '../scoring/score-job.js';
import { datasetJob } from '../training/dataset-job.js';
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
