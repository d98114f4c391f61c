import { statSync } from 'node:fs';

interface Entry<V> {
  readonly size: number;
  readonly mtimeMs: number;
  readonly value: V;
}

/** A file's identity for caching: replaced files (atomic rename) get a new mtime and usually size. */
export interface FileStamp {
  readonly size: number;
  readonly mtimeMs: number;
}

export function fileStamp(file: string): FileStamp | null {
  try {
    const st = statSync(file);
    return { size: st.size, mtimeMs: st.mtimeMs };
  } catch {
    return null;
  }
}

/**
 * Aggregates computed from lake files, cached per file and valid while the file's size and
 * mtime are unchanged. Lake partitions are replaced whole by rename, so a changed file always
 * shows a new stamp; the stamp is taken before reading, so a file replaced mid-read is simply
 * read again next time. Least recently used entries go first beyond `maxFiles`.
 */
export class FileAggregateCache<V> {
  readonly #entries = new Map<string, Entry<V>>();
  readonly #maxFiles: number;

  constructor(maxFiles = 4096) {
    this.#maxFiles = maxFiles;
  }

  /**
   * Values for `files` (missing files are left out). `load` is called once with every file
   * whose cached value is stale or absent and must return a value for each of them.
   */
  async getMany(files: readonly string[], load: (stale: string[]) => Promise<Map<string, V>>): Promise<Map<string, V>> {
    const out = new Map<string, V>();
    const stale: string[] = [];
    const stamps = new Map<string, FileStamp>();
    for (const f of files) {
      const stamp = fileStamp(f);
      if (!stamp) continue;
      const hit = this.#entries.get(f);
      if (hit && hit.size === stamp.size && hit.mtimeMs === stamp.mtimeMs) {
        this.#entries.delete(f);
        this.#entries.set(f, hit);
        out.set(f, hit.value);
      } else {
        stale.push(f);
        stamps.set(f, stamp);
      }
    }
    if (stale.length > 0) {
      const loaded = await load(stale);
      for (const f of stale) {
        const value = loaded.get(f);
        const stamp = stamps.get(f);
        if (value === undefined || !stamp) continue;
        this.#entries.delete(f);
        this.#entries.set(f, { ...stamp, value });
        out.set(f, value);
      }
      while (this.#entries.size > this.#maxFiles) {
        const oldest = this.#entries.keys().next().value;
        if (oldest === undefined) break;
        this.#entries.delete(oldest);
      }
    }
    return out;
  }

  get size(): number {
    return this.#entries.size;
  }
}
