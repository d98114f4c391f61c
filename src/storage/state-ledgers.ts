import type { BarSize } from '../core/bars.js';
import type { JobParams } from '../core/job.js';
import type { Lake } from './lake.js';
import { JsonlLedger } from './state-store.js';

/**
 * Every ledger under the lake's `state/` folder, named once with the record type of its lines:
 * its file, the `ibpipe sql` view over it, and (below) what one line holds. The writers, the
 * stages, the SQL views, the status report and the dashboard find a ledger and its record type
 * here, never by a literal or in another stage. Ledgers are JSON lines, appended whole
 * (`src/storage/state-store.ts`), readable by any engine.
 */
export const STATE_LEDGERS = {
  /** Committed raw batches (`RawLedgerRecord`; written by storage/raw-store.ts). */
  raw_batches: { file: 'raw_batches.jsonl', view: 'raw_batches' },
  /** Backfill windows and their outcome (`BackfillLedgerRecord`; written by data-sources/tws/backfill-ledger.ts). */
  backfill_windows: { file: 'backfill_windows.jsonl', view: 'backfill_ledger' },
  /** Every historical request sent to IB (`RequestLogRecord`; written by data-sources/tws/request-log.ts). */
  backfill_requests: { file: 'backfill_requests.jsonl', view: null },
  /** How each live gap's repair ended (`LiveGapRecord`; written by data-sources/tws/live-ingest.ts). */
  live_gaps: { file: 'live_gaps.jsonl', view: 'live_gaps' },
  /** Per-source, per-symbol watermarks (`WatermarkRecord`; written by data-sources/watermark-store.ts). */
  source_watermarks: { file: 'source_watermarks.jsonl', view: 'source_watermarks' },
  /** DQ results per transform run and date (`DqResultRecord`; written by the transform). */
  dq_results: { file: 'dq_results.jsonl', view: 'dq_results' },
  /** Feature-group versions and their definition hashes (`FeatureRegistryRecord`, storage/feature-store.ts). */
  feature_registry: { file: 'feature_registry.jsonl', view: 'feature_registry' },
  /** Every job run, start and end (`JobRunRecord`; written by ops/job-ledger.ts). */
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

/** A ledger of this lake, typed by its record (feature_registry's record is still declared by its store). */
export function openStateLedger<N extends Exclude<StateLedgerName, 'feature_registry'>>(lake: Lake, name: N): JsonlLedger<StateLedgerRecords[N]> {
  return new JsonlLedger<StateLedgerRecords[N]>(stateLedgerPath(lake, name));
}

// ---- raw_batches -------------------------------------------------------------------------

/** A committed raw batch: one line of `state/raw_batches.jsonl`. */
export interface BatchRecord {
  type: 'batch';
  batch_id: string;
  bar_size: string;
  source: string;
  rows: number;
  ingestion_ts: number;
  /** Lake-relative paths, one per session date. */
  files: { date: string; path: string; rows: number }[];
  /**
   * Batches committed together in these files (a group commit, or a re-write of a batch's lost
   * dates); each row's `batch_id` column names its part. Absent: the record is one batch, `batch_id`.
   */
  parts?: { batch_id: string; rows: number; dates: string[] }[];
}

/** A committed compaction: `path` replaces the files in `replaces` for readers. */
export interface CompactionRecord {
  type: 'compaction';
  bar_size: string;
  date: string;
  path: string;
  rows: number;
  replaces: string[];
}

/** A committed file found missing (a restored or damaged lake): hidden from readers from now on. */
export interface LostRecord {
  type: 'lost';
  bar_size: string;
  path: string;
  reason: string;
  detected_at: number;
}

export type RawLedgerRecord = BatchRecord | CompactionRecord | LostRecord;

// ---- backfill_windows --------------------------------------------------------------------

export type BackfillStatus = 'ok' | 'no-data' | 'pacing' | 'error' | 'timeout';

/** One line of the backfill ledger (state/backfill_windows.jsonl): the outcome of one window in one run. */
export interface BackfillWindowRecord {
  readonly type: 'window';
  readonly instrument: string;
  readonly con_id: number;
  readonly bar_size: BarSize;
  readonly what_to_show: string;
  readonly use_rth: boolean;
  readonly session_date: string;
  /** Window [start, end) as epoch ms UTC, and as IB was asked for it. */
  readonly window_start: number;
  readonly window_end: number;
  readonly end_date_time: string;
  readonly duration: string;
  readonly status: BackfillStatus;
  /** Bars stored (null when a crash left the batch committed but this line unwritten). */
  readonly bars: number | null;
  readonly expected_bars: number;
  readonly batch_id: string | null;
  /** Requests made for this window over all runs. */
  readonly attempts: number;
  readonly error?: string;
  readonly run_id: string;
  readonly recorded_at: number;
}

/** The head timestamp IB reported, so a resumed backfill does not ask again. */
export interface BackfillHeadRecord {
  readonly type: 'head';
  readonly instrument: string;
  readonly con_id: number;
  readonly what_to_show: string;
  readonly use_rth: boolean;
  readonly head_ts: number | null;
  readonly recorded_at: number;
}

export type BackfillLedgerRecord = BackfillWindowRecord | BackfillHeadRecord;

// ---- backfill_requests -------------------------------------------------------------------

/** One historical request as it went out (`at` epoch ms); read back tolerantly (a torn or foreign line is skipped). */
export interface RequestLogRecord {
  readonly at: number;
  readonly what_to_show: string;
}

// ---- live_gaps ---------------------------------------------------------------------------

/**
 * One line of state/live_gaps.jsonl: how a live gap's repair ended. A `failed` line whose gap
 * has no later `repaired` line is a hole `ibpipe status` reports.
 */
export interface LiveGapRecord {
  readonly type: 'live_gap';
  readonly symbol: string;
  /** The bar dataset of the stream; absent for the classic dataset's stream. */
  readonly dataset?: string;
  /** [from, to) epoch ms UTC. */
  readonly from: number;
  readonly to: number;
  readonly status: 'repaired' | 'failed';
  /** Bars the repair stored (repaired) and bars the calendar expects in the gap. */
  readonly bars: number | null;
  readonly expected: number | null;
  readonly attempts: number;
  readonly error?: string;
  readonly recorded_at: number;
}

// ---- source_watermarks -------------------------------------------------------------------

/** How far a source has been ingested for one symbol. */
export interface Watermark {
  /** Start of the newest ingested bar, epoch ms UTC (after any ts_label shift). */
  readonly ts: number;
  /**
   * The same position in the source's own representation (e.g. `2024-01-02 14:30:00.000123+00`),
   * so resuming compares exactly what the source stores, not a rounded copy.
   */
  readonly key: string;
}

/** One committed batch's advance of a source's watermarks. */
export interface WatermarkRecord {
  source: string;
  batch_id: string;
  /** Instant the advance was recorded (epoch ms). */
  at: number;
  marks: Record<string, Watermark>;
}

// ---- dq_results --------------------------------------------------------------------------

/** Failure count of one rule in one validation run (data-quality's DqRuleMetrics narrows severity and action). */
export interface DqRuleRecord {
  readonly name: string;
  readonly type: string;
  readonly severity: string;
  readonly action: string;
  readonly failures: number;
}

/** Bars a run expected, observed, imputed and left unfilled, summed over its sessions. */
export interface GapTotals {
  readonly expected: number;
  readonly observed: number;
  readonly imputed: number;
  readonly unfilled: number;
  readonly overLimitGaps: number;
}

/** One failure as the DQ ledger keeps it: located by symbol and bar, not by row index. */
export interface DqFailureRecord {
  rule: string;
  severity: string;
  action: string;
  symbol: string | null;
  /** Starts with the bar's ISO instant when the failure is about one bar. */
  reason: string;
}

/** One line of `state/dq_results.jsonl` per transform run and date. */
export interface DqResultRecord {
  run_at: number;
  dataset: string;
  target: string;
  date: string;
  symbols: string[];
  as_of: number;
  /** True for the session's final transform (the whole grid); false for an intraday one, cut at the data. */
  final: boolean;
  rows: number;
  /** `ok`, or the worst severity among the failing rules (data-quality's DqOverallSeverity). */
  severity: string;
  published: boolean;
  failing_rules: string[];
  rules: DqRuleRecord[];
  null_rates: Record<string, number>;
  quarantined: number;
  outliers: number;
  gaps: GapTotals;
  sessions: { symbol: string; date: string; expected: number; observed: number; imputed: number; unfilled: number; longest_gap: number; over_limit_gaps: number }[];
  failures_total: number;
  /** The first MAX_LEDGER_FAILURES failures; the quarantine file holds every rejected row. */
  failures: DqFailureRecord[];
}

// ---- job_runs ----------------------------------------------------------------------------

export type JobRunStatus = 'running' | 'ok' | 'failed' | 'skipped' | 'abandoned';
/** Why a run started; `live` is the daemon's live chain (the bars of an interval were committed). */
export type JobTrigger = 'schedule' | 'catch_up' | 'manual' | 'dependency' | 'retry' | 'recovery' | 'live';

export interface JobRunRecord {
  run_id: string;
  job: string;
  kind: string;
  params: JobParams;
  status: JobRunStatus;
  trigger: JobTrigger;
  attempt: number;
  /** Fire time this run belongs to (epoch ms), for catch-up bookkeeping. */
  scheduled_for: number | null;
  started_at: number;
  ended_at: number | null;
  duration_ms: number | null;
  counts: Record<string, number>;
  error: { code: string; message: string; retryable: boolean } | null;
  reason?: string;
}

/** The record type of each ledger's lines. */
export interface StateLedgerRecords {
  raw_batches: RawLedgerRecord;
  backfill_windows: BackfillLedgerRecord;
  backfill_requests: RequestLogRecord;
  live_gaps: LiveGapRecord;
  source_watermarks: WatermarkRecord;
  dq_results: DqResultRecord;
  job_runs: JobRunRecord;
}
