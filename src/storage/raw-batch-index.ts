import type { RawLedgerRecord } from './state-ledgers.js';
import type { JsonlLedger } from './state-store.js';

export type { BatchRecord, CompactionRecord, LostRecord, RawLedgerRecord } from './state-ledgers.js';

/** Where a committed batch's rows are: per session date, the file holding them now (followed through compactions). */
export interface BatchLocation {
  readonly date: string;
  /** Lake-relative path. */
  readonly path: string;
  /** False when the file was replaced by nothing visible or marked lost. */
  readonly visible: boolean;
}

const DATE_IN_PATH = /(?:^|\/)date=(\d{4}-\d{2}-\d{2})\//;

/**
 * The raw batch ledger as an in-memory index: committed batch ids (group-commit parts included)
 * with the file of each of their session dates, and the visible files per bar size and session
 * date (batches add files, a compaction swaps the files it replaces for its own, a `lost` record
 * hides a file). `refresh` applies only the records appended since the last call (the ledger
 * itself reads only appended bytes), so another process's commits are seen on the next call, and
 * a ledger that starts over (replaced, truncated) rebuilds the index from scratch.
 */
export class RawBatchIndex {
  readonly #ledger: JsonlLedger<RawLedgerRecord>;
  #generation = -1;
  #applied = 0;
  /** batch id (a part's id for group commits) → session date → lake-relative path as committed. */
  readonly #batches = new Map<string, Map<string, string>>();
  /** bar size token → session date → lake-relative paths of the visible files. */
  readonly #files = new Map<string, Map<string, Set<string>>>();
  readonly #visible = new Set<string>();
  /** Every path a record ever named (committed, compacted, replaced or lost). */
  readonly #known = new Set<string>();
  readonly #replacedBy = new Map<string, string>();

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
      this.#visible.clear();
      this.#known.clear();
      this.#replacedBy.clear();
    }
    for (; this.#applied < records.length; this.#applied++) this.#apply(records[this.#applied] as RawLedgerRecord);
    return this;
  }

  /** Whether a ledger line names the batch (whether or not its files are still there). */
  isCommitted(batchId: string): boolean {
    return this.#batches.has(batchId);
  }

  /** The files holding a committed batch's rows, per session date; null when not committed. */
  locate(batchId: string): BatchLocation[] | null {
    const files = this.#batches.get(batchId);
    if (!files) return null;
    const out: BatchLocation[] = [];
    for (const [date, path] of files) {
      let p = path;
      for (let hops = 0; !this.#visible.has(p) && this.#replacedBy.has(p) && hops < 1000; hops++) p = this.#replacedBy.get(p) as string;
      out.push({ date, path: p, visible: this.#visible.has(p) });
    }
    return out;
  }

  /** Whether any ledger record names this lake-relative path. */
  isKnownPath(path: string): boolean {
    return this.#known.has(path);
  }

  /** The `bar_size=` partition values any ledger record names, sorted. */
  partitions(): string[] {
    return [...this.#files.keys()].sort();
  }

  /** Visible files (lake-relative, sorted) per session date, dates ascending; only `dates` when given. */
  visibleFiles(barSizeToken: string, dates?: readonly string[]): Map<string, string[]> {
    const perDate = this.#files.get(barSizeToken);
    const out = new Map<string, string[]>();
    if (!perDate) return out;
    const wanted = dates ? [...new Set(dates)].filter((d) => perDate.has(d)) : [...perDate.keys()];
    for (const d of wanted.sort()) {
      const s = perDate.get(d) as Set<string>;
      if (s.size > 0) out.set(d, [...s].sort());
    }
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
      const pathOf = new Map<string, string>();
      for (const f of r.files) {
        at(f.date).add(f.path);
        this.#visible.add(f.path);
        this.#known.add(f.path);
        pathOf.set(f.date, f.path);
      }
      for (const part of r.parts ?? [{ batch_id: r.batch_id, dates: r.files.map((f) => f.date) }]) {
        let m = this.#batches.get(part.batch_id);
        if (!m) this.#batches.set(part.batch_id, (m = new Map()));
        for (const d of part.dates) m.set(d, pathOf.get(d) ?? '');
      }
    } else if (r.type === 'compaction') {
      const s = at(r.date);
      for (const p of r.replaces) {
        s.delete(p);
        this.#visible.delete(p);
        this.#known.add(p);
        this.#replacedBy.set(p, r.path);
      }
      s.add(r.path);
      this.#visible.add(r.path);
      this.#known.add(r.path);
    } else {
      this.#visible.delete(r.path);
      this.#known.add(r.path);
      const date = DATE_IN_PATH.exec(r.path)?.[1];
      if (date !== undefined) perDate.get(date)?.delete(r.path);
      else for (const s of perDate.values()) s.delete(r.path);
    }
  }
}
