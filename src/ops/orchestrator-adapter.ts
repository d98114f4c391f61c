import { InputError } from '../core/errors.js';
import type { AppContext } from './app-context.js';
import type { JobOutcome, JobSeries } from './job-definition.js';
import { JobLedger, type JobParams, type JobRunRecord, type JobTrigger } from './job-ledger.js';
import { jobDefinition } from './job-table.js';
import type { DaemonMetrics } from './metrics.js';
import { JOB_KINDS, type JobKind } from './ops-config.js';

export interface ExecuteOptions {
  job?: string;
  trigger?: JobTrigger;
  attempt?: number;
  scheduledFor?: number | null;
  signal?: AbortSignal;
  metrics?: DaemonMetrics;
  ledger?: JobLedger;
  /** Runs the job through this series runner (JobDefinition.series) instead of its run(). */
  series?: JobSeries;
}

export interface ExecutedRun {
  record: JobRunRecord;
  outcome: JobOutcome | null;
  error: unknown;
}

export function parseJobKind(name: string): JobKind {
  if (!(JOB_KINDS as readonly string[]).includes(name)) throw new InputError(`unknown job ${JSON.stringify(name)}: expected one of ${JOB_KINDS.join(', ')}`);
  return name as JobKind;
}

/**
 * Runs one job once, the same way for the scheduler and for an external orchestrator
 * (`ibpipe run JOB`): ledger start and end records, a log line with parameters and counts,
 * metrics. Never throws for a job failure: the caller decides (retry, exit code).
 */
export async function executeJob(app: AppContext, kind: JobKind, params: JobParams, options: ExecuteOptions = {}): Promise<ExecutedRun> {
  const def = jobDefinition(kind);
  if (!def) throw new InputError(`job ${kind} is not available in this build`);
  const ledger = options.ledger ?? new JobLedger(app.lake, app.clock);
  const name = options.job ?? kind;
  const logger = app.logger.child({ component: 'job', job: name, kind });
  const run = ledger.start(name, kind, params, options.trigger ?? 'manual', options.attempt ?? 1, options.scheduledFor ?? null);
  logger.info({ run_id: run.run_id, params, trigger: run.trigger, attempt: run.attempt }, 'job started');
  const signal = options.signal ?? new AbortController().signal;
  try {
    const ctx = { app, signal, logger, runId: run.run_id, ...(options.metrics ? { metrics: options.metrics } : {}) };
    const outcome = await (options.series ? options.series.run(ctx, params) : def.run(ctx, params));
    const record = ledger.finish(run, 'ok', outcome.counts);
    logger.info({ run_id: run.run_id, counts: outcome.counts, duration_ms: record.duration_ms }, 'job finished');
    options.metrics?.observeJob(name, 'ok', record.duration_ms ?? 0);
    return { record, outcome, error: null };
  } catch (err) {
    const record = ledger.finish(run, 'failed', {}, err);
    logger.error({ run_id: run.run_id, err, duration_ms: record.duration_ms }, 'job failed');
    options.metrics?.observeJob(name, 'failed', record.duration_ms ?? 0);
    return { record, outcome: null, error: err };
  }
}
