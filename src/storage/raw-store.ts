import { createHash } from 'node:crypto';
import { existsSync, rmSync } from 'node:fs';
import { join, relative } from 'node:path';
import { BAR_SIZE_TOKENS, BAR_SIZES, type BarEvent, type BarSize, type RawBarRow } from '../core/bars.js';
import { InputError, StorageError } from '../core/errors.js';
import { isValidInstrumentKey } from '../core/instruments.js';
import { sqlEnum, sqlEnumConstant, sqlKeyList, sqlList, sqlString, sqlTimestamptz } from '../core/sql.js';
import { dateRanges, HOUR_MS, hourDates, hourListMap } from './hour-dates.js';
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
  /** Every symbol it knows (the configured instruments). */
  symbols(): readonly string[];
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
  /**
   * The relation is costly to read (it parses text, e.g. a CSV file): it is then read once into a
   * temporary table first, instead of once per pass.
   */
  readonly costly?: boolean | undefined;
}

/**
 * Columns a relation handed to RawStore.writeRelation provides (cast on the way in: `ts` to
 * TIMESTAMPTZ, prices to DOUBLE, `con_id` / `trade_count` to BIGINT); the store adds `source`,
 * `batch_id` and `ingestion_ts`.
 */
export const RAW_RELATION_COLUMNS = ['symbol', 'con_id', 'what_to_show', 'ts', 'open', 'high', 'low', 'close', 'volume', 'wap', 'trade_count', 'request_id'] as const;

/** Up to this many session dates, writeRelation writes each date's file straight from the relation. */
const DIRECT_DATES = 16;

/** A row of writeRelation's scan: per (calendar, UTC hour) when by_hour, else per symbol with its attributes' spread. */
interface SummaryRow extends Record<string, unknown> {
  by_hour: boolean;
  cal: number | null;
  hour: number | null;
  k: number | null;
  n: number;
  unknown: number;
  bad: number;
  last: number | null;
  wts_min: string | null;
  wts_max: string | null;
  con_min: number | null;
  con_max: number | null;
  con_n: number;
  req_min: string | null;
  req_max: string | null;
  req_n: number;
  descents: number;
}

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
   * lake's DuckDB, e.g. over a Parquet file) yields RAW_RELATION_COLUMNS. No row crosses into JS.
   * One scan checks the rows (configured symbols; no NULL `ts`, `what_to_show` or price; finite
   * prices) and finds the (calendar, UTC hour) pairs present, which map to session dates; then
   * one file per date is written sorted by (symbol, ts) and the batch is committed like
   * writeTwsBars: files renamed into place first, the ledger line last. A committed id is a
   * no-op. With a few dates each file is written straight from the relation (a date-sorted
   * Parquet source is pruned by its row-group statistics); with more, the relation is read once
   * into a temporary table first.
   */
  async writeRelation(relation: string, batch: RelationBatch): Promise<WriteBatchResult> {
    checkBatchId(batch.batchId);
    if (this.hasBatch(batch.batchId)) return { batchId: batch.batchId, written: false, rows: 0, dates: [] };
    if (batch.source.length === 0) throw new InputError(`batch ${batch.batchId}: source is empty`);
    if (!batch.costly) return this.#writeRelation(relation, batch);
    const once = await this.#lake.createTempTable(`SELECT * FROM ${relation}`);
    try {
      return await this.#writeRelation(once, batch);
    } finally {
      await this.#lake.dropTable(once);
    }
  }

  async #writeRelation(relation: string, batch: RelationBatch): Promise<WriteBatchResult> {
    const { batchId, source, barSize, ingestionTs } = batch;
    const token = BAR_SIZE_TOKENS[barSize];
    const lake = this.#lake;
    const known = this.#symbolRelation();
    const rel = `(SELECT CAST(symbol AS VARCHAR) AS symbol, CAST(con_id AS BIGINT) AS con_id, CAST(what_to_show AS VARCHAR) AS what_to_show,
                         CAST(ts AS TIMESTAMPTZ) AS ts, CAST(open AS DOUBLE) AS open, CAST(high AS DOUBLE) AS high, CAST(low AS DOUBLE) AS low,
                         CAST(close AS DOUBLE) AS close, CAST(volume AS DOUBLE) AS volume, CAST(wap AS DOUBLE) AS wap,
                         CAST(trade_count AS BIGINT) AS trade_count, CAST(request_id AS VARCHAR) AS request_id
                  FROM ${relation})`;
    const incomplete = `r.ts IS NULL OR r.ts <= TIMESTAMPTZ '1970-01-01 00:00:00+00' OR r.what_to_show IS NULL
      OR NOT isfinite(r.open) OR NOT isfinite(r.high) OR NOT isfinite(r.low) OR NOT isfinite(r.close) OR NOT isfinite(r.volume)
      OR r.open IS NULL OR r.high IS NULL OR r.low IS NULL OR r.close IS NULL OR r.volume IS NULL`;
    // Each row's symbol by number (an enum code over the configured symbols in byte order, NULL
    // for an unknown one): a projection, not a join, so the input order survives; its calendar
    // by that number.
    const k = known.symbols.length === 0 ? 'NULL::INTEGER' : `CAST(enum_code(TRY_CAST(r.symbol AS ${sqlEnum(known.symbols)})) AS INTEGER)`;
    const calList = sqlList(known.cal, 'INTEGER');
    const numbered = `(SELECT r.*, ${k} AS k, lag(r.symbol) OVER () AS prev_symbol, lag(r.ts) OVER () AS prev_ts FROM ${rel} r)`;
    // One scan: the (calendar, hour) pairs present (for dates), each symbol's attributes, and
    // whether the rows already come in (symbol, ts) order (a streaming lag over the input order).
    // Aggregated per (symbol, hour) first (a few rows per symbol and session), then rolled up per
    // (calendar, hour) and per symbol: each row updates one set of aggregates, not two.
    const summary = await lake.query<SummaryRow>(
      `WITH fine AS MATERIALIZED (
         SELECT r.k, epoch_ms(r.ts) // ${HOUR_MS} AS hour, count(*) AS n, count(*) FILTER (WHERE r.k IS NULL) AS unknown,
                count(*) FILTER (WHERE ${incomplete}) AS bad, epoch_ms(max(r.ts)) AS last,
                min(r.what_to_show) AS wts_min, max(r.what_to_show) AS wts_max, min(r.con_id) AS con_min, max(r.con_id) AS con_max, count(r.con_id) AS con_n,
                min(r.request_id) AS req_min, max(r.request_id) AS req_max, count(r.request_id) AS req_n,
                count(*) FILTER (WHERE r.prev_symbol > r.symbol OR (r.prev_symbol = r.symbol AND r.prev_ts > r.ts)) AS descents
         FROM ${numbered} r GROUP BY ALL)
       SELECT true AS by_hour, (${calList})[k + 1] AS cal, hour, NULL::INTEGER AS k, sum(n) AS n, sum(unknown) AS unknown, sum(bad) AS bad, max(last) AS last,
              NULL AS wts_min, NULL AS wts_max, NULL::BIGINT AS con_min, NULL::BIGINT AS con_max, 0 AS con_n, NULL AS req_min, NULL AS req_max, 0 AS req_n, sum(descents) AS descents
       FROM fine GROUP BY ALL
       UNION ALL
       SELECT false, NULL, NULL, k, sum(n), sum(unknown), sum(bad), max(last), min(wts_min), max(wts_max), min(con_min), max(con_max), sum(con_n),
              min(req_min), max(req_max), sum(req_n), sum(descents)
       FROM fine GROUP BY k`,
    );
    const hours = summary.filter((h) => h.by_hour).sort((a, b) => (a.cal ?? -1) - (b.cal ?? -1) || (a.hour ?? 0) - (b.hour ?? 0));
    if (hours.some((h) => h.unknown > 0 || h.bad > 0)) await this.#refuseRows(batchId, rel, known.sql, incomplete);
    const total = hours.reduce((n, h) => n + h.n, 0);
    const perHour = hourDates(hours as { cal: number; hour: number }[], known.calendars);
    const ranges = dateRanges(perHour);
    const dates = [...ranges.keys()];
    // When each symbol has one what_to_show / con_id / request_id (the usual case) they ride on
    // its number, written as enums or constants: cheap strings to write, narrow rows to sort.
    const bySymbol = new Map(summary.filter((h) => !h.by_hour && h.k !== null).map((h) => [h.k as number, h]));
    const uniform = [...bySymbol.values()].every(
      (r) => r.wts_min === r.wts_max && r.con_min === r.con_max && (r.con_n === 0 || r.con_n === r.n) && r.req_min === r.req_max && (r.req_n === 0 || r.req_n === r.n),
    );
    const attrOf = <F extends 'wts_min' | 'con_min' | 'req_min'>(field: F): SummaryRow[F][] => known.symbols.map((_, i) => bySymbol.get(i)?.[field] ?? null);
    const perSymbol = (values: readonly (string | null)[]): string => {
      const used = [...bySymbol.keys()].map((i) => values[i] ?? null);
      const first = used[0] ?? null;
      if (used.every((v) => v === first)) return first === null ? 'NULL::VARCHAR' : sqlEnumConstant(first);
      return `(${sqlList(values, 'VARCHAR')}::${sqlEnum(values)}[])[x.k + 1]`;
    };
    const conIds = attrOf('con_min');
    const usedConIds = [...bySymbol.keys()].map((i) => conIds[i] ?? null);
    const wts = uniform ? perSymbol(attrOf('wts_min')) : 'x.what_to_show';
    const conId = !uniform ? 'x.con_id' : usedConIds.every((v) => v === usedConIds[0]) ? `${usedConIds[0] ?? 'NULL'}::BIGINT` : `(${sqlList(conIds, 'BIGINT')})[x.k + 1]`;
    const requestId = uniform ? perSymbol(attrOf('req_min')) : 'x.request_id';
    const output = (inner: string): string =>
      `SELECT ${sqlEnumConstant(source)} AS source, x.symbol, ${conId} AS con_id, ${wts} AS what_to_show,
              x.ts, x.open, x.high, x.low, x.close, x.volume, x.wap, x.trade_count, ${sqlEnumConstant(batchId)} AS batch_id,
              CAST(epoch_ms(${Math.trunc(ingestionTs)}) AS TIMESTAMPTZ) AS ingestion_ts, ${requestId} AS request_id
       FROM (${inner}) x`;
    const narrow = `${k} AS k, r.symbol, r.ts, r.open, r.high, r.low, r.close, r.volume, r.wap, r.trade_count${uniform ? '' : ', r.what_to_show, r.con_id, r.request_id'}`;
    // Rows already in (symbol, ts) order (a file exported per symbol) keep it through filters and
    // projections: no sort, which is most of the cost of writing them.
    const ordered = hours.reduce((n, h) => n + h.descents, 0) === 0;
    const order = ordered ? '' : ' ORDER BY k, ts';
    // One calendar in the batch: a plain range on ts, which a Parquet scan prunes by its statistics.
    const oneCalendar = new Set(perHour.map((h) => h.cal)).size <= 1;
    const files: BatchRecord['files'] = [];
    const dateMap = dates.length > DIRECT_DATES ? hourListMap(perHour, dates) : null;
    if (dateMap === null) {
      for (const [date, rs] of ranges) {
        const where = rs.map((g) => `(${oneCalendar ? '' : `(${calList})[${k} + 1] = ${g.cal} AND `}r.ts >= ${sqlTimestamptz(g.from)} AND r.ts < ${sqlTimestamptz(g.to)})`).join(' OR ');
        files.push(await this.#writeDateFile(token, date, batchId, output(`SELECT * FROM (SELECT ${narrow} FROM ${rel} r WHERE ${where})${order}`)));
      }
    } else {
      // Many dates: read the relation once into a temporary table of narrow rows, each numbered
      // with its date through a list indexed by (calendar, hour) (insertion order is kept), then
      // write each date from it.
      const hourNo = `(epoch_ms(r.ts) // ${HOUR_MS} - ${dateMap.firstHour})`;
      const staged = await lake.createTempTable(
        `SELECT ${narrow}, (${dateMap.list})[(${calList})[${k} + 1] * ${dateMap.span} + ${hourNo} + 1] AS date_no FROM ${rel} r`,
      );
      try {
        for (const [i, date] of dates.entries()) {
          files.push(await this.#writeDateFile(token, date, batchId, output(`SELECT * FROM ${staged} WHERE date_no = ${i}${order}`)));
        }
      } finally {
        await lake.dropTable(staged);
      }
    }
    const written = files.reduce((n, f) => n + f.rows, 0);
    if (written !== total) throw new StorageError(`batch ${batchId}: wrote ${written} of ${total} rows; not committed`, { details: { batchId } });
    this.#commit({ type: 'batch', batch_id: batchId, bar_size: token, source, rows: total, ingestion_ts: ingestionTs, files }, () => {
      const last = new Map<string, number>();
      for (const [i, r] of bySymbol) if (r.last !== null) last.set(known.symbols[i] as string, r.last);
      return last;
    });
    return { batchId, written: true, rows: total, dates: files.map((f) => f.date) };
  }

  /**
   * The configured symbols as an inline relation (symbol, k = rank in byte order, cal = calendar
   * number), with the calendars by number. No session state: nothing to drop afterwards.
   */
  #symbolRelation(): { sql: string; symbols: string[]; cal: number[]; calendars: { sessionDateOf(instant: number): string }[] } {
    const symbols = [...this.#dates.symbols()].sort();
    const calendars: { sessionDateOf(instant: number): string }[] = [];
    const numbers = new Map<object, number>();
    const cal = symbols.map((sym) => {
      const c = this.#dates.calendarFor(sym);
      let no = numbers.get(c);
      if (no === undefined) {
        numbers.set(c, (no = calendars.length));
        calendars.push(c);
      }
      return no;
    });
    if (symbols.length === 0) return { sql: '(SELECT NULL::VARCHAR AS symbol, NULL::INTEGER AS k, NULL::INTEGER AS cal WHERE false)', symbols, cal, calendars };
    return {
      sql: `(SELECT unnest([${sqlKeyList(symbols)}]::VARCHAR[]) AS symbol, unnest(range(${symbols.length}))::INTEGER AS k, unnest([${cal.join(', ')}]::INTEGER[]) AS cal)`,
      symbols,
      cal,
      calendars,
    };
  }

  /** Names the first offending row of a relation that failed writeRelation's checks. */
  async #refuseRows(batchId: string, rel: string, syms: string, incomplete: string): Promise<never> {
    const rows = await this.#lake.query<{ symbol: string | null; unknown: boolean; n: number }>(
      `SELECT r.symbol, s.k IS NULL AS unknown, count(*) OVER () AS n FROM ${rel} r LEFT JOIN ${syms} s ON s.symbol = r.symbol
       WHERE s.k IS NULL OR ${incomplete} LIMIT 1`,
    );
    const r = rows[0];
    if (r?.unknown) {
      const problem = r.symbol === null || !isValidInstrumentKey(r.symbol) ? 'is not a valid instrument key' : 'is not a configured instrument (unknown symbol)';
      throw new InputError(`batch ${batchId}: symbol ${JSON.stringify(r.symbol)} ${problem}`, { details: { batchId, symbol: r.symbol } });
    }
    throw new InputError(`batch ${batchId}: ${r?.n ?? 'some'} row(s) (first of ${JSON.stringify(r?.symbol)}) lack ts, what_to_show or a finite open/high/low/close/volume`, {
      details: { batchId, symbol: r?.symbol },
    });
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
