import type { Lake } from './lake.js';

/**
 * Every ledger under the lake's `state/` folder, named once: its file, the `ibpipe sql` view over
 * it, and the module that appends to it (which declares the record type of its lines). The stages,
 * the SQL views, the status report and the dashboard find a ledger here, never by a literal.
 * Ledgers are JSON lines, appended whole (`src/storage/state-store.ts`), readable by any engine.
 */
export const STATE_LEDGERS = {
  /** Committed raw batches (`RawLedgerRecord`, storage/raw-store.ts). */
  raw_batches: { file: 'raw_batches.jsonl', view: 'raw_batches' },
  /** Backfill windows and their outcome (`BackfillLedgerRecord`, data-sources/tws/backfill-ledger.ts). */
  backfill_windows: { file: 'backfill_windows.jsonl', view: 'backfill_ledger' },
  /** Every historical request sent to IB (`RequestLogRecord`, data-sources/tws/request-log.ts). */
  backfill_requests: { file: 'backfill_requests.jsonl', view: null },
  /** How each live gap's repair ended (`LiveGapRecord`, data-sources/tws/live-ingest.ts). */
  live_gaps: { file: 'live_gaps.jsonl', view: 'live_gaps' },
  /** Per-source, per-symbol watermarks (data-sources/watermark-store.ts). */
  source_watermarks: { file: 'source_watermarks.jsonl', view: 'source_watermarks' },
  /** DQ results per transform run and date (`DqResultRecord`, pipelines/transform-pipeline.ts). */
  dq_results: { file: 'dq_results.jsonl', view: 'dq_results' },
  /** Feature-group versions and their definition hashes (`FeatureRegistryRecord`, storage/feature-store.ts). */
  feature_registry: { file: 'feature_registry.jsonl', view: 'feature_registry' },
  /** Every job run, start and end (`JobRunRecord`, ops/job-ledger.ts). */
  job_runs: { file: 'job_runs.jsonl', view: 'job_runs' },
} as const satisfies Record<string, { readonly file: string; readonly view: string | null }>;

export type StateLedgerName = keyof typeof STATE_LEDGERS;

export const BACKFILL_LEDGER = STATE_LEDGERS.backfill_windows.file;
export const LIVE_GAP_LEDGER = STATE_LEDGERS.live_gaps.file;
export const REQUEST_LOG = STATE_LEDGERS.backfill_requests.file;

/** Where a ledger lives in this lake. */
export function stateLedgerPath(lake: Lake, name: StateLedgerName): string {
  return lake.path('state', STATE_LEDGERS[name].file);
}
