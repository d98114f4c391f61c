import { InputError } from '../core/errors.js';
import { drainIngestor, type IngestSummary } from '../data-sources/ingestor.js';
import { createIngestor, type IngestorContext } from '../data-sources/ingestor-registry.js';
import type { BarDataset } from '../pipelines/bar-datasets.js';
import { DEFAULT_TWS_SOURCE_SESSIONS, type SourceConfig, type SourceType } from '../data-sources/sources-config.js';

/** The source `ibpipe ingest --source tws` means when no configured source is named `tws`: IB history through `tws:`. */
export const IMPLICIT_TWS_SOURCE: SourceConfig = Object.freeze({ type: 'tws', name: 'tws', default_sessions: DEFAULT_TWS_SOURCE_SESSIONS });

/**
 * The configured sources, plus the implicit `tws` source when `names` asks for it and no
 * configured source takes the name (it is never part of "every source").
 */
export function sourcesFor(configured: readonly SourceConfig[], names: readonly string[] | undefined): SourceConfig[] {
  const out = [...configured];
  if (names?.includes(IMPLICIT_TWS_SOURCE.name) && !configured.some((s) => s.name === IMPLICIT_TWS_SOURCE.name)) out.push(IMPLICIT_TWS_SOURCE);
  return out;
}

export interface IngestSourcesParams {
  /** Source names to run; default every configured source (of `types`, when given). */
  readonly sources?: readonly string[] | undefined;
  readonly types?: readonly SourceType[] | undefined;
  readonly symbols?: readonly string[] | undefined;
  /** Window in epoch ms, [start, end). */
  readonly start?: number | undefined;
  readonly end?: number | undefined;
  readonly signal?: AbortSignal | undefined;
  /** The bar datasets `tws` sources fill (default: `deps.barDatasets`); only `tws` sources take datasets, so naming any with another source is an InputError. */
  readonly datasets?: readonly BarDataset[] | undefined;
}

export interface IngestSourcesDeps extends IngestorContext {
  /** The `sources:` config slice. */
  readonly sources: readonly SourceConfig[];
  /** Every configured bar dataset (resolveBarDatasets): a `tws` source fills each, in order; absent: the classic one only. */
  readonly barDatasets?: readonly BarDataset[] | undefined;
}

/**
 * The schedulable ingestion job: runs the selected configured sources one after another into
 * the raw store and returns one summary per source (per source and bar dataset for `tws` sources). Safe to re-run at any time (batch ids are
 * idempotent, watermarks move only after commits), so a scheduler may simply call it again
 * after a failure; a retryable error (e.g. the database stayed unreachable past its retries)
 * propagates with `retryable: true`.
 */
export async function runIngestSources(deps: IngestSourcesDeps, params: IngestSourcesParams = {}): Promise<IngestSummary[]> {
  const all = sourcesFor(deps.sources, params.sources);
  const byType = params.types ? all.filter((s) => params.types?.includes(s.type)) : all;
  let selected = byType;
  if (params.sources) {
    const unknown = params.sources.filter((n) => !byType.some((s) => s.name === n));
    if (unknown.length > 0) {
      throw new InputError(`no configured source named ${unknown.join(', ')}${params.types ? ` of type ${params.types.join('/')}` : ''} (have: ${byType.map((s) => s.name).join(', ') || 'none'})`);
    }
    selected = byType.filter((s) => params.sources?.includes(s.name));
  }
  if (selected.length === 0) {
    throw new InputError(`no ${params.types ? `${params.types.join('/')} ` : ''}source is configured (add one under sources: in the config)`);
  }
  if (params.datasets !== undefined) {
    const other = selected.filter((s) => s.type !== 'tws');
    if (other.length > 0) throw new InputError(`a bar dataset can be chosen for tws sources only; ${other.map((s) => `${s.name} is a ${s.type} source`).join(', ')}`);
  }
  // A tws source fills every bar dataset, like `ibpipe backfill` and the daemon's catch-up: one
  // drain per dataset, each into its own raw partition, resuming from its own watermark.
  const twsDatasets: readonly (BarDataset | undefined)[] = params.datasets ?? deps.barDatasets ?? [undefined];
  const runs = selected.flatMap((cfg): { cfg: SourceConfig; ds: BarDataset | undefined }[] => (cfg.type === 'tws' ? twsDatasets.map((ds) => ({ cfg, ds })) : [{ cfg, ds: undefined }]));
  const summaries: IngestSummary[] = [];
  for (const { cfg, ds } of runs) {
    params.signal?.throwIfAborted();
    const ingestor = createIngestor(cfg, ds === undefined ? deps : { ...deps, twsDataset: ds });
    const started = deps.clock.now();
    const drained = await drainIngestor(
      ingestor,
      { symbols: params.symbols, start: params.start, end: params.end, signal: params.signal },
      { sink: deps.rawStore, clock: deps.clock, logger: deps.logger },
    );
    const summary: IngestSummary = ds === undefined ? drained : { ...drained, dataset: ds.name };
    deps.logger.info(
      {
        source: cfg.name,
        type: cfg.type,
        ...(ds === undefined ? {} : { dataset: ds.name }),
        batches: summary.batches,
        batches_written: summary.batchesWritten,
        rows_read: summary.rowsRead,
        rows_written: summary.rowsWritten,
        unfinished: summary.unfinished.length,
        duration_ms: deps.clock.now() - started,
      },
      summary.unfinished.length > 0 ? 'source ingested; some work is unfinished (the next run retries it)' : 'source ingested',
    );
    summaries.push(summary);
  }
  return summaries;
}
