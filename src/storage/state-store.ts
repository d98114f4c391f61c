import { closeSync, existsSync, fstatSync, fsyncSync, ftruncateSync, openSync, readSync, statSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';
import { classifyWriteFault, ensureDir } from './write-faults.js';

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
  #offset = 0;
  #records: T[] = [];
  #generation = 0;
  /** Inode of the file the records came from: a file replaced by another (restored from a backup) starts over. */
  #ino = -1;

  constructor(file: string) {
    this.file = file;
  }

  append(record: T): void {
    this.appendMany([record]);
  }

  /**
   * Appends the records as one write. A refused write (disk full, no permission) throws a
   * StorageWriteError and leaves the file as it was: a short write is cut back off.
   */
  appendMany(records: readonly T[]): void {
    if (records.length === 0) return;
    ensureDir(dirname(this.file), 'create the state folder');
    const text = records.map((r) => JSON.stringify(r)).join('\n') + '\n';
    let fd: number | undefined;
    let before = -1;
    try {
      // A torn final line from an earlier crash must not glue itself onto this record.
      const prefix = this.#endsWithNewline() ? '' : '\n';
      const bytes = Buffer.from(prefix + text, 'utf8');
      fd = openSync(this.file, 'a');
      before = fstatSync(fd).size;
      const written = writeSync(fd, bytes);
      if (written !== bytes.length) throw Object.assign(new Error('short write: no space left on device'), { code: 'ENOSPC' });
      fsyncSync(fd);
    } catch (err) {
      if (fd !== undefined && before >= 0) {
        try {
          ftruncateSync(fd, before);
        } catch {
          // best effort: a torn line is skipped by every reader anyway
        }
      }
      throw classifyWriteFault(err, `append to ${this.file.split('/').pop() ?? this.file}`, this.file) ?? err;
    } finally {
      if (fd !== undefined) closeSync(fd);
    }
  }

  /**
   * Every complete record, in append order (do not mutate the array). Reads only the bytes
   * appended since the last call: ledgers grow by a line per batch or run, and the raw write
   * path consults its ledger on every batch, so re-parsing the whole file would grow without bound.
   */
  readAll(): T[] {
    if (!existsSync(this.file)) {
      if (this.#offset > 0 || this.#records.length > 0) this.#restart();
      return this.#records;
    }
    const st = statSync(this.file);
    const size = st.size;
    // Replaced or truncated by hand: start over.
    if (size < this.#offset || (this.#ino !== -1 && st.ino !== this.#ino)) this.#restart();
    this.#ino = st.ino;
    if (size === this.#offset) return this.#records;
    const fd = openSync(this.file, 'r');
    let chunk: Buffer;
    try {
      chunk = Buffer.alloc(size - this.#offset);
      readSync(fd, chunk, 0, chunk.length, this.#offset);
    } finally {
      closeSync(fd);
    }
    // Consume complete lines only; a torn last line stays unread until a newline follows it.
    const end = chunk.lastIndexOf(0x0a);
    if (end < 0) return this.#records;
    for (const line of chunk.subarray(0, end).toString('utf8').split('\n')) {
      if (line.trim() === '') continue;
      try {
        this.#records.push(JSON.parse(line) as T);
      } catch {
        // torn line from a crash mid-append: the writer never acknowledged it
      }
    }
    this.#offset += end + 1;
    return this.#records;
  }

  /**
   * Changes whenever the ledger starts over (the file was replaced by a shorter one or removed):
   * a caller that indexes `readAll()` incrementally (records it has seen = a prefix of the array)
   * rebuilds its index when this differs from the value it last saw.
   */
  get generation(): number {
    return this.#generation;
  }

  #restart(): void {
    this.#ino = -1;
    this.#offset = 0;
    this.#records = [];
    this.#generation++;
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
