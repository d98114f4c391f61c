import { createHash } from 'node:crypto';
import { existsSync, rmSync } from 'node:fs';
import { join, relative } from 'node:path';
import { BAR_SIZE_TOKENS, BAR_SIZES, type BarEvent, type BarSize, type RawBarRow } from '../core/bars.js';
import { InputError, StorageError } from '../core/errors.js';
import { isValidInstrumentKey } from '../core/instruments.js';
import { sqlKeyList, sqlString } from '../core/sql.js';
import { Lake, type LakeColumn } from './lake.js';
import { RawBatchIndex, type BatchRecord, type RawLedgerRecord } from './raw-batch-index.js';
import { JsonlLedger } from './state-store.js';

/** Maps an instrument key and an instant to its partition (trading session) date. */
export interface SessionDateResolver {
  /** Throws InputError for an unknown symbol. */
  sessionDateOf(symbol: string, ts: number): string;
  /**
   * The calendar of a symbol (throws InputError for an unknown one): writeRelation maps whole
   * hours of instants to dates per calendar instead of asking per row.
   */
  calendarFor(symbol: string): { sessionDateOf(instant: number): string };
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

/** What a batch written from a SQL relation is (see RawStore.writeRelation). */
export interface RelationBatch {
  readonly batchId: string;
  /** `source` of every row (FILE, DB, TWS). */
  readonly source: string;
  readonly barSize: BarSize;
  readonly ingestionTs: number;
}

/**
 * Columns a relation handed to RawStore.writeRelation provides (cast on the way in: `ts` to
 * TIMESTAMPTZ, prices to DOUBLE, `con_id` / `trade_count` to BIGINT); the store adds `source`,
 * `batch_id` and `ingestion_ts`.
 */
export const RAW_RELATION_COLUMNS = ['symbol', 'con_id', 'what_to_show', 'ts', 'open', 'high', 'low', 'close', 'volume', 'wap', 'trade_count', 'request_id'] as const;

const HOUR_MS = 3_600_000;

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

function checkBatchId(batchId: string): void {
  if (!BATCH_ID.test(batchId)) throw new InputError(`batch id ${JSON.stringify(batchId)} must match ${BATCH_ID.source}`);
}

/**
 * Session dates of the (calendar, UTC hour) pairs present in a batch, as instant ranges per
 * calendar: every supported calendar changes date on a whole hour, but an hour that straddles a
 * boundary is split exactly (binary search to the millisecond), so the mapping never guesses.
 */
function dateRanges(
  hours: readonly { cal: number; hour: number }[],
  calendars: readonly { sessionDateOf(instant: number): string }[],
): Map<string, { cal: number; from: number; to: number }[]> {
  const out = new Map<string, { cal: number; from: number; to: number }[]>();
  const add = (date: string, cal: number, from: number, to: number): void => {
    let list = out.get(date);
    if (!list) out.set(date, (list = []));
    const last = list[list.length - 1];
    if (last && last.cal === cal && last.to === from) last.to = to;
    else list.push({ cal, from, to });
  };
  for (const { cal, hour } of hours) {
    const c = calendars[cal] as { sessionDateOf(instant: number): string };
    const from = hour * HOUR_MS;
    const to = from + HOUR_MS;
    const first = c.sessionDateOf(from);
    const last = c.sessionDateOf(to - 1);
    if (first === last) {
      add(first, cal, from, to);
      continue;
    }
    let lo = from;
    let hi = to - 1;
    while (hi - lo > 1) {
      const mid = lo + Math.floor((hi - lo) / 2);
      if (c.sessionDateOf(mid) === first) lo = mid;
      else hi = mid;
    }
    add(first, cal, from, hi);
    add(last, cal, hi, to);
  }
  return new Map([...out.entries()].sort(([a], [b]) => a.localeCompare(b)));
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
 *
 * Public surface: `writeTwsBars` (bars as objects: pages, live flushes), `writeRelation` (bars as
 * a SQL relation: files), `hasBatch` / `visibleFiles` / `listDates` (from an in-memory index of
 * the ledger, refreshed from the lines appended since the last call, including other processes'),
 * `relationSql` / `readTwsBars` / `latestBarTimes` (reads of committed rows), `compactRaw`.
 */
export class RawStore {
  readonly #lake: Lake;
  readonly #dates: SessionDateResolver;
  readonly #ledger: JsonlLedger<RawLedgerRecord>;
  readonly #index: RawBatchIndex;
  readonly #listeners = new Set<(info: BatchCommitInfo) => void>();

  constructor(lake: Lake, sessionDates: SessionDateResolver) {
    this.#lake = lake;
    this.#dates = sessionDates;
    this.#ledger = new JsonlLedger<RawLedgerRecord>(lake.path('state', 'raw_batches.jsonl'));
    this.#index = new RawBatchIndex(this.#ledger);
  }

  /** Calls listener after every committed batch; returns an unsubscribe function. */
  onCommit(listener: (info: BatchCommitInfo) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** Whether a batch id is committed (by this process or another one sharing the lake). */
  hasBatch(batchId: string): boolean {
    return this.#index.refresh().hasBatch(batchId);
  }

  /** Appends one batch. Every row is checked before anything is written. */
  async writeTwsBars(events: readonly BarEvent[], batchId: string, ingestionTs: number): Promise<WriteBatchResult> {
    checkBatchId(batchId);
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
        files.push(await this.#writeDateFile(token, date, batchId, `SELECT ${RAW_SELECT} FROM ${staged} WHERE date_key = ${sqlString(date)} ORDER BY symbol, ts`));
      }
      const source = events[0]?.source ?? '';
      this.#commit({ type: 'batch', batch_id: batchId, bar_size: token, source, rows: n, ingestion_ts: ingestionTs, files }, () => {
        const lastTs = new Map<string, number>();
        for (const e of events) if ((lastTs.get(e.symbol) ?? -Infinity) < e.ts) lastTs.set(e.symbol, e.ts);
        return lastTs;
      });
      return { batchId, written: true, rows: n, dates: files.map((f) => f.date) };
    } finally {
      await this.#lake.dropTable(staged);
    }
  }

  /**
   * Appends one batch given as SQL: `relation` (a table, view or parenthesised query in the
   * lake's DuckDB) yields RAW_RELATION_COLUMNS. No row crosses into JS: the relation is read
   * once into a temporary table, checked (configured, well-formed symbols; no NULL `ts`, `open`,
   * `high`, `low`, `close`, `volume`; finite prices), mapped to session dates per calendar and
   * whole hour, and written as one file per date sorted by (symbol, ts), then committed like
   * writeTwsBars: files renamed into place first, the ledger line last. A committed id is a no-op.
   */
  async writeRelation(relation: string, batch: RelationBatch): Promise<WriteBatchResult> {
    const { batchId, source, barSize, ingestionTs } = batch;
    checkBatchId(batchId);
    if (this.hasBatch(batchId)) return { batchId, written: false, rows: 0, dates: [] };
    if (source.length === 0) throw new InputError(`batch ${batchId}: source is empty`);
    const token = BAR_SIZE_TOKENS[barSize];
    const lake = this.#lake;
    const rows = await lake.createTempTable(
      `SELECT CAST(symbol AS VARCHAR) AS symbol, CAST(con_id AS BIGINT) AS con_id, CAST(what_to_show AS VARCHAR) AS what_to_show,
              CAST(ts AS TIMESTAMPTZ) AS ts, CAST(open AS DOUBLE) AS open, CAST(high AS DOUBLE) AS high, CAST(low AS DOUBLE) AS low,
              CAST(close AS DOUBLE) AS close, CAST(volume AS DOUBLE) AS volume, CAST(wap AS DOUBLE) AS wap,
              CAST(trade_count AS BIGINT) AS trade_count, CAST(request_id AS VARCHAR) AS request_id,
              epoch_ms(CAST(ts AS TIMESTAMPTZ)) AS ts_ms
       FROM ${relation}`,
    );
    let symbolTable: string | null = null;
    try {
      const perSymbol = await lake.query<{ symbol: string | null; n: number; last_ts: number | null; incomplete: number }>(
        `SELECT symbol, count(*) AS n, max(ts_ms) AS last_ts,
                count(*) FILTER (WHERE ts_ms IS NULL OR ts_ms <= 0 OR what_to_show IS NULL
                  OR NOT isfinite(open) OR NOT isfinite(high) OR NOT isfinite(low) OR NOT isfinite(close) OR NOT isfinite(volume)
                  OR open IS NULL OR high IS NULL OR low IS NULL OR close IS NULL OR volume IS NULL) AS incomplete
         FROM ${rows} GROUP BY symbol ORDER BY symbol`,
      );
      const symbols: string[] = [];
      const calendarNo = new Map<object, number>();
      const calendars: { sessionDateOf(instant: number): string }[] = [];
      const calOf: number[] = [];
      let total = 0;
      for (const r of perSymbol) {
        if (r.symbol === null || !isValidInstrumentKey(r.symbol)) {
          throw new InputError(`batch ${batchId}: symbol ${JSON.stringify(r.symbol)} is not a valid instrument key`, { details: { batchId } });
        }
        if (r.incomplete > 0) {
          throw new InputError(`batch ${batchId}: ${r.incomplete} row(s) of ${r.symbol} lack ts, what_to_show or a finite open/high/low/close/volume`, { details: { batchId, symbol: r.symbol } });
        }
        const cal = this.#dates.calendarFor(r.symbol);
        let no = calendarNo.get(cal);
        if (no === undefined) {
          calendarNo.set(cal, (no = calendars.length));
          calendars.push(cal);
        }
        symbols.push(r.symbol);
        calOf.push(no);
        total += r.n;
      }
      const files: BatchRecord['files'] = [];
      if (symbols.length > 0) {
        // Symbols in byte order (what ORDER BY symbol gives), numbered: files sort by (k, ts).
        symbolTable = await lake.stage(
          [
            { name: 'symbol', type: 'VARCHAR' },
            { name: 'k', type: 'INTEGER' },
            { name: 'cal', type: 'INTEGER' },
          ],
          { symbol: symbols, k: symbols.map((_, i) => i), cal: calOf },
          symbols.length,
        );
        const hours = await lake.query<{ cal: number; hour: number }>(
          `SELECT s.cal, r.ts_ms // ${HOUR_MS} AS hour FROM ${rows} r JOIN ${symbolTable} s USING (symbol) GROUP BY ALL ORDER BY 1, 2`,
        );
        for (const [date, ranges] of dateRanges(hours, calendars)) {
          const where = ranges.map((g) => `(s.cal = ${g.cal} AND r.ts_ms >= ${g.from} AND r.ts_ms < ${g.to})`).join(' OR ');
          files.push(
            await this.#writeDateFile(
              token,
              date,
              batchId,
              `SELECT ${sqlString(source)} AS source, r.symbol, r.con_id, r.what_to_show, r.ts, r.open, r.high, r.low, r.close, r.volume, r.wap,
                      r.trade_count, ${sqlString(batchId)} AS batch_id, CAST(epoch_ms(${Math.trunc(ingestionTs)}) AS TIMESTAMPTZ) AS ingestion_ts, r.request_id
               FROM ${rows} r JOIN ${symbolTable} s USING (symbol) WHERE ${where} ORDER BY s.k, r.ts`,
            ),
          );
        }
      }
      const written = files.reduce((n, f) => n + f.rows, 0);
      if (written !== total) throw new StorageError(`batch ${batchId}: wrote ${written} of ${total} rows; not committed`, { details: { batchId } });
      this.#commit({ type: 'batch', batch_id: batchId, bar_size: token, source, rows: total, ingestion_ts: ingestionTs, files }, () => {
        const lastTs = new Map<string, number>();
        for (const r of perSymbol) if (r.symbol !== null && r.last_ts !== null) lastTs.set(r.symbol, r.last_ts);
        return lastTs;
      });
      return { batchId, written: true, rows: total, dates: files.map((f) => f.date) };
    } finally {
      if (symbolTable !== null) await lake.dropTable(symbolTable);
      await lake.dropTable(rows);
    }
  }

  /** Writes one session date's file of a batch (atomically) and returns its ledger entry. */
  async #writeDateFile(token: string, date: string, batchId: string, selectSql: string): Promise<BatchRecord['files'][number]> {
    const file = this.#lake.path('raw', RAW_DATASET, `bar_size=${token}`, `date=${date}`, `batch-${batchId}.parquet`);
    const rows = await this.#lake.writeParquetAtomic(file, selectSql);
    return { date, path: relative(this.#lake.root, file), rows };
  }

  /** The commit point of a batch: its ledger line (after every file is in place), then the listeners. */
  #commit(record: BatchRecord, lastTs: () => Map<string, number>): void {
    this.#ledger.append(record);
    if (this.#listeners.size === 0) return;
    const info: BatchCommitInfo = { batchId: record.batch_id, source: record.source, rows: record.rows, lastTs: lastTs() };
    for (const l of this.#listeners) l(info);
  }

  /** Committed, not-superseded files per date for a bar size (lake-absolute paths), dates ascending. */
  visibleFiles(barSize: BarSize = '1 min', dates?: readonly string[]): Map<string, string[]> {
    const out = new Map<string, string[]>();
    for (const [d, paths] of this.#index.refresh().visibleFiles(BAR_SIZE_TOKENS[barSize], dates)) {
      out.set(d, paths.map((p) => join(this.#lake.root, p)));
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
