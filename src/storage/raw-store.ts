import { createHash } from 'node:crypto';
import { existsSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { BAR_SIZE_TOKENS, rawPartitionToken, type BarEvent, type BarSize } from '../core/bars.js';
import { InputError, StorageError } from '../core/errors.js';
import { isValidInstrumentKey } from '../core/instruments.js';
import { sqlEnum, sqlEnumConstant, sqlKeyList, sqlList, sqlString, sqlTimestamptz } from '../core/sql.js';
import { dateRanges, HOUR_MS, hourDates, hourListMap } from './hour-dates.js';
import { Lake } from './lake.js';
import { RAW_BAR_READS, RAW_BARS, type RawBarRow } from './tables/raw-bars.js';
import { encodeRawBars, NUMERIC_COLUMNS, type RawBatchPart, rawFileSelect, type SessionDateResolver } from './raw-bar-columns.js';
import { RawRowCache, type RawRowLease } from './raw-row-cache.js';
import { RawBatchIndex, type BatchRecord, type LostRecord, type RawLedgerRecord } from './raw-batch-index.js';
import { JsonlLedger } from './state-store.js';
import { FOREIGN_TEMP_MAX_AGE_MS, PENDING_MARKER as PENDING, tempName, tempSubject, writerOf, writerState, type StaleTempSweep } from './temp-files.js';
import { classifyWriteFault, ensureDir } from './write-faults.js';
import { stateLedgerPath } from './state-ledgers.js';

export type { SessionDateResolver } from './raw-bar-columns.js';

export const RAW_DATASET = 'tws_bars';
const BATCH_ID = /^[A-Za-z0-9._-]{1,128}$/;
const DATE = /^\d{4}-\d{2}-\d{2}$/;
/** Raw files a writer renames into place before its ledger line: `batch-<id>.parquet`, `compacted-<hash>.parquet`. */
const RAW_FILE_NAME = /^((?:batch-[A-Za-z0-9._-]+)|(?:compacted-[0-9a-f]+))\.parquet$/;

const RAW_SELECT = RAW_BARS.select;

/** The raw rows of these committed files, with `bar_size` and `date` from the Hive path. */
function rawFilesSelect(files: readonly string[]): string {
  const base = Lake.parquetRelation(files, RAW_BARS.withPartitions);
  return `SELECT ${RAW_SELECT}, CAST(bar_size AS VARCHAR) AS bar_size, CAST(date AS VARCHAR) AS date FROM ${base}`;
}

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
  /** From summarizeRelation over exactly these rows: the write then makes no scan of its own before writing. */
  readonly summary?: RelationSummary | undefined;
}

/**
 * What the scan before a relation's write found (RawStore.summarizeRelation): handed to
 * writeRelation with the same rows, it spares the write its own scan. Opaque to callers.
 */
export interface RelationSummary {
  /** The configured symbols the scan numbered rows by (a write with other symbols scans again). */
  readonly symbols: string;
  readonly rows: readonly SummaryRow[];
  /** Rows that come before their predecessor in (symbol, ts) order: 0 when the rows need no sort. */
  readonly descents: number;
}

/** What summarizeRelation scans besides the write's own aggregates. */
export interface SummaryRequest {
  /** Predicate over the relation's columns: rows the write will keep (the write's relation must hold exactly these). Default all. */
  readonly keep?: string | undefined;
  /** Named predicates over the relation's columns, each counted over every row (kept or not). */
  readonly counts?: Readonly<Record<string, string>> | undefined;
}

/**
 * Columns a relation handed to RawStore.writeRelation provides (cast on the way in: `ts` to
 * TIMESTAMPTZ, prices to DOUBLE, `con_id` / `trade_count` to BIGINT); the store adds `source`,
 * `batch_id` and `ingestion_ts`.
 */
export const RAW_RELATION_COLUMNS = ['symbol', 'con_id', 'what_to_show', 'ts', 'open', 'high', 'low', 'close', 'volume', 'wap', 'trade_count', 'request_id'] as const;

/** Rows writeRelation refuses: no instant, no what_to_show, or a missing or non-finite price or volume. */
const INCOMPLETE = `r.ts IS NULL OR r.ts <= TIMESTAMPTZ '1970-01-01 00:00:00+00' OR r.what_to_show IS NULL
      OR NOT isfinite(r.open) OR NOT isfinite(r.high) OR NOT isfinite(r.low) OR NOT isfinite(r.close) OR NOT isfinite(r.volume)
      OR r.open IS NULL OR r.high IS NULL OR r.low IS NULL OR r.close IS NULL OR r.volume IS NULL`;

/** Up to this many session dates, writeRelation writes each date's file straight from the relation. */
const DIRECT_DATES = 16;

/**
 * A row of writeRelation's scan: per (calendar, UTC hour) of the kept rows when by_hour, per
 * symbol with its attributes' spread when by_symbol, else the totals row of the caller's counts.
 */
interface SummaryRow extends Record<string, unknown> {
  by_hour: boolean;
  by_symbol: boolean;
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
  /** The raw partition written (`bar_size=<partition>`: `1min`, `1d`, `1min-bid`). */
  partition: string;
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
  /** A bar dataset's own what_to_show: its own partition (`bar_size=1min-bid`); absent: the bar size's. */
  series?: string | null | undefined;
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

function checkBatchId(batchId: string): void {
  if (!BATCH_ID.test(batchId)) throw new InputError(`batch id ${JSON.stringify(batchId)} must match ${BATCH_ID.source}`);
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
  #cache: RawRowCache | null = null;

  constructor(lake: Lake, sessionDates: SessionDateResolver) {
    this.#lake = lake;
    this.#dates = sessionDates;
    this.#ledger = new JsonlLedger<RawLedgerRecord>(stateLedgerPath(lake, 'raw_batches'));
    this.#index = new RawBatchIndex(this.#ledger);
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
   * Checks batches against the ledger index and the disk: committed or not, and which committed
   * files (followed through compactions) are missing or were marked lost. One existence check per
   * file of the batches asked about; no scan of the ledger.
   */
  batchPresence(batchIds: readonly string[]): Map<string, BatchPresence> {
    const index = this.#index.refresh();
    const out = new Map<string, BatchPresence>();
    for (const id of new Set(batchIds)) {
      const where = index.locate(id);
      if (where === null) {
        out.set(id, { committed: false, missing: [] });
        continue;
      }
      const missing: BatchPresence['missing'] = [];
      for (const { date, path, visible } of where) {
        const abs = join(this.#lake.root, path);
        if (!visible || !existsSync(abs)) missing.push({ date, path: abs });
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

  /** Appends one batch (of a bar dataset's own `series`: its own partition). Every row is checked before anything is written. */
  async writeTwsBars(events: readonly BarEvent[], batchId: string, ingestionTs: number, series: string | null = null): Promise<WriteBatchResult> {
    const res = await this.writeBatchGroup([{ batchId, events, series }], ingestionTs);
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
    const token = enc.partition;
    const single = toWrite.length === 1 ? toWrite[0] : undefined;
    const groupId =
      single && !single.onlyDates
        ? single.batchId
        : `g-${createHash('sha256').update(toWrite.map((p) => `${p.batchId}:${p.onlyDates ? [...p.onlyDates].sort().join(',') : '*'}`).join('|')).digest('hex').slice(0, 32)}`;
    const source = toWrite.find((p) => p.events.length > 0)?.events[0]?.source ?? '';
    const written: string[] = [];
    const endWrite = this.#beginWrite(token, `batch-${groupId}`);
    try {
      const files: BatchRecord['files'] = [];
      const byDate = enc.dates.map((d, no) => ({ ...d, no })).sort((a, b) => (a.date < b.date ? -1 : 1));
      // DuckDB scans the typed arrays in place (no copy into a table: that cost a fifth of a commit).
      await this.#lake.withDoubles(NUMERIC_COLUMNS, [[enc.columns]], async ([rel]) => {
        for (const { date, rows, no } of byDate) {
          const file = this.#lake.path('raw', RAW_DATASET, `bar_size=${token}`, `date=${date}`, `batch-${groupId}.parquet`);
          await this.#lake.writeParquetAtomic(file, rawFileSelect(enc, rel as string, no, ingestionTs));
          written.push(file);
          files.push({ date, path: relative(this.#lake.root, file), rows });
        }
      });
      const record: BatchRecord = { type: 'batch', batch_id: groupId, bar_size: token, source, rows: enc.rowCount, ingestion_ts: ingestionTs, files };
      if (groupId !== single?.batchId) record.parts = enc.parts.map((p) => ({ batch_id: p.batchId, rows: p.rows, dates: [...p.dates].sort() }));
      this.#ledger.append(record);
    } catch (err) {
      // Not committed: take the renamed files away again, so no reader or glob finds them.
      for (const f of written) rmSync(f, { force: true });
      throw err;
    } finally {
      endWrite();
    }
    for (const p of enc.parts) results.set(p.batchId, { batchId: p.batchId, written: true, rows: p.rows, dates: [...p.dates].sort() });
    if (this.#listeners.size > 0) {
      const lastTs = new Map<string, number>();
      for (const p of toWrite) for (const e of p.events) if ((lastTs.get(e.symbol) ?? -Infinity) < e.ts) lastTs.set(e.symbol, e.ts);
      for (const l of this.#listeners) l({ batchId: groupId, source, rows: enc.rowCount, lastTs, partition: token });
    }
    return done(groupId, enc.rowCount, enc.dates.map((d) => d.date).sort());
  }

  /**
   * Appends one batch given as SQL: `relation` (a table, view or parenthesised query in the
   * lake's DuckDB, e.g. over a Parquet file) yields RAW_RELATION_COLUMNS. No row crosses into JS.
   * One scan checks the rows (configured symbols; no NULL `ts`, `what_to_show` or price; finite
   * prices) and finds the (calendar, UTC hour) pairs present, which map to session dates; then
   * one file per date is written sorted by (symbol, ts) and the batch is committed like
   * writeTwsBars: files renamed into place first, the ledger line last. A committed id is a
   * no-op, unless files of it were lost: then only the lost dates are written again (as
   * writeBatchGroup does). With a few dates each file is written straight from the relation (a date-sorted
   * Parquet source is pruned by its row-group statistics); with more, the relation is read once
   * into a temporary table first.
   */
  async writeRelation(relation: string, batch: RelationBatch): Promise<WriteBatchResult> {
    checkBatchId(batch.batchId);
    const presence = this.batchPresence([batch.batchId]).get(batch.batchId);
    if (presence?.committed && presence.missing.length === 0) return { batchId: batch.batchId, written: false, rows: 0, dates: [] };
    const onlyDates = presence?.committed ? new Set(presence.missing.map((m) => m.date)) : null;
    if (batch.source.length === 0) throw new InputError(`batch ${batch.batchId}: source is empty`);
    if (!batch.costly) return this.#writeRelation(relation, batch, onlyDates);
    const once = await this.#lake.createTempTable(`SELECT * FROM ${relation}`);
    try {
      return await this.#writeRelation(once, batch, onlyDates);
    } finally {
      await this.#lake.dropTable(once);
    }
  }

  /**
   * The scan writeRelation makes before writing a relation (dates, symbols' attributes, input
   * order, refused rows), made ahead so a caller can fold its own checks into the same read:
   * `counts` are counted over every row, the write's aggregates over the `keep` rows. Hand the
   * summary to writeRelation together with a relation of exactly the kept rows.
   */
  async summarizeRelation(relation: string, request: SummaryRequest = {}): Promise<{ summary: RelationSummary; counts: Record<string, number> }> {
    const known = this.#symbolRelation();
    const names = Object.keys(request.counts ?? {});
    const rows = await this.#lake.query<SummaryRow>(this.#summarySql(relation, known, request));
    const totals = rows.find((r) => !r.by_hour && !r.by_symbol);
    const counts: Record<string, number> = {};
    names.forEach((n, i) => (counts[n] = Number(totals?.[`c${i}`] ?? 0)));
    const descents = await this.#descents(relation);
    return { summary: { symbols: known.symbols.join('\n'), rows: rows.filter((r) => r.by_hour || r.by_symbol), descents }, counts };
  }

  /**
   * Whether the rows come in (symbol, ts) order: rows that come before their predecessor. A
   * query of its own: a streaming lag over the input order runs on one thread, and only the
   * symbol and ts columns need reading for it, while the summary's aggregates run on all.
   */
  async #descents(relation: string): Promise<number> {
    const [r] = await this.#lake.query<{ descents: number | null }>(
      `SELECT count(*) FILTER (WHERE prev_symbol > symbol OR (prev_symbol = symbol AND prev_ts > ts)) AS descents
       FROM (SELECT symbol, ts, lag(symbol) OVER () AS prev_symbol, lag(ts) OVER () AS prev_ts FROM ${this.#castRelation(relation)})`,
    );
    return Number(r?.descents ?? 0);
  }

  /** The relation with RAW_RELATION_COLUMNS cast to their types (extra: more columns computed over the relation's own). */
  #castRelation(relation: string, extra = ''): string {
    return `(SELECT CAST(symbol AS VARCHAR) AS symbol, CAST(con_id AS BIGINT) AS con_id, CAST(what_to_show AS VARCHAR) AS what_to_show,
                    CAST(ts AS TIMESTAMPTZ) AS ts, CAST(open AS DOUBLE) AS open, CAST(high AS DOUBLE) AS high, CAST(low AS DOUBLE) AS low,
                    CAST(close AS DOUBLE) AS close, CAST(volume AS DOUBLE) AS volume, CAST(wap AS DOUBLE) AS wap,
                    CAST(trade_count AS BIGINT) AS trade_count, CAST(request_id AS VARCHAR) AS request_id${extra}
             FROM ${relation})`;
  }

  /** Each row's symbol by number: an enum code over the configured symbols in byte order, NULL for an unknown one. */
  #symbolNumber(symbols: readonly string[]): string {
    return symbols.length === 0 ? 'NULL::INTEGER' : `CAST(enum_code(TRY_CAST(r.symbol AS ${sqlEnum(symbols)})) AS INTEGER)`;
  }

  /**
   * One scan: the (calendar, hour) pairs present (for dates) and each symbol's attributes.
   * Aggregated per (symbol, hour) first (a few rows per symbol and session), then rolled up per
   * (calendar, hour) and per symbol: each row updates one set of aggregates, not two. A projection,
   * not a join, numbers the symbols, so the input order survives.
   */
  #summarySql(relation: string, known: { symbols: string[]; cal: number[] }, request: SummaryRequest): string {
    const countExprs = Object.values(request.counts ?? {});
    const extra = `, ${request.keep ?? 'true'} AS _keep${countExprs.map((c, i) => `, (${c}) AS _c${i}`).join('')}`;
    const rel = this.#castRelation(relation, extra);
    const calList = sqlList(known.cal, 'INTEGER');
    const numbered = `(SELECT r.*, ${this.#symbolNumber(known.symbols)} AS k FROM ${rel} r)`;
    const cAgg = countExprs.map((_, i) => `, count(*) FILTER (WHERE r._c${i}) AS c${i}`).join('');
    const cNull = countExprs.map((_, i) => `, NULL::BIGINT AS c${i}`).join('');
    const cSum = countExprs.map((_, i) => `, sum(c${i}) AS c${i}`).join('');
    return `WITH fine AS MATERIALIZED (
         SELECT r.k, epoch_ms(r.ts) // ${HOUR_MS} AS hour, r._keep, count(*) AS n, count(*) FILTER (WHERE r.k IS NULL) AS unknown,
                count(*) FILTER (WHERE ${INCOMPLETE}) AS bad, epoch_ms(max(r.ts)) AS last,
                min(r.what_to_show) AS wts_min, max(r.what_to_show) AS wts_max, min(r.con_id) AS con_min, max(r.con_id) AS con_max, count(r.con_id) AS con_n,
                min(r.request_id) AS req_min, max(r.request_id) AS req_max, count(r.request_id) AS req_n${cAgg}
         FROM ${numbered} r GROUP BY ALL)
       SELECT true AS by_hour, false AS by_symbol, (${calList})[k + 1] AS cal, hour, NULL::INTEGER AS k, sum(n) AS n, sum(unknown) AS unknown, sum(bad) AS bad, max(last) AS last,
              NULL AS wts_min, NULL AS wts_max, NULL::BIGINT AS con_min, NULL::BIGINT AS con_max, 0 AS con_n, NULL AS req_min, NULL AS req_max, 0 AS req_n${cNull}
       FROM fine WHERE _keep GROUP BY ALL
       UNION ALL
       SELECT false, true, NULL, NULL, k, sum(n), sum(unknown), sum(bad), max(last), min(wts_min), max(wts_max), min(con_min), max(con_max), sum(con_n),
              min(req_min), max(req_max), sum(req_n)${cNull}
       FROM fine WHERE _keep GROUP BY k
       UNION ALL
       SELECT false, false, NULL, NULL, NULL, sum(n), sum(unknown), sum(bad), NULL, NULL, NULL, NULL, NULL, 0, NULL, NULL, 0${cSum}
       FROM fine`;
  }

  async #writeRelation(relation: string, batch: RelationBatch, onlyDates: ReadonlySet<string> | null): Promise<WriteBatchResult> {
    const { batchId, source, barSize, ingestionTs } = batch;
    const token = BAR_SIZE_TOKENS[barSize];
    const lake = this.#lake;
    const known = this.#symbolRelation();
    const rel = this.#castRelation(relation);
    const incomplete = INCOMPLETE;
    const k = this.#symbolNumber(known.symbols);
    const calList = sqlList(known.cal, 'INTEGER');
    const given = batch.summary !== undefined && batch.summary.symbols === known.symbols.join('\n') ? batch.summary : null;
    const summary = given?.rows ?? (await lake.query<SummaryRow>(this.#summarySql(relation, known, {}))).filter((r) => r.by_hour || r.by_symbol);
    const hours = summary.filter((h) => h.by_hour).sort((a, b) => (a.cal ?? -1) - (b.cal ?? -1) || (a.hour ?? 0) - (b.hour ?? 0));
    if (hours.some((h) => h.unknown > 0 || h.bad > 0)) await this.#refuseRows(batchId, rel, known.sql, incomplete);
    const total = hours.reduce((n, h) => n + h.n, 0);
    const perHour = hourDates(hours as { cal: number; hour: number }[], known.calendars);
    const ranges = dateRanges(perHour);
    const dates = [...ranges.keys()];
    // When each symbol has one what_to_show / con_id / request_id (the usual case) they ride on
    // its number, written as enums or constants: cheap strings to write, narrow rows to sort.
    const bySymbol = new Map(summary.filter((h) => h.by_symbol && h.k !== null).map((h) => [h.k as number, h]));
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
    const ordered = (given?.descents ?? (await this.#descents(relation))) === 0;
    const order = ordered ? '' : ' ORDER BY k, ts';
    // One calendar in the batch: a plain range on ts, which a Parquet scan prunes by its statistics.
    const oneCalendar = new Set(perHour.map((h) => h.cal)).size <= 1;
    // A re-write of lost dates is a record of its own (its files named after it), with the batch as its one part.
    const fileId = onlyDates ? `g-${createHash('sha256').update(`${batchId}:${[...onlyDates].sort().join(',')}`).digest('hex').slice(0, 32)}` : batchId;
    const wanted = (date: string): boolean => onlyDates === null || onlyDates.has(date);
    const files: BatchRecord['files'] = [];
    const endWrite = this.#beginWrite(token, `batch-${fileId}`);
    try {
      const dateMap = dates.length > DIRECT_DATES ? hourListMap(perHour, dates) : null;
      if (dateMap === null) {
        for (const [date, rs] of ranges) {
          if (!wanted(date)) continue;
          const where = rs.map((g) => `(${oneCalendar ? '' : `(${calList})[${k} + 1] = ${g.cal} AND `}r.ts >= ${sqlTimestamptz(g.from)} AND r.ts < ${sqlTimestamptz(g.to)})`).join(' OR ');
          files.push(await this.#writeDateFile(token, date, fileId, output(`SELECT * FROM (SELECT ${narrow} FROM ${rel} r WHERE ${where})${order}`)));
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
            if (!wanted(date)) continue;
            files.push(await this.#writeDateFile(token, date, fileId, output(`SELECT * FROM ${staged} WHERE date_no = ${i}${order}`)));
          }
        } finally {
          await lake.dropTable(staged);
        }
      }
      const written = files.reduce((n, f) => n + f.rows, 0);
      if (onlyDates === null && written !== total) throw new StorageError(`batch ${batchId}: wrote ${written} of ${total} rows; not committed`, { details: { batchId } });
      const record: BatchRecord = { type: 'batch', batch_id: fileId, bar_size: token, source, rows: written, ingestion_ts: ingestionTs, files };
      if (onlyDates) record.parts = [{ batch_id: batchId, rows: written, dates: files.map((f) => f.date) }];
      this.#commit(record, () => {
        const last = new Map<string, number>();
        for (const [i, r] of bySymbol) if (r.last !== null) last.set(known.symbols[i] as string, r.last);
        return last;
      });
      return { batchId, written: true, rows: written, dates: files.map((f) => f.date) };
    } catch (err) {
      // Not committed: take the renamed files away again, so no reader or glob finds them.
      for (const f of files) rmSync(join(this.#lake.root, f.path), { force: true });
      throw err;
    } finally {
      endWrite();
    }
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

  /**
   * Marks a write of `batch-…` / `compacted-…` files (`stem`) in progress until the returned
   * function is called (after the ledger line): a hidden marker named after this process in the
   * bar size's folder. A file renamed into place whose ledger line never came (the writer killed
   * in between) is invisible to readers; the marker left by the dead writer is what lets
   * removeStaleFiles delete it without touching a running writer's files.
   */
  #beginWrite(token: string, stem: string): () => void {
    const dir = this.#lake.path('raw', RAW_DATASET, `bar_size=${token}`);
    ensureDir(dir, `write ${stem}`);
    const marker = join(dir, tempName(`${PENDING}${stem}`));
    try {
      writeFileSync(marker, '');
    } catch (err) {
      throw classifyWriteFault(err, `write ${stem}`, dir) ?? err;
    }
    return () => rmSync(marker, { force: true });
  }

  /**
   * Removes what writers killed mid-write left in the lake: raw files renamed into place whose
   * ledger line never came (their writer's pending marker is there and the writer is gone), then
   * stale hidden temporary files anywhere (Lake.removeStaleTempFiles). A running writer's files
   * are kept; a raw file no ledger line names and no marker claims (e.g. a restored ledger) is
   * left alone, since it may be the only copy of its rows. `now` is epoch ms from the Clock.
   */
  removeStaleFiles(now: number): StaleTempSweep {
    const removed: string[] = [];
    let kept = 0;
    const base = this.#lake.path('raw', RAW_DATASET);
    const list = (dir: string): string[] => {
      try {
        return readdirSync(dir);
      } catch {
        return [];
      }
    };
    for (const barDir of list(base).filter((n) => n.startsWith('bar_size='))) {
      const barPath = join(base, barDir);
      // Order matters against a concurrent writer (marker, renames, ledger line, marker gone):
      // candidate files first, then the markers, then the ledger.
      const candidates: { rel: string; stem: string }[] = [];
      for (const dateDir of list(barPath).filter((n) => n.startsWith('date='))) {
        for (const f of list(join(barPath, dateDir))) {
          const m = RAW_FILE_NAME.exec(f);
          if (m) candidates.push({ rel: relative(this.#lake.root, join(barPath, dateDir, f)), stem: m[1] as string });
        }
      }
      const live = new Set<string>();
      const stale: { marker: string; stem: string }[] = [];
      for (const name of list(barPath)) {
        const subject = tempSubject(name);
        if (subject === null || !subject.startsWith(PENDING)) continue;
        const stem = subject.slice(PENDING.length);
        const w = writerOf(name);
        let state = w === null ? 'unknown' : writerState(w);
        if (state === 'unknown') {
          try {
            state = now - statSync(join(barPath, name)).mtimeMs > FOREIGN_TEMP_MAX_AGE_MS ? 'gone' : 'running';
          } catch {
            state = 'running';
          }
        }
        if (state === 'gone') stale.push({ marker: name, stem });
        else live.add(stem);
      }
      const dead = new Set(stale.map((x) => x.stem).filter((stem) => !live.has(stem)));
      const index = this.#index.refresh();
      for (const c of candidates) {
        if (!dead.has(c.stem) || index.isKnownPath(c.rel)) continue;
        rmSync(join(this.#lake.root, c.rel), { force: true });
        removed.push(c.rel);
      }
      for (const x of stale) {
        rmSync(join(barPath, x.marker), { force: true });
        removed.push(relative(this.#lake.root, join(barPath, x.marker)));
      }
      kept += live.size;
    }
    const temps = this.#lake.removeStaleTempFiles(now);
    return { removed: [...removed, ...temps.removed], kept: kept + temps.kept };
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
    const info: BatchCommitInfo = { batchId: record.batch_id, source: record.source, rows: record.rows, lastTs: lastTs(), partition: record.bar_size };
    for (const l of this.#listeners) l(info);
  }

  /** Committed, not-superseded files per date for a bar size (lake-absolute paths), dates ascending. */
  visibleFiles(barSize: BarSize = '1 min', dates?: readonly string[], series?: string | null): Map<string, string[]> {
    const out = new Map<string, string[]>();
    for (const [d, paths] of this.#index.refresh().visibleFiles(rawPartitionToken(barSize, series), dates)) {
      out.set(d, paths.map((p) => join(this.#lake.root, p)));
    }
    return out;
  }

  /** Committed, not-superseded files of every raw partition (`1min`, `1d`, `1min-bid`: lake-absolute paths). */
  visibleFilesByPartition(): Map<string, string[]> {
    const index = this.#index.refresh();
    return new Map(index.partitions().map((p) => [p, [...index.visibleFiles(p).values()].flat().map((f) => join(this.#lake.root, f))]));
  }

  /** Session dates that hold raw data for a bar size. */
  listDates(barSize: BarSize = '1 min', series?: string | null): string[] {
    return [...this.visibleFiles(barSize, undefined, series).keys()];
  }

  /**
   * A SQL relation over the committed raw rows of the given dates (with `bar_size` and `date`
   * from the Hive path). `dedup` keeps one row per (source, symbol, ts), latest ingestion first.
   */
  relationSql(q: ReadRawQuery): string {
    if (!DATE.test(q.start) || !DATE.test(q.end)) throw new InputError(`dates must be YYYY-MM-DD, got ${q.start}..${q.end}`);
    const files = [...this.visibleFiles(q.barSize ?? '1 min', undefined, q.series).entries()]
      .filter(([d]) => d >= q.start && d <= q.end)
      .flatMap(([, fs]) => fs)
      .filter((f) => !q.presentOnly || existsSync(f));
    const where = q.symbols ? `WHERE symbol IN (${q.symbols.length ? sqlKeyList(q.symbols) : 'NULL'})` : '';
    const rel = `(${rawFilesSelect(files)} ${where})`;
    if (!q.dedup) return rel;
    return `(SELECT * FROM ${rel} QUALIFY row_number() OVER (PARTITION BY source, symbol, ts ORDER BY ingestion_ts DESC, batch_id DESC) = 1)`;
  }

  /**
   * From now on, keeps the committed rows of the most recent session dates cached on the lake's
   * connection for leaseDate (a long-lived process: the daemon's live chain). Off by default: a
   * one-shot run would only pay for the copy.
   */
  cacheRecentDates(maxDates = 4): void {
    this.#cache ??= new RawRowCache(this.#lake, rawFilesSelect, { maxDates });
  }

  /**
   * The committed raw rows of one session date of a bar dataset's raw partition (relationSql's
   * rows and columns: every symbol, not deduplicated) from the cache, brought up to date by reading only the files committed since
   * its last lease; null when caching is off or the date has no files. Release the lease once the
   * statements reading it are done (the next lease waits for it).
   */
  async leaseDate(date: string, barSize: BarSize = '1 min', series?: string | null): Promise<RawRowLease | null> {
    if (!this.#cache) return null;
    if (!DATE.test(date)) throw new InputError(`dates must be YYYY-MM-DD, got ${date}`);
    return this.#cache.lease(`${rawPartitionToken(barSize, series)}|${date}`, () => this.visibleFiles(barSize, [date], series).get(date) ?? []);
  }

  /** Newest stored bar start per symbol, looking at the most recent `lookbackDates` partitions. */
  async latestBarTimes(barSize: BarSize = '1 min', lookbackDates = 7, series?: string | null): Promise<Map<string, number>> {
    const dates = this.listDates(barSize, series).slice(-lookbackDates);
    const out = new Map<string, number>();
    if (dates.length === 0) return out;
    const rows = await this.#lake.query<{ symbol: string; ts: number }>(
      `SELECT symbol, max(ts) AS ts FROM ${this.relationSql({ start: dates[0] as string, end: dates[dates.length - 1] as string, barSize, series })} GROUP BY symbol`,
    );
    for (const r of rows) out.set(r.symbol, r.ts);
    return out;
  }

  /** Rows of the committed batches for the session dates [start, end], sorted by (symbol, ts). */
  async readTwsBars(q: ReadRawQuery): Promise<RawBarRow[]> {
    const rows = await this.#lake.query(
      `SELECT * EXCLUDE (date) FROM ${this.relationSql(q)} ORDER BY symbol, ts, ingestion_ts, batch_id`,
    );
    return RAW_BAR_READS.parseRows(rows);
  }

  /**
   * Merges a date's files into one file sorted by (symbol, ts). Lossless (row multiset checked
   * before the commit) and atomic for readers: the ledger line is the switch-over; the old files
   * are deleted only after it.
   */
  async compactRaw(date: string, barSize: BarSize = '1 min', series?: string | null): Promise<CompactResult> {
    if (!DATE.test(date)) throw new InputError(`date must be YYYY-MM-DD, got ${date}`);
    const files = this.visibleFiles(barSize, [date], series).get(date) ?? [];
    const token = rawPartitionToken(barSize, series);
    if (files.length === 0) return { date, filesBefore: 0, rows: 0, path: null };
    if (files.length === 1 && /compacted-[0-9a-f]+\.parquet$/.test(files[0] as string)) {
      this.#removeSuperseded(date, barSize, series);
      return { date, filesBefore: 1, rows: -1, path: files[0] as string };
    }
    const rels = files.map((f) => relative(this.#lake.root, f));
    const hash = createHash('sha256').update(rels.join('\n')).digest('hex').slice(0, 16);
    const target = this.#lake.path('raw', RAW_DATASET, `bar_size=${token}`, `date=${date}`, `compacted-${hash}.parquet`);
    const src = `read_parquet([${files.map(sqlString).join(', ')}], hive_partitioning = false)`;
    let rows: number;
    const endWrite = this.#beginWrite(token, `compacted-${hash}`);
    try {
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
      rows = c.after;
    } finally {
      endWrite();
    }
    this.#removeSuperseded(date, barSize, series);
    return { date, filesBefore: files.length, rows, path: target };
  }

  /** Deletes files that a committed compaction replaced (idempotent; finishes an interrupted compaction). */
  #removeSuperseded(date: string, barSize: BarSize, series?: string | null): void {
    const token = rawPartitionToken(barSize, series);
    const visible = new Set(this.visibleFiles(barSize, [date], series).get(date) ?? []);
    for (const r of this.#ledger.readAll()) {
      if (r.type !== 'compaction' || r.date !== date || r.bar_size !== token) continue;
      for (const p of r.replaces) {
        const abs = join(this.#lake.root, p);
        if (!visible.has(abs) && existsSync(abs)) rmSync(abs, { force: true });
      }
    }
  }
}
