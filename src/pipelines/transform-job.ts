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
 * `params.hold` of a transform run: symbol → epoch-ms bar start where a live gap waiting for
 * repair begins (the daemon's live chain sets it; the run curates those symbols up to before it).
 */
export function holdBeforeParam(value: unknown): Map<string, number> | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'object' || Array.isArray(value)) throw new InputError('transform: params.hold must map symbols to epoch-ms bar starts');
  const out = new Map<string, number>();
  for (const [symbol, ts] of Object.entries(value as Record<string, unknown>)) {
    if (typeof ts !== 'number' || !Number.isFinite(ts)) throw new InputError(`transform: params.hold.${symbol} must be an epoch-ms bar start`);
    out.set(symbol, ts);
  }
  return out;
}

/**
 * `transform` as a job: raw → curated for `params.date` (and `params.symbols`, default all;
 * `params.hold`, see holdBeforeParam). Pass a DqMetricsExporter (on the daemon's registry) to
 * export each run's DQ metrics.
 */
export function createTransformJob(options: { metrics?: DqMetricsExporter } = {}): JobDefinition {
  return {
    kind: 'transform',
    description: 'raw → curated for a session date: dedup, invalid records and DQ rules to quarantine, calendar gap fill',
    perDate: true,
    async run({ app, logger, metrics }, params) {
      if (!params.date) throw new InputError('transform needs a session date (--date)');
      const exporter = options.metrics ?? metrics?.dq;
      const holdBefore = holdBeforeParam(params['hold']);
      const summary = await runTransformTwsBars(params.date, params.symbols, transformDepsFrom(app, logger, exporter), holdBefore ? { holdBefore } : {});
      return { counts: { ...summary.counts, final: summary.final ? 1 : 0 }, summary: { ...summary, cutoffs: Object.fromEntries(summary.cutoffs) } };
    },
  };
}

export const transformJob: JobDefinition = createTransformJob();
