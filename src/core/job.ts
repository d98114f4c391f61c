import type { Logger } from './logger.js';

/**
 * The job port: what the scheduler, the orchestrator adapter and `ibpipe run` know about a job.
 * Generic over the application context a job receives (`ops/app-context.ts`), so this contract
 * sits in core while the job wrappers (`src/jobs/`) bind it to the app; stages know nothing of it.
 */

/** Parameters a job run was given; `date` is the session date it works on. */
export interface JobParams {
  date?: string;
  start?: string;
  end?: string;
  at?: number;
  symbols?: string[];
  [key: string]: unknown;
}

/** What a job run receives: the app's pieces, a signal that fires on shutdown, a child logger. */
export interface JobRunContext<App, Metrics = unknown> {
  readonly app: App;
  readonly signal: AbortSignal;
  readonly logger: Logger;
  /** The daemon's metrics, when running inside it (jobs export their own figures there). */
  readonly metrics?: Metrics;
  /** The job ledger's run id of this run, for outputs that record which run wrote them. */
  readonly runId?: string;
}

export interface JobOutcome {
  /** Counts for the ledger and logs: read, written, rejected, imputed, … */
  counts: Record<string, number>;
  /** Anything worth printing with `--format json` (handles, ids, paths); instants as epoch ms, listed in JobDefinition.summaryInstants. */
  summary?: unknown;
  /** A few identifiers worth a column in table output too (a dataset id, a file). */
  display?: Record<string, string | number>;
}

export interface JobDefinition<App, Kind extends string = string, Metrics = unknown> {
  readonly kind: Kind;
  readonly description: string;
  /** Works on one session date (`params.date`); the scheduler derives it from the fire time. */
  readonly perDate: boolean;
  run(ctx: JobRunContext<App, Metrics>, params: JobParams): Promise<JobOutcome>;
  /**
   * Where the summary holds instants (epoch ms), in InstantFormatter.paths syntax
   * (`asOf`, `reports[].overLimit[].start`): `ibpipe run --format json` prints them as ISO 8601.
   */
  readonly summaryInstants?: readonly string[];
  /**
   * Optional, for per-date jobs run over a range (`ibpipe run JOB --start/--end`): a runner for
   * the planned dates, in order. Each date is still a job run of its own (ledger, exit status),
   * but the runner may compute several dates in one pass when the first of them runs.
   */
  series?(app: App, paramsList: readonly JobParams[]): JobSeries<App, Metrics>;
}

/** Runs the dates of a series (see JobDefinition.series); close() releases what a pass holds. */
export interface JobSeries<App, Metrics = unknown> {
  run(ctx: JobRunContext<App, Metrics>, params: JobParams): Promise<JobOutcome>;
  close(): Promise<void>;
}
