import { InputError } from '../core/errors.js';
import type { DqMetricsExporter } from '../data-quality/metrics.js';
import type { AppContext } from '../ops/app-context.js';
import type { JobDefinition, JobOutcome } from '../ops/job-definition.js';
import type { Logger } from '../core/logger.js';
import { QuarantineStore } from '../storage/quarantine-store.js';
import { JsonlLedger } from '../storage/state-store.js';
import type { DqResultRecord, TransformSummary } from '../pipelines/transform-pipeline.js';
import { runTransformSql, TransformRange, type SqlTransformDeps } from '../pipelines/transform-sql.js';
import { stateLedgerPath } from '../storage/state-ledgers.js';

/** The transform's dependencies, taken from the app context. */
export function transformDepsFrom(app: AppContext, logger: Logger, metrics?: DqMetricsExporter): SqlTransformDeps {
  return {
    lake: app.lake,
    rawStore: app.rawStore,
    curatedStore: app.curatedStore,
    quarantineStore: new QuarantineStore(app.lake),
    dqLedger: new JsonlLedger<DqResultRecord>(stateLedgerPath(app.lake, 'dq_results')),
    calendars: app.calendars,
    clock: app.clock,
    logger,
    dqRules: app.settings.dq_rules,
    gaps: app.settings.gaps,
    barSize: app.settings.tws.historical_bar_size,
    ...(metrics ? { metrics } : {}),
  };
}

function outcomeOf(summary: TransformSummary): JobOutcome {
  return { counts: { ...summary.counts, final: summary.final ? 1 : 0 }, summary: { ...summary, cutoffs: Object.fromEntries(summary.cutoffs) } };
}

/**
 * `transform` as a job: raw → curated for `params.date` (and `params.symbols`, default all),
 * set-based in DuckDB (transform-sql.ts). Over a range (`ibpipe run transform --start/--end`)
 * it runs as a series: each date is its own job run, but whole passes of sessions are computed
 * together. Pass a DqMetricsExporter (on the daemon's registry) to export each run's DQ metrics.
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
      return outcomeOf(await runTransformSql(params.date, params.symbols, transformDepsFrom(app, logger, exporter)));
    },
    series(app, paramsList) {
      const dates = paramsList.map((p) => p.date).filter((d): d is string => d !== undefined);
      const symbols = paramsList[0]?.symbols;
      const range = new TransformRange(dates, symbols, transformDepsFrom(app, app.logger, options.metrics));
      return {
        async run({ logger }, params) {
          if (!params.date) throw new InputError('transform needs a session date (--date)');
          return outcomeOf(await range.run(params.date, logger));
        },
        close: () => range.close(),
      };
    },
  };
}

export const transformJob: JobDefinition = createTransformJob();
