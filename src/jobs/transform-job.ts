import { ConfigError, InputError } from '../core/errors.js';
import type { DqMetricsExporter } from '../data-quality/metrics.js';
import type { AppContext } from '../ops/app-context.js';
import type { JobDefinition, JobOutcome } from '../ops/job-definition.js';
import type { Logger } from '../core/logger.js';
import { QuarantineStore } from '../storage/quarantine-store.js';
import { resolveBarDatasets, type BarDataset } from '../pipelines/bar-datasets.js';
import type { TransformSummary } from '../pipelines/transform-pipeline.js';
import { runTransformSql, TransformRange, type SqlTransformDeps } from '../pipelines/transform-sql.js';
import { openStateLedger } from '../storage/state-ledgers.js';

/**
 * The bar datasets a transform run works on: `params.dataset` (a name, or a list of names), else
 * every configured one in declaration order. Throws ConfigError naming an unknown one.
 */
export function transformDatasets(app: Pick<AppContext, 'settings'>, dataset: unknown): BarDataset[] {
  const all = resolveBarDatasets(app.settings);
  if (dataset === undefined || dataset === null) return all;
  const names = Array.isArray(dataset) ? dataset.map(String) : String(dataset).split(',').map((n) => n.trim()).filter(Boolean);
  return names.map((name) => {
    const found = all.find((d) => d.name === name);
    if (!found) {
      const known = all.map((d) => d.name).join(', ');
      throw new ConfigError(`transform: no bar dataset ${name} (configured: ${known})`, [`dataset: unknown bar dataset ${name}; expected one of ${known}`]);
    }
    return found;
  });
}

/** The transform's dependencies, taken from the app context, for one bar dataset (default: the first configured). */
export function transformDepsFrom(app: AppContext, logger: Logger, metrics?: DqMetricsExporter, dataset: BarDataset = resolveBarDatasets(app.settings)[0] as BarDataset): SqlTransformDeps {
  return {
    lake: app.lake,
    rawStore: app.rawStore,
    curatedStore: app.curatedStore,
    quarantineStore: new QuarantineStore(app.lake),
    dqLedger: openStateLedger(app.lake, 'dq_results'),
    calendars: app.calendars,
    clock: app.clock,
    logger,
    dqRules: { ...app.settings.dq_rules, [dataset.dqKey]: [...dataset.rules] },
    gaps: dataset.gaps,
    barSize: dataset.barSize,
    dataset,
    ...(metrics ? { metrics } : {}),
  };
}

function outcomeOf(summary: TransformSummary): JobOutcome {
  return { counts: { ...summary.counts, final: summary.final ? 1 : 0 }, summary: { ...summary, cutoffs: Object.fromEntries(summary.cutoffs) } };
}

/**
 * One run over several datasets: counts summed (`final` 1 only when every dataset's run was
 * final), the summary keyed by dataset. One dataset: exactly its own outcome.
 */
function combinedOutcome(summaries: readonly TransformSummary[]): JobOutcome {
  if (summaries.length === 1) return outcomeOf(summaries[0] as TransformSummary);
  const counts: Record<string, number> = {};
  for (const s of summaries) for (const [k, v] of Object.entries(outcomeOf(s).counts)) counts[k] = (counts[k] ?? 0) + v;
  counts.final = summaries.every((s) => s.final) ? 1 : 0;
  return { counts, summary: { datasets: summaries.map((s) => outcomeOf(s).summary) } };
}

/**
 * Runs `one` for each dataset in order; a dataset refused by its DQ rules does not stop the
 * others, and the first error is thrown once all have run.
 */
async function forEachDataset(datasets: readonly BarDataset[], one: (d: BarDataset) => Promise<TransformSummary>): Promise<JobOutcome> {
  const done: TransformSummary[] = [];
  let first: { err: unknown } | undefined;
  for (const d of datasets) {
    try {
      done.push(await one(d));
    } catch (err) {
      first ??= { err };
    }
  }
  if (first) throw first.err;
  return combinedOutcome(done);
}

/**
 * `transform` as a job: raw → curated for `params.date` (and `params.symbols`, default all) and
 * each bar dataset (`params.dataset`, default every configured one, in declaration order),
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
      const date = params.date;
      if (!date) throw new InputError('transform needs a session date (--date)');
      const exporter = options.metrics ?? metrics?.dq;
      return forEachDataset(transformDatasets(app, params.dataset), (d) => runTransformSql(date, params.symbols, transformDepsFrom(app, logger, exporter, d)));
    },
    series(app, paramsList) {
      const dates = paramsList.map((p) => p.date).filter((d): d is string => d !== undefined);
      const symbols = paramsList[0]?.symbols;
      const ranges = new Map(transformDatasets(app, paramsList[0]?.dataset).map((d) => [d, new TransformRange(dates, symbols, transformDepsFrom(app, app.logger, options.metrics, d))]));
      return {
        async run({ logger }, params) {
          const date = params.date;
          if (!date) throw new InputError('transform needs a session date (--date)');
          return forEachDataset([...ranges.keys()], (d) => (ranges.get(d) as TransformRange).run(date, logger));
        },
        async close() {
          for (const r of ranges.values()) await r.close();
        },
      };
    },
  };
}

export const transformJob: JobDefinition = createTransformJob();
