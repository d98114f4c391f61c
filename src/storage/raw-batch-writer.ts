import type { Clock, TimerHandle } from '../core/clock.js';
import type { RawBatchPart } from './raw-bar-columns.js';
import type { GroupWriteResult, WriteBatchResult } from './raw-store.js';

/** When a forming group is committed. */
export interface GroupCommitPolicy {
  /** Close the group once it holds this many rows. */
  readonly maxRows: number;
  /** Close the group this long (Clock time) after its first part arrived, however small. */
  readonly maxDelayMs: number;
}

/** Backfill pages: a couple of seconds or a quarter of a million-row COPY, whichever comes first. */
export const DEFAULT_GROUP_COMMIT: GroupCommitPolicy = { maxRows: 50_000, maxDelayMs: 2_000 };

/** Where groups go (RawStore satisfies it). */
export interface GroupSink {
  writeBatchGroup(parts: readonly RawBatchPart[], ingestionTs: number): Promise<GroupWriteResult>;
}

/** A submitted part: `committed` settles when its group is committed (or fails). */
export interface PartTicket {
  readonly committed: Promise<WriteBatchResult & { groupId: string | null }>;
}

interface Pending {
  readonly part: RawBatchPart;
  resolve(r: WriteBatchResult & { groupId: string | null }): void;
  reject(err: unknown): void;
}

/**
 * Group commit of raw batches: parts (backfill pages) are coalesced and written as one raw
 * batch per commit, closed by rows or after `maxDelayMs` on the Clock. Commits run one at a
 * time in submission order; each part's ticket settles only after its group's ledger line is
 * written, so a caller that records progress on `committed` never records ahead of the data.
 * Memory stays bounded: `submit` waits while a closed group is already queued behind a commit.
 */
export class RawBatchWriter {
  readonly #sink: GroupSink;
  readonly #clock: Clock;
  readonly #policy: GroupCommitPolicy;
  #forming: Pending[] = [];
  #formingRows = 0;
  #timer: TimerHandle | undefined;
  readonly #closed: Pending[][] = [];
  #committing: Promise<void> | null = null;
  #waiters: Array<() => void> = [];
  #idle: Array<() => void> = [];
  #commits = 0;

  constructor(sink: GroupSink, clock: Clock, policy: GroupCommitPolicy = DEFAULT_GROUP_COMMIT) {
    if (!(policy.maxRows > 0) || !(policy.maxDelayMs >= 0)) throw new RangeError(`group commit policy needs maxRows > 0 and maxDelayMs >= 0, got ${JSON.stringify(policy)}`);
    this.#sink = sink;
    this.#clock = clock;
    this.#policy = policy;
  }

  /** Groups committed so far. */
  get commits(): number {
    return this.#commits;
  }

  /** Rows waiting in the forming group. */
  get pendingRows(): number {
    return this.#formingRows;
  }

  /** Queues a part; resolves once it is accepted (after waiting for room when a full group is queued). */
  async submit(part: RawBatchPart): Promise<PartTicket> {
    while (this.#closed.length > 0) await new Promise<void>((r) => this.#waiters.push(r));
    let entry: Pending | undefined;
    const committed = new Promise<WriteBatchResult & { groupId: string | null }>((resolve, reject) => {
      entry = { part, resolve, reject };
    });
    // A failed group is reported through each ticket; nobody may be listening yet.
    committed.catch(() => undefined);
    this.#forming.push(entry as Pending);
    this.#formingRows += part.events.length;
    if (this.#formingRows >= this.#policy.maxRows) this.#close();
    else if (this.#timer === undefined) this.#timer = this.#clock.setTimeout(() => this.#close(), this.#policy.maxDelayMs);
    return { committed };
  }

  /** Commits whatever is queued now and resolves when every submitted part's group has settled. */
  async flush(): Promise<void> {
    if (this.#forming.length > 0) this.#close();
    if (this.#committing === null && this.#closed.length === 0) return;
    await new Promise<void>((r) => this.#idle.push(r));
  }

  #close(): void {
    this.#clock.clearTimeout(this.#timer);
    this.#timer = undefined;
    if (this.#forming.length === 0) return;
    this.#closed.push(this.#forming);
    this.#forming = [];
    this.#formingRows = 0;
    this.#pump();
  }

  #pump(): void {
    if (this.#committing !== null) return;
    const group = this.#closed.shift();
    if (!group) {
      for (const r of this.#idle.splice(0)) r();
      return;
    }
    for (const w of this.#waiters.splice(0)) w();
    this.#committing = this.#commit(group).finally(() => {
      this.#committing = null;
      this.#pump();
    });
  }

  async #commit(group: Pending[]): Promise<void> {
    try {
      const res = await this.#sink.writeBatchGroup(
        group.map((p) => p.part),
        this.#clock.now(),
      );
      this.#commits++;
      group.forEach((p, i) => p.resolve({ ...(res.parts[i] as WriteBatchResult), groupId: res.groupId }));
    } catch (err) {
      for (const p of group) p.reject(err);
    }
  }
}
