import type { JobDefinition as CoreJobDefinition, JobRunContext as CoreJobRunContext, JobSeries as CoreJobSeries } from '../core/job.js';
import type { JobKind } from './ops-config.js';
import type { AppContext } from './app-context.js';
import type { DaemonMetrics } from './metrics.js';

export type { JobOutcome, JobParams } from '../core/job.js';

/** The job port (src/core/job.ts) bound to this application's context, job kinds and metrics. */
export type JobRunContext = CoreJobRunContext<AppContext, DaemonMetrics>;
export type JobDefinition = CoreJobDefinition<AppContext, JobKind, DaemonMetrics>;
export type JobSeries = CoreJobSeries<AppContext, DaemonMetrics>;
