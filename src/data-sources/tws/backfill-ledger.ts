import type { RawStore } from '../../storage/raw-store.js';
import { BACKFILL_LEDGER, type BackfillLedgerRecord, type BackfillStatus, type BackfillWindowRecord } from '../../storage/state-ledgers.js';
import { JsonlLedger } from '../../storage/state-store.js';

/** The ledger's record types are owned by storage/state-ledgers.ts. */
export type { BackfillHeadRecord, BackfillLedgerRecord, BackfillStatus, BackfillWindowRecord } from '../../storage/state-ledgers.js';

/** File name under state/ (the `backfill_ledger` view of `ibpipe sql` reads it). */
export { BACKFILL_LEDGER };

/** Statuses that end a window for good: a later run does not ask for it again. */
const DONE: ReadonlySet<BackfillStatus> = new Set(['ok', 'no-data']);

/** True when a window with this status is done (ok or no-data). */
export function isDone(status: BackfillStatus): boolean {
  return DONE.has(status);
}

/** Identity of a window across runs: instrument, dataset (bar size, series, RTH) and its [start, end). */
export function windowKey(instrument: string, barSize: string, whatToShow: string, useRth: boolean, start: number, end: number): string {
  return [instrument, barSize, whatToShow, useRth ? 1 : 0, start, end].join('|');
}

/** Identity of an instrument's head timestamp: what a head line answers for. */
export function headKey(instrument: string, whatToShow: string, useRth: boolean): string {
  return `${instrument}|${whatToShow}|${useRth ? 1 : 0}`;
}

/** The deciding ledger line per window: the latest, except that a window once done stays done. */
export function latestWindowRecords(records: readonly BackfillLedgerRecord[]): Map<string, BackfillWindowRecord> {
  const out = new Map<string, BackfillWindowRecord>();
  for (const r of records) {
    if (r.type !== 'window') continue;
    const key = windowKey(r.instrument, r.bar_size, r.what_to_show, r.use_rth, r.window_start, r.window_end);
    const prev = out.get(key);
    if (prev && DONE.has(prev.status) && !DONE.has(r.status)) continue;
    out.set(key, r);
  }
  return out;
}

/** A window the backfill ledger records as done whose rows are not in the raw store. */
export interface UnbackedWindow {
  readonly record: BackfillWindowRecord;
  /** Why: the batch is missing from the raw ledger, or its files are gone. */
  readonly reason: string;
  /** Committed files found missing (to be marked lost); empty when the batch was never committed. */
  readonly missingFiles: readonly string[];
}

/**
 * Checks done windows against the raw store (its ledger and the files on disk): the backfill
 * ledger alone is not trusted, since `state/` may have been restored from an older copy or
 * partly lost. Windows without rows (no-data) have nothing to check.
 */
export function unbackedWindows(done: readonly BackfillWindowRecord[], rawStore: RawStore): UnbackedWindow[] {
  const withBatch = done.filter((r) => r.status === 'ok' && r.batch_id !== null);
  if (withBatch.length === 0) return [];
  const presence = rawStore.batchPresence(withBatch.map((r) => r.batch_id as string));
  const out: UnbackedWindow[] = [];
  for (const record of withBatch) {
    const p = presence.get(record.batch_id as string);
    if (!p || !p.committed) out.push({ record, reason: 'batch not committed in state/raw_batches.jsonl', missingFiles: [] });
    else if (p.missing.length > 0) out.push({ record, reason: `raw file missing: ${p.missing.map((m) => m.path).join(', ')}`, missingFiles: p.missing.map((m) => m.path) });
  }
  return out;
}

/**
 * The backfill ledger (state/backfill_windows.jsonl): one line per window outcome per run and
 * one per head timestamp learned, appended whole; read back to resume.
 */
export class BackfillLedger {
  readonly #file: JsonlLedger<BackfillLedgerRecord>;

  constructor(stateDir: string) {
    this.#file = new JsonlLedger<BackfillLedgerRecord>(`${stateDir}/${BACKFILL_LEDGER}`);
  }

  append(record: BackfillLedgerRecord): void {
    this.#file.append(record);
  }

  readAll(): BackfillLedgerRecord[] {
    return this.#file.readAll();
  }

  /** The deciding line per window (latestWindowRecords), keyed by windowKey. */
  latestByWindow(): Map<string, BackfillWindowRecord> {
    return latestWindowRecords(this.readAll());
  }

  /** The head timestamp recorded per headKey (the latest line wins). */
  heads(): Map<string, number | null> {
    const out = new Map<string, number | null>();
    for (const r of this.readAll()) {
      if (r.type === 'head') out.set(headKey(r.instrument, r.what_to_show, r.use_rth), r.head_ts);
    }
    return out;
  }

  /** Window lines recorded in the `windowMs` before `now` (IB's pacing window). */
  recentWindows(now: number, windowMs: number): BackfillWindowRecord[] {
    return this.readAll().filter((r): r is BackfillWindowRecord => r.type === 'window' && r.recorded_at + windowMs > now);
  }
}
