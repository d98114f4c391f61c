import type { BarEvent } from '../../core/bars.js';
import { IbpipeError } from '../../core/errors.js';
import type { RawBatchWriter } from '../../storage/raw-batch-writer.js';

/** One fetched backfill page on its way to the raw store; the driver records its window when the sink reports back. */
export interface BackfillPage {
  readonly batchId: string;
  readonly events: readonly BarEvent[];
  /** The dataset's own what_to_show (its raw partition); null: the classic partition. */
  readonly series: string | null;
  readonly label: string;
  /** Called once, after the page is committed (written now or found already there); may throw (its ledger line could not be written). */
  onCommitted(): void;
  /** Called once if the page's write failed. */
  onFailed(err: unknown): void;
}

/**
 * Where the backfill driver's pages go: a group committer (`ingestHistoricalRange`) or the
 * consumer of `run()` (`drainIngestor`). Both call back each page exactly once, never before it
 * is committed, so a window's ledger line never runs ahead of its rows.
 */
export interface BackfillPageSink {
  /** Takes a page; resolves once it is accepted (it may wait, to bound the pages held in memory). */
  submit(page: BackfillPage): Promise<void>;
  /** Resolves when every accepted page has been called back (or given up by a consumer that left). */
  drain(): Promise<void>;
  /** Raw ledger lines written so far for the pages. */
  readonly commits: number;
}

/** The pages of one run coalesced by a RawBatchWriter (one file per date and one raw ledger line per group). */
export class GroupCommitPageSink implements BackfillPageSink {
  readonly #writer: RawBatchWriter;
  readonly #settling: Promise<void>[] = [];

  constructor(writer: RawBatchWriter) {
    this.#writer = writer;
  }

  get commits(): number {
    return this.#writer.commits;
  }

  async submit(page: BackfillPage): Promise<void> {
    const ticket = await this.#writer.submit({ batchId: page.batchId, events: page.events, series: page.series });
    // The callbacks report their own failures to the driver; nothing is left unhandled here.
    this.#settling.push(ticket.committed.then(() => page.onCommitted(), (err: unknown) => page.onFailed(err)).catch(() => undefined));
  }

  async drain(): Promise<void> {
    await this.#writer.flush();
    await Promise.all(this.#settling);
  }
}

/** The consumer of `run()` left before taking or acknowledging a page: it is not committed by this run. */
export class PageAbandonedError extends IbpipeError {
  readonly code = 'BACKFILL_PAGE_ABANDONED';
  readonly retryable = false;
  constructor() {
    super('the consumer stopped taking backfill pages');
  }
}

interface Offer {
  readonly page: BackfillPage;
  taken(): void;
  dropped(err: unknown): void;
}

/**
 * Hands pages to the consumer of an `Ingestor.run()` generator one at a time: `submit` resolves
 * when the consumer takes the page (so each worker holds at most the page it fetched), and the
 * page is committed when the consumer acknowledges it after its raw write.
 */
export class PageHandOff implements BackfillPageSink {
  #offers: Offer[] = [];
  #takers: Array<(page: BackfillPage | undefined) => void> = [];
  readonly #outstanding = new Set<BackfillPage>();
  #drainers: Array<() => void> = [];
  #closed = false;
  #abandoned = false;
  #commits = 0;

  get commits(): number {
    return this.#commits;
  }

  submit(page: BackfillPage): Promise<void> {
    if (this.#abandoned) return Promise.reject(new PageAbandonedError());
    return new Promise<void>((resolve, reject) => {
      const offer: Offer = { page, taken: resolve, dropped: reject };
      const taker = this.#takers.shift();
      if (taker) this.#give(offer, taker);
      else this.#offers.push(offer);
    });
  }

  /** The next page for the consumer; undefined once the driver has ended and every page was taken. */
  take(): Promise<BackfillPage | undefined> {
    const offer = this.#offers.shift();
    if (offer) return new Promise((resolve) => this.#give(offer, resolve));
    if (this.#closed || this.#abandoned) return Promise.resolve(undefined);
    return new Promise((resolve) => this.#takers.push(resolve));
  }

  /** The consumer committed the page: its window is recorded now (throws if that fails). */
  acknowledge(page: BackfillPage): void {
    if (!this.#outstanding.delete(page)) return;
    this.#commits++;
    try {
      page.onCommitted();
    } finally {
      this.#settle();
    }
  }

  async drain(): Promise<void> {
    if (this.#idle()) return;
    await new Promise<void>((resolve) => this.#drainers.push(resolve));
  }

  /** The driver has ended: a consumer waiting for a page gets none. */
  close(): void {
    this.#closed = true;
    for (const t of this.#takers.splice(0)) t(undefined);
  }

  /** The consumer left: pages offered or handed out are given up (the next run produces them again). */
  abandon(): void {
    this.#abandoned = true;
    for (const o of this.#offers.splice(0)) o.dropped(new PageAbandonedError());
    this.#outstanding.clear();
    for (const t of this.#takers.splice(0)) t(undefined);
    this.#settle();
  }

  #give(offer: Offer, to: (page: BackfillPage) => void): void {
    this.#outstanding.add(offer.page);
    offer.taken();
    to(offer.page);
  }

  #idle(): boolean {
    return this.#abandoned || (this.#offers.length === 0 && this.#outstanding.size === 0);
  }

  #settle(): void {
    if (this.#idle()) for (const d of this.#drainers.splice(0)) d();
  }
}
