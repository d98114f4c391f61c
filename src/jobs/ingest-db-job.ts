import { InputError } from '../core/errors.js';
import type { JobDefinition } from '../ops/job-definition.js';
import { parseWindowEdge } from '../data-sources/ingestor.js';

function stringList(value: unknown, name: string): string[] | undefined {
  if (value === undefined) return undefined;
  if (typeof value === 'string') return value.split(',').map((s) => s.trim()).filter(Boolean);
  if (Array.isArray(value) && value.every((v) => typeof v === 'string')) return value as string[];
  throw new InputError(`ingest_db: params.${name} must be a string or a list of strings`);
}

/**
 * The `ingest_db` job for the scheduler and `ibpipe run`: every configured postgres source (or
 * `params.source` / `params.sources`), incrementally from the watermarks; `symbols`, `start`,
 * `end` narrow it like the CLI flags. Credentials come from `app.sourceEnv`, which the CLI
 * fills with `pickSourceEnv(settings.sources, process.env)`. Re-running is always safe.
 */
export const ingestDbJob: JobDefinition = {
  kind: 'ingest_db',
  description: 'load new bars from the configured PostgreSQL / TimescaleDB sources (incremental by watermark)',
  perDate: false,
  async run({ app, signal, logger }, params) {
    const start = typeof params.start === 'string' ? parseWindowEdge(params.start, 'start') : undefined;
    const end = typeof params.end === 'string' ? parseWindowEdge(params.end, 'end') : undefined;
    // The drivers (pg, and the IB client for tws sources) load only when this job runs.
    const { runIngestSources } = await import('./ingest-sources-job.js');
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
      },
      {
        types: ['postgres'],
        sources: stringList(params.sources ?? params.source, 'sources'),
        symbols: stringList(params.symbols, 'symbols'),
        start,
        end,
        signal,
      },
    );
    const sum = (k: 'batches' | 'batchesWritten' | 'rowsRead' | 'rowsWritten'): number => summaries.reduce((a, s) => a + s[k], 0);
    return {
      counts: { sources: summaries.length, batches: sum('batches'), batches_written: sum('batchesWritten'), read: sum('rowsRead'), written: sum('rowsWritten') },
      summary: summaries.map(({ outcomes: _outcomes, ...s }) => s),
    };
  },
};
