/**
 * The built-in job kinds. Kept free of imports: `ibpipe run --help` lists them without loading
 * the config schema (zod, croner) or any job.
 */
export const JOB_KINDS = ['transform', 'align', 'features', 'dataset', 'score', 'compact', 'ingest', 'ingest_db'] as const;
export type JobKind = (typeof JOB_KINDS)[number];
