import type { Lake } from './lake.js';

/** A session date's committed raw rows, held as a temporary table on the lake's connection. */
interface CachedDate {
  readonly table: string;
  /** The committed files whose rows the table holds. */
  readonly files: Set<string>;
}

/** Access to one date's cached rows; release() lets the next user refresh the table. */
export interface RawRowLease {
  /** A relation over the date's committed raw rows: the same rows as RawStore.relationSql for that date. */
  readonly sql: string;
  release(): void;
}

/**
 * Keeps the committed raw rows of the most recent session dates in temporary tables of the
 * lake's (long-lived) connection, so that the live chain's intraday transform, which runs every
 * minute over the whole day, reads only the files committed since its previous run instead of
 * every batch file of the day again (hundreds of small files by mid-session, each read several
 * times per run). Raw files are immutable once committed; a file that left the visible set (a
 * compaction, a file marked lost) makes the date's table be rebuilt from the visible files, so
 * the relation always holds exactly the rows of the files visible at lease time. One lease at a
 * time: a user reads a table nobody changes under it.
 */
export class RawRowCache {
  readonly #lake: Pick<Lake, 'run'>;
  readonly #select: (files: readonly string[]) => string;
  readonly #maxDates: number;
  readonly #dates = new Map<string, CachedDate>();
  #queue: Promise<void> = Promise.resolve();
  #tables = 0;

  /** `select(files)`: the projection of relationSql over those files (at least one). */
  constructor(
    lake: Pick<Lake, 'run'>,
    select: (files: readonly string[]) => string,
    options: { maxDates?: number } = {},
  ) {
    this.#lake = lake;
    this.#select = select;
    this.#maxDates = options.maxDates ?? 2;
  }

  /**
   * Brings `key`'s table up to `files()` (the date's visible files, asked once earlier leases are
   * released) and leases it; null when there are none.
   */
  async lease(key: string, files: () => readonly string[]): Promise<RawRowLease | null> {
    let release!: () => void;
    const mine = new Promise<void>((r) => (release = r));
    const before = this.#queue;
    this.#queue = before.then(() => mine);
    await before;
    try {
      const visible = files();
      if (visible.length === 0) {
        release();
        return null;
      }
      const table = await this.#refresh(key, visible);
      let released = false;
      return {
        sql: `(SELECT * FROM ${table})`,
        release: () => {
          if (released) return;
          released = true;
          release();
        },
      };
    } catch (err) {
      release();
      throw err;
    }
  }

  /** Drops every table (the connection is closing, or the cache is no longer wanted). */
  async clear(): Promise<void> {
    await this.#queue;
    for (const key of [...this.#dates.keys()]) await this.#drop(key);
  }

  async #refresh(key: string, files: readonly string[]): Promise<string> {
    const visible = new Set(files);
    let entry = this.#dates.get(key);
    if (entry && [...entry.files].some((f) => !visible.has(f))) {
      await this.#drop(key);
      entry = undefined;
    }
    if (!entry) {
      const table = `ibp_rawcache_${++this.#tables}`;
      await this.#lake.run(`CREATE TEMP TABLE ${table} AS ${this.#select(files)}`);
      entry = { table, files: visible };
      this.#dates.set(key, entry);
      while (this.#dates.size > this.#maxDates) await this.#drop(this.#dates.keys().next().value as string);
    } else {
      const fresh = files.filter((f) => !entry?.files.has(f));
      if (fresh.length > 0) {
        await this.#lake.run(`INSERT INTO ${entry.table} BY NAME ${this.#select(fresh)}`);
        for (const f of fresh) entry.files.add(f);
      }
      // Most recently used last: the oldest date is dropped first.
      this.#dates.delete(key);
      this.#dates.set(key, entry);
    }
    return entry.table;
  }

  async #drop(key: string): Promise<void> {
    const entry = this.#dates.get(key);
    if (!entry) return;
    this.#dates.delete(key);
    await this.#lake.run(`DROP TABLE IF EXISTS ${entry.table}`);
  }
}
