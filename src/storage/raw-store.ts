import { createHash } from 'node:crypto';
import { existsSync, rmSync } from 'node:fs';
import { join, relative } from 'node:path';
import { BAR_SIZE_TOKENS, BAR_SIZES, type BarEvent, type BarSize, type RawBarRow } from '../core/bars.js';
import { InputError, StorageError } from '../core/errors.js';
import { isValidInstrumentKey } from '../core/instruments.js';
import { sqlKeyList, sqlString } from '../core/sql.js';
import { Lake, type LakeColumn } from './lake.js';
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
}

interface CompactionRecord {
  type: 'compaction';
  bar_size: string;
  date: string;
  path: string;
  rows: number;
  replaces: string[];
}

type RawLedgerRecord = BatchRecord | CompactionRecord;

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

export interface ReadRawQuery {
  symbols?: readonly string[];
  /** First session date, inclusive (YYYY-MM-DD). */
  start: string;
  /** Last session date, inclusive. */
  end: string;
  barSize?: BarSize;
  /** One row per (source, symbol, ts): the latest ingestion wins. */
  dedup?: boolean;
}

export interface CompactResult {
  date: string;
  filesBefore: number;
  rows: number;
  path: string | null;
}

function validateEvent(e: BarEvent): string | null {
  if (typeof e.symbol !== 'string' || !isValidInstrumentKey(e.symbol)) return `symbol ${JSON.stringify(e.symbol)} is not a valid instrument key`;
  if (typeof e.source !== 'string' || e.source.length === 0) return 'source is empty';
  if (!(e.barSize in BAR_SIZES)) return `bar size ${JSON.stringify(e.barSize)} is unknown`;
  if (!Number.isSafeInteger(e.ts) || e.ts <= 0) return `ts ${String(e.ts)} is not an epoch-ms instant`;
  for (const k of ['open', 'high', 'low', 'close', 'volume'] as const) {
    if (typeof e[k] !== 'number') return `${k} is not a number`;
  }
  if (e.wap !== null && typeof e.wap !== 'number') return 'wap is not a number';
  if (e.tradeCount !== null && !Number.isInteger(e.tradeCount)) return 'tradeCount is not an integer';
  if (e.conId !== null && !Number.isInteger(e.conId)) return 'conId is not an integer';
  return null;
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

  hasBatch(batchId: string): boolean {
    return this.#ledger.readAll().some((r) => r.type === 'batch' && r.batch_id === batchId);
  }

  /** Appends one batch. Every row is checked before anything is written. */
  async writeTwsBars(events: readonly BarEvent[], batchId: string, ingestionTs: number): Promise<WriteBatchResult> {
    if (!BATCH_ID.test(batchId)) throw new InputError(`batch id ${JSON.stringify(batchId)} must match ${BATCH_ID.source}`);
    if (this.hasBatch(batchId)) return { batchId, written: false, rows: 0, dates: [] };
    const n = events.length;
    const dateOf: string[] = new Array(n);
    const barSize = events[0]?.barSize ?? '1 min';
    for (let i = 0; i < n; i++) {
      const e = events[i] as BarEvent;
      const problem = validateEvent(e);
      if (problem) throw new InputError(`batch ${batchId}: row ${i}: ${problem}`, { details: { batchId, row: i } });
      if (e.barSize !== barSize) throw new InputError(`batch ${batchId}: row ${i}: bar size ${e.barSize} differs from ${barSize}`);
      dateOf[i] = this.#dates.sessionDateOf(e.symbol, e.ts);
    }
    const token = BAR_SIZE_TOKENS[barSize];
    const col = <K extends keyof BarEvent>(k: K): unknown[] => events.map((e) => e[k]);
    const staged = await this.#lake.stage(
      [...RAW_FILE_COLUMNS, { name: 'date_key', type: 'VARCHAR' }],
      {
        source: col('source'),
        symbol: col('symbol'),
        con_id: col('conId'),
        what_to_show: col('whatToShow'),
        ts: col('ts'),
        open: col('open'),
        high: col('high'),
        low: col('low'),
        close: col('close'),
        volume: col('volume'),
        wap: col('wap'),
        trade_count: col('tradeCount'),
        batch_id: new Array<string>(n).fill(batchId),
        ingestion_ts: new Array<number>(n).fill(ingestionTs),
        request_id: col('requestId'),
        date_key: dateOf,
      },
      n,
    );
    try {
      const counts = new Map<string, number>();
      for (const d of dateOf) counts.set(d, (counts.get(d) ?? 0) + 1);
      const files: BatchRecord['files'] = [];
      for (const date of [...counts.keys()].sort()) {
        const file = this.#lake.path('raw', RAW_DATASET, `bar_size=${token}`, `date=${date}`, `batch-${batchId}.parquet`);
        await this.#lake.writeParquetAtomic(
          file,
          `SELECT ${RAW_SELECT} FROM ${staged} WHERE date_key = ${sqlString(date)} ORDER BY symbol, ts`,
        );
        files.push({ date, path: relative(this.#lake.root, file), rows: counts.get(date) ?? 0 });
      }
      this.#ledger.append({ type: 'batch', batch_id: batchId, bar_size: token, source: events[0]?.source ?? '', rows: n, ingestion_ts: ingestionTs, files });
      if (this.#listeners.size > 0) {
        const lastTs = new Map<string, number>();
        for (const e of events) if ((lastTs.get(e.symbol) ?? -Infinity) < e.ts) lastTs.set(e.symbol, e.ts);
        for (const l of this.#listeners) l({ batchId, source: events[0]?.source ?? '', rows: n, lastTs });
      }
      return { batchId, written: true, rows: n, dates: files.map((f) => f.date) };
    } finally {
      await this.#lake.dropTable(staged);
    }
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
      } else {
        if (want && !want.has(r.date)) continue;
        let s = perDate.get(r.date);
        if (!s) perDate.set(r.date, (s = new Set()));
        for (const p of r.replaces) s.delete(p);
        s.add(r.path);
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
      .flatMap(([, fs]) => fs);
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
