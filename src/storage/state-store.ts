import { closeSync, existsSync, fsyncSync, mkdirSync, openSync, readFileSync, readSync, statSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';

/**
 * An append-only JSON-lines ledger under the lake's `state/` folder (batches, backfill windows,
 * job runs, DQ results, feature registry). Plain files, so any process — `ibpipe sql`, DuckDB's
 * read_json, a shell — can read state while the daemon writes it.
 *
 * Each append is one `write` of one line with O_APPEND and an fsync: a crash leaves at most a
 * torn last line, which readers skip.
 */
export class JsonlLedger<T extends object> {
  readonly file: string;
  #cache: { size: number; mtimeMs: number; records: T[] } | null = null;

  constructor(file: string) {
    this.file = file;
  }

  append(record: T): void {
    this.appendMany([record]);
  }

  appendMany(records: readonly T[]): void {
    if (records.length === 0) return;
    mkdirSync(dirname(this.file), { recursive: true });
    const text = records.map((r) => JSON.stringify(r)).join('\n') + '\n';
    // A torn final line from an earlier crash must not glue itself onto this record.
    const prefix = this.#endsWithNewline() ? '' : '\n';
    const fd = openSync(this.file, 'a');
    try {
      writeSync(fd, prefix + text);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
  }

  /** Every complete record, in append order. Cached until the file changes. */
  readAll(): T[] {
    if (!existsSync(this.file)) return [];
    const st = statSync(this.file);
    if (this.#cache && this.#cache.size === st.size && this.#cache.mtimeMs === st.mtimeMs) return this.#cache.records;
    const records: T[] = [];
    for (const line of readFileSync(this.file, 'utf8').split('\n')) {
      if (line.trim() === '') continue;
      try {
        records.push(JSON.parse(line) as T);
      } catch {
        // torn line from a crash mid-append: the writer never acknowledged it
      }
    }
    this.#cache = { size: st.size, mtimeMs: st.mtimeMs, records };
    return records;
  }

  #endsWithNewline(): boolean {
    if (!existsSync(this.file)) return true;
    const size = statSync(this.file).size;
    if (size === 0) return true;
    const fd = openSync(this.file, 'r');
    try {
      const buf = Buffer.alloc(1);
      readSync(fd, buf, 0, 1, size - 1);
      return buf[0] === 0x0a;
    } finally {
      closeSync(fd);
    }
  }
}
