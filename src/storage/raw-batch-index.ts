import type { JsonlLedger } from './state-store.js';

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

export type RawLedgerRecord = BatchRecord | CompactionRecord;

/**
 * The raw batch ledger as an in-memory index: committed batch ids, and the visible files per bar
 * size and session date (batches add files, a compaction swaps the files it replaces for its
 * own). `refresh` applies only the records appended since the last call (the ledger itself reads
 * only appended bytes), so another process's commits are seen on the next call, and a ledger
 * that starts over (replaced, truncated) rebuilds the index from scratch.
 */
export class RawBatchIndex {
  readonly #ledger: JsonlLedger<RawLedgerRecord>;
  #generation = -1;
  #applied = 0;
  readonly #batches = new Set<string>();
  /** bar size token → session date → lake-relative paths of the visible files. */
  readonly #files = new Map<string, Map<string, Set<string>>>();

  constructor(ledger: JsonlLedger<RawLedgerRecord>) {
    this.#ledger = ledger;
  }

  /** Brings the index up to date with the ledger file. */
  refresh(): this {
    const records = this.#ledger.readAll();
    if (this.#ledger.generation !== this.#generation) {
      this.#generation = this.#ledger.generation;
      this.#applied = 0;
      this.#batches.clear();
      this.#files.clear();
    }
    for (; this.#applied < records.length; this.#applied++) this.#apply(records[this.#applied] as RawLedgerRecord);
    return this;
  }

  hasBatch(batchId: string): boolean {
    return this.#batches.has(batchId);
  }

  /** Visible files (lake-relative, sorted) per session date, dates ascending; only `dates` when given. */
  visibleFiles(barSizeToken: string, dates?: readonly string[]): Map<string, string[]> {
    const perDate = this.#files.get(barSizeToken);
    const out = new Map<string, string[]>();
    if (!perDate) return out;
    const wanted = dates ? [...new Set(dates)].filter((d) => perDate.has(d)) : [...perDate.keys()];
    for (const d of wanted.sort()) out.set(d, [...(perDate.get(d) as Set<string>)].sort());
    return out;
  }

  #apply(r: RawLedgerRecord): void {
    let perDate = this.#files.get(r.bar_size);
    if (!perDate) this.#files.set(r.bar_size, (perDate = new Map()));
    const at = (date: string): Set<string> => {
      let s = (perDate as Map<string, Set<string>>).get(date);
      if (!s) (perDate as Map<string, Set<string>>).set(date, (s = new Set()));
      return s;
    };
    if (r.type === 'batch') {
      this.#batches.add(r.batch_id);
      for (const f of r.files) at(f.date).add(f.path);
    } else {
      const s = at(r.date);
      for (const p of r.replaces) s.delete(p);
      s.add(r.path);
    }
  }
}
