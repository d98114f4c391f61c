/**
 * Decides when a keepUpToDate bar is final (tws-protocol.md §4.2). IB never says "bar closed":
 * it repeats the current bar's start with values so far, so bar T is final when
 *  - the first update for a later bar arrives, or
 *  - the clock passes T + bar + grace with no newer update (session end, quiet market).
 * Pure: the caller passes the instant; nothing here reads a clock.
 */
export interface LiveBarValues {
  /** Bar start, epoch ms UTC. */
  readonly ts: number;
  readonly open: number;
  readonly high: number;
  readonly low: number;
  readonly close: number;
  readonly volume: number;
  readonly wap: number | null;
  readonly tradeCount: number | null;
}

export class LiveBarFinalizer<T extends LiveBarValues = LiveBarValues> {
  readonly barMs: number;
  readonly graceMs: number;
  #current: T | undefined;
  #lastFinalTs: number | undefined;
  #lastFinal: T | undefined;
  #lastFinalByGrace = false;
  #late = 0;
  #corrections = 0;

  constructor(barMs: number, graceMs: number, lastFinalTs?: number) {
    this.barMs = barMs;
    this.graceMs = graceMs;
    this.#lastFinalTs = lastFinalTs;
  }

  /** Start of the last bar emitted as final, if any. */
  get lastFinalTs(): number | undefined {
    return this.#lastFinalTs;
  }

  /**
   * True when the last final bar was closed by the grace timer rather than by the next bar's
   * first update: its values are the last ones seen, which a stream that went silent may have cut short.
   */
  get lastFinalByGrace(): boolean {
    return this.#lastFinalByGrace;
  }

  /** The bar still being built, if any. */
  get current(): T | undefined {
    return this.#current;
  }

  /** Updates that arrived for a bar already final (ignored). */
  get lateUpdates(): number {
    return this.#late;
  }

  /** Bars passed on again because an update changed them after their grace period ended. */
  get corrections(): number {
    return this.#corrections;
  }

  /**
   * The first answer of a (re)subscription: every bar but the newest is complete; the newest may
   * still be building. Bars at or before the last final one are ignored (the overlap IB repeats).
   */
  onInitialBatch(bars: readonly T[], now: number): T[] {
    const sorted = [...bars].sort((a, b) => a.ts - b.ts);
    const out: T[] = [];
    for (const bar of sorted) out.push(...this.onUpdate(bar, now));
    return out;
  }

  /** One update (or bar) in arrival order; returns the bars that became final. */
  onUpdate(bar: T, now: number): T[] {
    if (this.#lastFinalTs !== undefined && bar.ts <= this.#lastFinalTs) {
      // The grace period ran out before this bar's last update arrived (a stalled link or
      // process): pass the newer values on once more; the raw store keeps the latest ingestion.
      if (bar.ts === this.#lastFinal?.ts && this.#lastFinalByGrace && !sameValues(bar, this.#lastFinal)) {
        this.#lastFinal = bar;
        this.#corrections++;
        return [bar];
      }
      this.#late++;
      return [];
    }
    const out: T[] = [];
    if (this.#current && bar.ts > this.#current.ts) out.push(this.#finalize(false));
    if (!this.#current || bar.ts >= this.#current.ts) this.#current = bar;
    out.push(...this.onTick(now));
    return out;
  }

  /** Finalizes the current bar once its grace period after the bar end has passed. */
  onTick(now: number): T[] {
    if (this.#current && now >= this.#current.ts + this.barMs + this.graceMs) return [this.#finalize(true)];
    return [];
  }

  /** Instant at which onTick would finalize the current bar, if there is one. */
  nextDeadline(): number | undefined {
    return this.#current ? this.#current.ts + this.barMs + this.graceMs : undefined;
  }

  /** Drops the bar being built (its stream broke); the gap repair will fetch it whole. */
  discardCurrent(): void {
    this.#current = undefined;
  }

  #finalize(byGrace: boolean): T {
    const bar = this.#current as T;
    this.#current = undefined;
    this.#lastFinalTs = bar.ts;
    this.#lastFinal = bar;
    this.#lastFinalByGrace = byGrace;
    return bar;
  }
}

function sameValues(a: LiveBarValues, b: LiveBarValues): boolean {
  return a.open === b.open && a.high === b.high && a.low === b.low && a.close === b.close && a.volume === b.volume && a.wap === b.wap && a.tradeCount === b.tradeCount;
}
