import type { BarEvent, BarSize } from '../core/bars.js';
import { InputError } from '../core/errors.js';
import type { Clock } from '../core/clock.js';
import type { Logger } from '../core/logger.js';
import type { RelationBatch, RelationSummary, WriteBatchResult } from '../storage/raw-store.js';
import { parseInstantText } from './bar-value-rules.js';

/** What to ingest: every field narrows; an empty request means "everything new". */
export interface IngestRequest {
  /** Instrument keys; undefined = every configured instrument the source serves. */
  readonly symbols?: readonly string[] | undefined;
  /** First bar start to ingest, epoch ms UTC, inclusive. */
  readonly start?: number | undefined;
  /** End of the window, epoch ms UTC, exclusive. */
  readonly end?: number | undefined;
  readonly signal?: AbortSignal | undefined;
}

/** Rows of a batch as a relation in the lake's DuckDB (see RawStore.writeRelation for its columns). */
export interface RelationRows {
  /** A table, view or parenthesised query; it may read the source again when the batch is written. */
  readonly sql: string;
  /** `source` of every row (FILE, DB …). */
  readonly source: string;
  readonly barSize: BarSize;
  /** Costly to read (parses text): the raw store reads it once into a temporary table. */
  readonly costly?: boolean | undefined;
  /** The raw store's scan of exactly these rows, made ahead (RawStore.summarizeRelation): the write skips its own. */
  readonly summary?: RelationSummary | undefined;
}

/** One unit of work a run would do, for dry runs and logs. */
export interface IngestWorkItem {
  /** Human label: a file path, a symbol and its watermark, a backfill window. */
  readonly label: string;
  readonly symbols: readonly string[];
  /** Window the item covers (epoch ms, [start, end)); null where the source cannot say. */
  readonly start: number | null;
  readonly end: number | null;
  /** Rows the item would read, when the source can count them cheaply. */
  readonly rows: number | null;
}

/**
 * A batch for the raw store: the unit that is committed, acknowledged and resumed. It becomes
 * visible whole or not at all (its files are renamed into place, then one ledger line commits
 * them); a batch refused by the edge's checks writes nothing.
 */
export interface IngestBatch {
  /**
   * Deterministic: a function of what the batch covers (its bounds: symbol and window, a page's
   * first and last keys) or of its content (a file's hash), never of the clock or of a run
   * counter. The same batch produced again (a re-run, a retry after a crash) has the same id, and
   * the raw store's ledger turns it into a no-op; so a batch id must not be reused for different
   * bars (the second one would be skipped). Must match the raw store's `^[A-Za-z0-9._-]{1,128}$`.
   */
  readonly batchId: string;
  /**
   * Bars of one bar size; may be empty only if the source has a reason to record an empty batch,
   * or when `relation` carries the rows instead.
   */
  readonly events: readonly BarEvent[];
  /**
   * Bulk sources (files) hand their rows over as SQL instead of objects: the consumer commits the
   * batch with the sink's writeRelation, and `events` is empty. `rows` is then the row count.
   */
  readonly relation?: RelationRows | undefined;
  readonly rows?: number | undefined;
  /** The bar dataset's own what_to_show (its own raw partition, e.g. `bar_size=1min-bid`); absent or null: the classic partition. */
  readonly series?: string | null | undefined;
  /** What the batch covers, for logs and reports. */
  readonly label: string;
  /**
   * Called exactly once per batch, and only after the raw store has committed it (written now,
   * or found already committed: `result.written` tells which); never for a batch whose write
   * failed. Sources advance their own progress state (watermarks, backfill ledgers) here and
   * never earlier, so a crash between the commit and this call only repeats a no-op batch. The
   * consumer awaits it before asking for the next batch; if it throws, the run stops there.
   */
  acknowledge?(result: WriteBatchResult): Promise<void> | void;
}

/**
 * A source of bars (TWS history, files, a database, a user's module …). Implementations are
 * created by the ingestor registry from a `sources:` config entry (or directly by their command).
 *
 * Contract:
 * - `plan(request)` says what `run(request)` would do (one item per file, page, window or
 *   symbol) and changes nothing: no write, no state advanced (`ibpipe ingest --dry-run`).
 * - `run(request)` yields batches lazily, one at a time; the consumer (`drainIngestor`) commits
 *   each to the raw store and awaits its `acknowledge` before it asks for the next, so a source
 *   holds a bounded number of batches (one; a TWS source one per request in flight) and never
 *   advances its state past what is committed.
 * - Resume: progress lives in the source's own state (a watermark per symbol, a ledger of done
 *   windows) and moves only in `acknowledge`. A request without `start` means "everything new
 *   since that state" (or a documented default window); with `start`, the source re-reads the
 *   window regardless of its state, and batches already committed come out as no-ops because
 *   their ids are the same.
 * - Abandoning the iteration (break, throw, abort) is always safe: whatever was not acknowledged
 *   is produced again, with the same batch id, by the next run. Batches acknowledged before a
 *   failure stay committed (each is whole); the failing batch leaves nothing.
 * - Errors are typed (src/core/errors.ts): bad input (a refused row, an unknown symbol) is an
 *   InputError naming the source and the row; a transient failure is `retryable`.
 */
export interface Ingestor {
  /** Config name of this source (unique among the configured sources), e.g. `warehouse`. */
  readonly name: string;
  /** Value of `source` on every bar it produces: TWS, FILE, DB, MODULE (or a module's own). */
  readonly source: string;
  /** What `run` would do for this request, without writing anything. */
  plan(request: IngestRequest): Promise<IngestWorkItem[]>;
  run(request: IngestRequest): AsyncIterable<IngestBatch>;
  /**
   * Work the last `run` recorded as failed instead of yielding it (e.g. a backfill window that
   * failed past its retries): the run is then incomplete and the next one retries it. Absent or
   * empty: everything planned was yielded.
   */
  unfinished?(): readonly string[];
}

/** Where batches go: the raw store's appends (RawStore satisfies this). */
export interface BatchSink {
  writeTwsBars(events: readonly BarEvent[], batchId: string, ingestionTs: number, series?: string | null): Promise<WriteBatchResult>;
  writeRelation(relation: string, batch: RelationBatch): Promise<WriteBatchResult>;
}

/** Commits one batch to a sink, whichever form its rows take. */
export function writeBatch(sink: BatchSink, batch: IngestBatch, ingestionTs: number): Promise<WriteBatchResult> {
  if (batch.relation === undefined) return sink.writeTwsBars(batch.events, batch.batchId, ingestionTs, batch.series ?? null);
  const { sql, source, barSize, costly, summary } = batch.relation;
  return sink.writeRelation(sql, { batchId: batch.batchId, source, barSize, ingestionTs, costly, summary });
}

export interface BatchOutcome extends WriteBatchResult {
  label: string;
}

export interface IngestSummary {
  source: string;
  /** The bar dataset a tws source filled (one summary per dataset); absent for other sources. */
  dataset?: string;
  /** Batches the source produced. */
  batches: number;
  /** Of those, newly written (the rest were already committed). */
  batchesWritten: number;
  /** Bars the source produced / bars newly written. */
  rowsRead: number;
  rowsWritten: number;
  outcomes: BatchOutcome[];
  /** What the run left unfinished (see Ingestor.unfinished); empty when complete. */
  unfinished: string[];
}

/**
 * The one consumer loop: commit each batch to the sink, then acknowledge it, then ask for the
 * next. Commands, jobs and the daemon all go through this, so the ordering the `Ingestor`
 * contract relies on holds everywhere.
 */
export async function drainIngestor(
  ingestor: Ingestor,
  request: IngestRequest,
  deps: { sink: BatchSink; clock: Clock; logger: Logger },
): Promise<IngestSummary> {
  const summary: IngestSummary = { source: ingestor.name, batches: 0, batchesWritten: 0, rowsRead: 0, rowsWritten: 0, outcomes: [], unfinished: [] };
  for await (const batch of ingestor.run(request)) {
    request.signal?.throwIfAborted();
    const result = await writeBatch(deps.sink, batch, deps.clock.now());
    await batch.acknowledge?.(result);
    const rows = batch.relation === undefined ? batch.events.length : (batch.rows ?? result.rows);
    summary.batches++;
    summary.rowsRead += rows;
    if (result.written) {
      summary.batchesWritten++;
      summary.rowsWritten += result.rows;
    }
    summary.outcomes.push({ ...result, label: batch.label });
    deps.logger.info(
      { source: ingestor.name, batch_id: batch.batchId, label: batch.label, rows, written: result.written, dates: result.dates },
      result.written ? 'batch written' : 'batch already ingested',
    );
  }
  summary.unfinished = [...(ingestor.unfinished?.() ?? [])];
  return summary;
}

const DAY = /^\d{4}-\d{2}-\d{2}$/;
const INSTANT = /^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:?\d{2})$/i;

/**
 * A window edge from the CLI or config, to epoch ms. `YYYY-MM-DD` is a UTC day: a start means
 * its 00:00, an end is inclusive (the next day's 00:00). An ISO-8601 instant needs Z or an
 * offset (a zone-less time is ambiguous) and is taken as is; an end instant is exclusive.
 */
export function parseWindowEdge(value: string, edge: 'start' | 'end'): number {
  const v = value.trim();
  if (DAY.test(v)) {
    const ms = Date.parse(`${v}T00:00:00Z`);
    if (!Number.isNaN(ms) && new Date(ms).toISOString().startsWith(v)) return edge === 'end' ? ms + 86_400_000 : ms;
  } else if (INSTANT.test(v)) {
    // Date.parse would roll 2024-02-30 over into March; the strict rules refuse it.
    const r = parseInstantText(v);
    if (r.ok) return r.value;
    throw new InputError(`${JSON.stringify(value)}: ${r.problem}`);
  }
  throw new InputError(`${JSON.stringify(value)}: expected YYYY-MM-DD or an ISO-8601 instant with Z or an offset`);
}
