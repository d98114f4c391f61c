import { InputError } from '../core/errors.js';
import type { DqMetricsExporter } from '../data-quality/metrics.js';
import type { AppContext } from '../ops/app-context.js';
import type { JobDefinition } from '../ops/job-definition.js';
import type { Logger } from '../ops/logging-setup.js';
import { QuarantineStore } from '../storage/quarantine-store.js';
import { JsonlLedger } from '../storage/state-store.js';
import { runTransformTwsBars, type DqResultRecord, type TransformDeps } from './transform-pipeline.js';

/** The transform's dependencies, taken from the app context. */
export function transformDepsFrom(app: AppContext, logger: Logger, metrics?: DqMetricsExporter): TransformDeps {
  return {
    rawStore: app.rawStore,
    curatedStore: app.curatedStore,
    quarantineStore: new QuarantineStore(app.lake),
    dqLedger: new JsonlLedger<DqResultRecord>(app.lake.path('state', 'dq_results.jsonl')),
    calendars: app.calendars,
    clock: app.clock,
    logger,
    dqRules: app.settings.dq_rules,
    gaps: app.settings.gaps,
    barSize: app.settings.tws.historical_bar_size,
    ...(metrics ? { metrics } : {}),
  };
}

/**
 * `transform` as a job: raw → curated for `params.date` (and `params.symbols`, default all).
 * Pass a DqMetricsExporter (on the daemon's registry) to export each run's DQ metrics.
 */
export function createTransformJob(options: { metrics?: DqMetricsExporter } = {}): JobDefinition {
  return {
    kind: 'transform',
    description: 'raw → curated for a session date: dedup, invalid records and DQ rules to quarantine, calendar gap fill',
    perDate: true,
    // TransformSummary: the run's clock reading and the first bar of each over-limit gap.
    summaryInstants: ['asOf', 'reports[].overLimit[].start'],
    async run({ app, logger, metrics }, params) {
      if (!params.date) throw new InputError('transform needs a session date (--date)');
      const exporter = options.metrics ?? metrics?.dq;
      const summary = await runTransformTwsBars(params.date, params.symbols, transformDepsFrom(app, logger, exporter));
      return { counts: { ...summary.counts, final: summary.final ? 1 : 0 }, summary: { ...summary, cutoffs: Object.fromEntries(summary.cutoffs) } };
    },
  };
}

export const transformJob: JobDefinition = createTransformJob();
