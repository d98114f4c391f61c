import { createHash } from 'node:crypto';
import { existsSync, rmSync } from 'node:fs';
import { join, relative } from 'node:path';
import { BAR_SIZE_TOKENS, type BarEvent, type BarSize, type RawBarRow } from '../core/bars.js';
import { InputError, StorageError } from '../core/errors.js';
import { sqlKeyList, sqlString } from '../core/sql.js';
import { Lake, type LakeColumn } from './lake.js';
import { encodeRawBars, NUMERIC_COLUMNS, type RawBatchPart, rawFileSelect } from './raw-bar-columns.js';
import { JsonlLedger } from './state-store.js';

/** Maps an instrument key and an instant to its partition (trading session) date. */
export interface SessionDateResolver {
  /** Throws InputError for an unknown symbol. */
  sessionDateOf(symbol: string, ts: number): string;
}

export const RAW_DATASET = 'tws_bars';
const BATCH_ID = /^[A-Za-z0-9._-]{1,128}$/;
const DATE = /^\d{4}-\d{2}-\d{2}$/;

/** Columns of a raw batch file; `bar_size` and `date` live in the Hive path, not in the file. */
export const RAW_FILE_COLUMNS: readonly LakeColumn[] = [
  { name: 'source', type: 'VARCHAR' },
  { name: 'symbol', type: 'VARCHAR' },
  { name: 'con_id', type: 'BIGINT' },
  { name: 'what_to_show', type: 'VARCHAR' },
  { name: 'ts', type: 'TIMESTAMPTZ' },
  { name: 'open', type: 'DOUBLE' },
  { name: 'high', type: 'DOUBLE' },
  { name: 'low', type: 'DOUBLE' },
  { name: 'close', type: 'DOUBLE' },
  { name: 'volume', type: 'DOUBLE' },
  { name: 'wap', type: 'DOUBLE' },
  { name: 'trade_count', type: 'BIGINT' },
  { name: 'batch_id', type: 'VARCHAR' },
  { name: 'ingestion_ts', type: 'TIMESTAMPTZ' },
  { name: 'request_id', type: 'VARCHAR' },
];

const RAW_SELECT = RAW_FILE_COLUMNS.map((c) => c.name).join(', ');

interface BatchRecord {
  type: 'batch';
  batch_id: string;
  bar_size: string;
  source: string;
  rows: number;
  ingestion_ts: number;
  /** Lake-relative paths, one per session date. */
  files: { date: string; path: string; rows: number }[];
  /**
   * Batches committed together in these files (a group commit); each row's `batch_id` column
   * names its part. Absent: the record is one batch, `batch_id`.
   */
  parts?: { batch_id: string; rows: number; dates: string[] }[];
}

/** A committed file found missing (a restored or damaged lake): hidden from readers from now on. */
interface LostRecord {
  type: 'lost';
  bar_size: string;
  path: string;
  reason: string;
  detected_at: number;
}

interface CompactionRecord {
  type: 'compaction';
  bar_size: string;
  date: string;
  path: string;
  rows: number;
  replaces: string[];
}

type RawLedgerRecord = BatchRecord | CompactionRecord | LostRecord;

export interface WriteBatchResult {
  batchId: string;
  /** False when the batch id was already committed (idempotent no-op). */
  written: boolean;
  rows: number;
  dates: string[];
}

/** What a committed batch added, for live metrics and health (newest bar per symbol). */
export interface BatchCommitInfo {
  batchId: string;
  source: string;
  rows: number;
  lastTs: ReadonlyMap<string, number>;
}

/** A group commit: one ledger line for several batches; `parts` in the order given. */
export interface GroupWriteResult {
  /** Id of the ledger line and of the files; null when every part was already committed. */
  groupId: string | null;
  rows: number;
  dates: string[];
  parts: WriteBatchResult[];
}

/**
 * Whether a batch's rows are in the lake: `committed` false when no ledger line names it;
 * `missing` lists the session dates whose committed file is gone (deleted, or marked lost).
 */
export interface BatchPresence {
  committed: boolean;
  missing: { date: string; path: string }[];
}

export interface ReadRawQuery {
  symbols?: readonly string[];
  /** First session date, inclusive (YYYY-MM-DD). */
  start: string;
  /** Last session date, inclusive. */
  end: string;
  barSize?: BarSize;
  /** One row per (source, symbol, ts): the latest ingestion wins. */
  dedup?: boolean;
  /**
   * Leave out committed files that are missing on disk instead of failing on them: for
   * diagnostics (`ibpipe status`) only; jobs must fail rather than read a silently partial lake.
   */
  presentOnly?: boolean;
}

export interface CompactResult {
  date: string;
  filesBefore: number;
  rows: number;
  path: string | null;
}

/**
 * The append-only raw store (DESIGN §6). A batch is written as one file per session date under
 * raw/tws_bars/bar_size=…/date=…/, each renamed into place, then committed by one line in the
 * batch ledger. Readers see only committed files, so a crash between renames never exposes a
 * partial batch; re-writing an uncommitted batch overwrites its files, a committed one is a no-op.
 */
export class RawStore {
  readonly #lake: Lake;
  readonly #dates: SessionDateResolver;
  readonly #ledger: JsonlLedger<RawLedgerRecord>;
  readonly #listeners = new Set<(info: BatchCommitInfo) => void>();

  constructor(lake: Lake, sessionDates: SessionDateResolver) {
    this.#lake = lake;
    this.#dates = sessionDates;
    this.#ledger = new JsonlLedger<RawLedgerRecord>(lake.path('state', 'raw_batches.jsonl'));
  }

  /** Calls listener after every committed batch; returns an unsubscribe function. */
  onCommit(listener: (info: BatchCommitInfo) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** True when the batch is committed and every file holding its rows is present. */
  hasBatch(batchId: string): boolean {
    const p = this.batchPresence([batchId]).get(batchId);
    return p !== undefined && p.committed && p.missing.length === 0;
  }

  /**
   * Checks batches against the ledger and the disk in one pass: committed or not, and which
   * committed files (followed through compactions) are missing or were marked lost.
   */
  batchPresence(batchIds: readonly string[]): Map<string, BatchPresence> {
    const want = new Set(batchIds);
    const filesOf = new Map<string, Map<string, string>>();
    const replacedBy = new Map<string, string>();
    const visible = new Set<string>();
    for (const r of this.#ledger.readAll()) {
      if (r.type === 'batch') {
        const pathOf = new Map(r.files.map((f) => [f.date, f.path]));
        for (const f of r.files) visible.add(f.path);
        for (const part of r.parts ?? [{ batch_id: r.batch_id, dates: r.files.map((f) => f.date) }]) {
          if (!want.has(part.batch_id)) continue;
          let m = filesOf.get(part.batch_id);
          if (!m) filesOf.set(part.batch_id, (m = new Map()));
          for (const d of part.dates) m.set(d, pathOf.get(d) ?? '');
        }
      } else if (r.type === 'compaction') {
        for (const p of r.replaces) {
          visible.delete(p);
          replacedBy.set(p, r.path);
        }
        visible.add(r.path);
      } else {
        visible.delete(r.path);
      }
    }
    const out = new Map<string, BatchPresence>();
    for (const id of want) {
      const files = filesOf.get(id);
      if (!files) {
        out.set(id, { committed: false, missing: [] });
        continue;
      }
      const missing: BatchPresence['missing'] = [];
      for (const [date, path] of files) {
        let p = path;
        for (let hops = 0; !visible.has(p) && replacedBy.has(p) && hops < 1000; hops++) p = replacedBy.get(p) as string;
        if (!visible.has(p) || !existsSync(join(this.#lake.root, p))) missing.push({ date, path: join(this.#lake.root, p) });
      }
      out.set(id, { committed: true, missing });
    }
    return out;
  }

  /**
   * Records committed files as lost (found missing on disk): readers stop listing them, and the
   * batches they held count as not present, so their source can write them again.
   */
  markLost(paths: readonly string[], reason: string, detectedAt: number): void {
    const records: LostRecord[] = [];
    for (const abs of new Set(paths)) {
      const rel = relative(this.#lake.root, abs);
      const m = /(?:^|\/)bar_size=([^/]+)\//.exec(rel);
      if (!m || rel.startsWith('..')) throw new InputError(`not a raw file of this lake: ${abs}`);
      records.push({ type: 'lost', bar_size: m[1] as string, path: rel, reason, detected_at: detectedAt });
    }
    this.#ledger.appendMany(records);
  }

  /** Appends one batch. Every row is checked before anything is written. */
  async writeTwsBars(events: readonly BarEvent[], batchId: string, ingestionTs: number): Promise<WriteBatchResult> {
    const res = await this.writeBatchGroup([{ batchId, events }], ingestionTs);
    return res.parts[0] as WriteBatchResult;
  }

  /**
   * Commits several batches at once (group commit): one file per session date for all of them,
   * renamed into place, then one ledger line naming every part, so a crash leaves all of them or
   * none. Parts already committed are skipped; a part whose files were lost is written again for
   * the lost dates only. Every row is checked before anything is written.
   */
  async writeBatchGroup(parts: readonly RawBatchPart[], ingestionTs: number): Promise<GroupWriteResult> {
    const ids = new Set<string>();
    for (const p of parts) {
      if (!BATCH_ID.test(p.batchId)) throw new InputError(`batch id ${JSON.stringify(p.batchId)} must match ${BATCH_ID.source}`);
      if (ids.has(p.batchId)) throw new InputError(`batch id ${p.batchId} appears twice in one group`);
      ids.add(p.batchId);
    }
    const presence = this.batchPresence([...ids]);
    const results = new Map<string, WriteBatchResult>(parts.map((p) => [p.batchId, { batchId: p.batchId, written: false, rows: 0, dates: [] }]));
    const toWrite: RawBatchPart[] = [];
    for (const p of parts) {
      const st = presence.get(p.batchId);
      if (!st?.committed) toWrite.push(p);
      else if (st.missing.length > 0) toWrite.push({ ...p, onlyDates: new Set(st.missing.map((m) => m.date)) });
    }
    const done = (groupId: string | null, rows: number, dates: string[]): GroupWriteResult => ({ groupId, rows, dates, parts: parts.map((p) => results.get(p.batchId) as WriteBatchResult) });
    if (toWrite.length === 0) return done(null, 0, []);

    const enc = encodeRawBars(toWrite, this.#dates);
    const token = BAR_SIZE_TOKENS[enc.barSize];
    const single = toWrite.length === 1 ? toWrite[0] : undefined;
    const groupId =
      single && !single.onlyDates
        ? single.batchId
        : `g-${createHash('sha256').update(toWrite.map((p) => `${p.batchId}:${p.onlyDates ? [...p.onlyDates].sort().join(',') : '*'}`).join('|')).digest('hex').slice(0, 32)}`;
    const source = toWrite.find((p) => p.events.length > 0)?.events[0]?.source ?? '';
    const staged = await this.#lake.stageFloat64(NUMERIC_COLUMNS, enc.columns, enc.rowCount);
    const written: string[] = [];
    try {
      const files: BatchRecord['files'] = [];
      const byDate = enc.dates.map((d, no) => ({ ...d, no })).sort((a, b) => (a.date < b.date ? -1 : 1));
      for (const { date, rows, no } of byDate) {
        const file = this.#lake.path('raw', RAW_DATASET, `bar_size=${token}`, `date=${date}`, `batch-${groupId}.parquet`);
        await this.#lake.writeParquetAtomic(file, rawFileSelect(enc, staged, no, ingestionTs));
        written.push(file);
        files.push({ date, path: relative(this.#lake.root, file), rows });
      }
      const record: BatchRecord = { type: 'batch', batch_id: groupId, bar_size: token, source, rows: enc.rowCount, ingestion_ts: ingestionTs, files };
      if (groupId !== single?.batchId) record.parts = enc.parts.map((p) => ({ batch_id: p.batchId, rows: p.rows, dates: [...p.dates].sort() }));
      this.#ledger.append(record);
    } catch (err) {
      // Not committed: take the renamed files away again, so no reader or glob finds them.
      for (const f of written) rmSync(f, { force: true });
      throw err;
    } finally {
      await this.#lake.dropTable(staged);
    }
    for (const p of enc.parts) results.set(p.batchId, { batchId: p.batchId, written: true, rows: p.rows, dates: [...p.dates].sort() });
    if (this.#listeners.size > 0) {
      const lastTs = new Map<string, number>();
      for (const p of toWrite) for (const e of p.events) if ((lastTs.get(e.symbol) ?? -Infinity) < e.ts) lastTs.set(e.symbol, e.ts);
      for (const l of this.#listeners) l({ batchId: groupId, source, rows: enc.rowCount, lastTs });
    }
    return done(groupId, enc.rowCount, enc.dates.map((d) => d.date).sort());
  }

  /** Committed, not-superseded files per date for a bar size (lake-absolute paths). */
  visibleFiles(barSize: BarSize = '1 min', dates?: readonly string[]): Map<string, string[]> {
    const token = BAR_SIZE_TOKENS[barSize];
    const want = dates ? new Set(dates) : null;
    const perDate = new Map<string, Set<string>>();
    for (const r of this.#ledger.readAll()) {
      if (r.bar_size !== token) continue;
      if (r.type === 'batch') {
        for (const f of r.files) {
          if (want && !want.has(f.date)) continue;
          let s = perDate.get(f.date);
          if (!s) perDate.set(f.date, (s = new Set()));
          s.add(f.path);
        }
      } else if (r.type === 'compaction') {
        if (want && !want.has(r.date)) continue;
        let s = perDate.get(r.date);
        if (!s) perDate.set(r.date, (s = new Set()));
        for (const p of r.replaces) s.delete(p);
        s.add(r.path);
      } else {
        for (const s of perDate.values()) s.delete(r.path);
      }
    }
    const out = new Map<string, string[]>();
    for (const [d, s] of [...perDate.entries()].sort(([a], [b]) => a.localeCompare(b))) {
      out.set(d, [...s].sort().map((p) => join(this.#lake.root, p)));
    }
    return out;
  }

  /** Session dates that hold raw data for a bar size. */
  listDates(barSize: BarSize = '1 min'): string[] {
    return [...this.visibleFiles(barSize).keys()];
  }

  /**
   * A SQL relation over the committed raw rows of the given dates (with `bar_size` and `date`
   * from the Hive path). `dedup` keeps one row per (source, symbol, ts), latest ingestion first.
   */
  relationSql(q: ReadRawQuery): string {
    if (!DATE.test(q.start) || !DATE.test(q.end)) throw new InputError(`dates must be YYYY-MM-DD, got ${q.start}..${q.end}`);
    const files = [...this.visibleFiles(q.barSize ?? '1 min').entries()]
      .filter(([d]) => d >= q.start && d <= q.end)
      .flatMap(([, fs]) => fs)
      .filter((f) => !q.presentOnly || existsSync(f));
    const base = Lake.parquetRelation(files, [
      ...RAW_FILE_COLUMNS,
      { name: 'bar_size', type: 'VARCHAR' },
      { name: 'date', type: 'DATE' },
    ]);
    const where = q.symbols ? `WHERE symbol IN (${q.symbols.length ? sqlKeyList(q.symbols) : 'NULL'})` : '';
    const rel = `(SELECT ${RAW_SELECT}, CAST(bar_size AS VARCHAR) AS bar_size, CAST(date AS VARCHAR) AS date FROM ${base} ${where})`;
    if (!q.dedup) return rel;
    return `(SELECT * FROM ${rel} QUALIFY row_number() OVER (PARTITION BY source, symbol, ts ORDER BY ingestion_ts DESC, batch_id DESC) = 1)`;
  }

  /** Newest stored bar start per symbol, looking at the most recent `lookbackDates` partitions. */
  async latestBarTimes(barSize: BarSize = '1 min', lookbackDates = 7): Promise<Map<string, number>> {
    const dates = this.listDates(barSize).slice(-lookbackDates);
    const out = new Map<string, number>();
    if (dates.length === 0) return out;
    const rows = await this.#lake.query<{ symbol: string; ts: number }>(
      `SELECT symbol, max(ts) AS ts FROM ${this.relationSql({ start: dates[0] as string, end: dates[dates.length - 1] as string, barSize })} GROUP BY symbol`,
    );
    for (const r of rows) out.set(r.symbol, r.ts);
    return out;
  }

  /** Rows of the committed batches for the session dates [start, end], sorted by (symbol, ts). */
  async readTwsBars(q: ReadRawQuery): Promise<RawBarRow[]> {
    const rows = await this.#lake.query(
      `SELECT * EXCLUDE (date) FROM ${this.relationSql(q)} ORDER BY symbol, ts, ingestion_ts, batch_id`,
    );
    return rows as unknown as RawBarRow[];
  }

  /**
   * Merges a date's files into one file sorted by (symbol, ts). Lossless (row multiset checked
   * before the commit) and atomic for readers: the ledger line is the switch-over; the old files
   * are deleted only after it.
   */
  async compactRaw(date: string, barSize: BarSize = '1 min'): Promise<CompactResult> {
    if (!DATE.test(date)) throw new InputError(`date must be YYYY-MM-DD, got ${date}`);
    const files = this.visibleFiles(barSize, [date]).get(date) ?? [];
    const token = BAR_SIZE_TOKENS[barSize];
    if (files.length === 0) return { date, filesBefore: 0, rows: 0, path: null };
    if (files.length === 1 && /compacted-[0-9a-f]+\.parquet$/.test(files[0] as string)) {
      this.#removeSuperseded(date, barSize);
      return { date, filesBefore: 1, rows: -1, path: files[0] as string };
    }
    const rels = files.map((f) => relative(this.#lake.root, f));
    const hash = createHash('sha256').update(rels.join('\n')).digest('hex').slice(0, 16);
    const target = this.#lake.path('raw', RAW_DATASET, `bar_size=${token}`, `date=${date}`, `compacted-${hash}.parquet`);
    const src = `read_parquet([${files.map(sqlString).join(', ')}], hive_partitioning = false)`;
    await this.#lake.writeParquetAtomic(target, `SELECT ${RAW_SELECT} FROM ${src} ORDER BY symbol, ts, ingestion_ts, batch_id`);
    const check = await this.#lake.query<{ before: number; after: number; diff: number }>(
      `SELECT (SELECT count(*) FROM ${src}) AS before,
              (SELECT count(*) FROM read_parquet(${sqlString(target)})) AS after,
              (SELECT count(*) FROM (SELECT ${RAW_SELECT} FROM ${src} EXCEPT ALL SELECT ${RAW_SELECT} FROM read_parquet(${sqlString(target)}))) AS diff`,
    );
    const c = check[0];
    if (!c || c.before !== c.after || c.diff !== 0) {
      rmSync(target, { force: true });
      throw new StorageError(`compaction of ${date} is not lossless; originals kept`, { details: { ...c } });
    }
    this.#ledger.append({ type: 'compaction', bar_size: token, date, path: relative(this.#lake.root, target), rows: c.after, replaces: rels });
    this.#removeSuperseded(date, barSize);
    return { date, filesBefore: files.length, rows: c.after, path: target };
  }

  /** Deletes files that a committed compaction replaced (idempotent; finishes an interrupted compaction). */
  #removeSuperseded(date: string, barSize: BarSize): void {
    const token = BAR_SIZE_TOKENS[barSize];
    const visible = new Set(this.visibleFiles(barSize, [date]).get(date) ?? []);
    for (const r of this.#ledger.readAll()) {
      if (r.type !== 'compaction' || r.date !== date || r.bar_size !== token) continue;
      for (const p of r.replaces) {
        const abs = join(this.#lake.root, p);
        if (!visible.has(abs) && existsSync(abs)) rmSync(abs, { force: true });
      }
    }
  }
}
