import { IbpipeError, InputError } from '../core/errors.js';
import type { JobDefinition } from '../ops/job-definition.js';
import { parseWindowEdge } from '../data-sources/ingestor.js';
import type { SourceType } from '../data-sources/sources-config.js';

/** An ingest run left work unfinished (e.g. backfill windows that failed past their retries); re-running retries exactly that. */
export class IngestIncompleteError extends IbpipeError {
  readonly code = 'INGEST_INCOMPLETE';
  readonly retryable = true;
}

function stringList(value: unknown, name: string, job: string): string[] | undefined {
  if (value === undefined) return undefined;
  if (typeof value === 'string') return value.split(',').map((s) => s.trim()).filter(Boolean);
  if (Array.isArray(value) && value.every((v) => typeof v === 'string')) return value as string[];
  throw new InputError(`${job}: params.${name} must be a string or a list of strings`);
}

type JobRun = JobDefinition['run'];

/**
 * The run of a job that drains configured sources (`ingest`, and `ingest_db` limited to postgres
 * sources): params `source`/`sources`, `symbols`, `start`, `end`, `dataset` as for `ibpipe ingest`.
 */
export function drainSourcesRun(job: string, types?: readonly SourceType[]): JobRun {
  return async ({ app, signal, logger }, params) => {
    const start = typeof params.start === 'string' ? parseWindowEdge(params.start, 'start') : undefined;
    const end = typeof params.end === 'string' ? parseWindowEdge(params.end, 'end') : undefined;
    if (start !== undefined && end !== undefined && start >= end) throw new InputError(`${job}: start ${String(params.start)} is not before end ${String(params.end)}`);
    // The drivers (pg, the IB client, user modules) load only when this job runs.
    const { runIngestSources } = await import('./ingest-sources-job.js');
    const { resolveBarDatasets } = await import('../pipelines/bar-datasets.js');
    const { transformDatasets } = await import('./transform-job.js');
    const summaries = await runIngestSources(
      {
        lake: app.lake,
        rawStore: app.rawStore,
        clock: app.clock,
        logger,
        instruments: app.settings.instruments,
        barSize: app.settings.tws.historical_bar_size,
        env: app.sourceEnv,
        sources: app.settings.sources,
        tws: app.settings.tws,
        calendarFor: (symbol) => app.calendars.calendarFor(symbol),
        barDatasets: resolveBarDatasets(app.settings),
      },
      {
        ...(types === undefined ? {} : { types: [...types] }),
        sources: stringList(params.sources ?? params.source, 'source', job),
        symbols: stringList(params.symbols, 'symbols', job),
        start,
        end,
        signal,
        ...(params.dataset === undefined ? {} : { datasets: transformDatasets(app, params.dataset) }),
      },
    );
    const unfinished = summaries.flatMap((s) => s.unfinished.map((u) => `${s.source}: ${u}`));
    if (unfinished.length > 0) {
      throw new IngestIncompleteError(`${job}: ${unfinished.length} item(s) unfinished (committed batches stay; re-run to retry): ${unfinished.slice(0, 5).join('; ')}${unfinished.length > 5 ? ' …' : ''}`, {
        details: { unfinished },
      });
    }
    const sum = (k: 'batches' | 'batchesWritten' | 'rowsRead' | 'rowsWritten'): number => summaries.reduce((a, s) => a + s[k], 0);
    return {
      counts: { sources: summaries.length, batches: sum('batches'), batches_written: sum('batchesWritten'), read: sum('rowsRead'), written: sum('rowsWritten') },
      summary: summaries.map(({ outcomes: _outcomes, ...s }) => s),
    };
  };
}

/**
 * The `ingest` job for the scheduler and `ibpipe run ingest`: `params.source` (or `sources`)
 * names the configured sources to drain (default every configured source; `tws` also means
 * the implicit IB source when none is named so), each incrementally from its own state unless
 * `start` / `end` narrow it, like `ibpipe ingest --source NAME`; a tws source fills every bar
 * dataset, or those `params.dataset` names. Re-running is always safe.
 * Work a source left unfinished fails the run with a retryable IngestIncompleteError after
 * everything else was committed, so the scheduler's retry picks it up.
 */
export const ingestJob: JobDefinition = {
  kind: 'ingest',
  description: 'drain configured sources (any type: tws, file, postgres, module) into the raw store',
  perDate: false,
  run: drainSourcesRun('ingest'),
};
