import type { Watermark, WatermarkRecord } from '../storage/state-ledgers.js';
import { JsonlLedger } from '../storage/state-store.js';

export type { Watermark } from '../storage/state-ledgers.js';

/**
 * Per-source, per-symbol watermarks in `state/source_watermarks.jsonl`. One line per committed
 * batch; the latest line that mentions a symbol wins. A watermark only moves forward.
 */
export class WatermarkStore {
  readonly #ledger: JsonlLedger<WatermarkRecord>;

  constructor(file: string) {
    this.#ledger = new JsonlLedger<WatermarkRecord>(file);
  }

  /** Current watermarks of a source, by symbol. */
  read(source: string): Map<string, Watermark> {
    const out = new Map<string, Watermark>();
    for (const r of this.#ledger.readAll()) {
      if (r.source !== source) continue;
      for (const [symbol, mark] of Object.entries(r.marks)) {
        const prev = out.get(symbol);
        if (!prev || mark.ts >= prev.ts) out.set(symbol, mark);
      }
    }
    return out;
  }

  /** Records the positions reached by a committed batch (a no-op when nothing moves). */
  advance(source: string, batchId: string, at: number, marks: ReadonlyMap<string, Watermark>): void {
    const current = this.read(source);
    const moved: Record<string, Watermark> = {};
    for (const [symbol, mark] of marks) {
      const prev = current.get(symbol);
      // Equal ms with a different key: a sub-millisecond position later in the same millisecond.
      if (!prev || mark.ts > prev.ts || (mark.ts === prev.ts && mark.key !== prev.key)) moved[symbol] = { ts: mark.ts, key: mark.key };
    }
    if (Object.keys(moved).length === 0) return;
    this.#ledger.append({ source, batch_id: batchId, at, marks: moved });
  }
}
