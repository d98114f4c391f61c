import { createHash } from 'node:crypto';
import { createReadStream, readdirSync, statSync } from 'node:fs';
import { basename, extname, join, resolve } from 'node:path';
import type { BarSize } from '../core/bars.js';
import type { Clock } from '../core/clock.js';
import { InputError, IbpipeError, StorageError } from '../core/errors.js';
import { sqlEnum, sqlIdent, sqlList, sqlString } from '../core/sql.js';
import type { Lake } from '../storage/lake.js';
import type { RawStore, RelationSummary, WriteBatchResult } from '../storage/raw-store.js';
import { PROBLEMS, shownValue } from './bar-value-rules.js';
import {
  decimalFromNumberSql,
  decimalFromTextSql,
  instantFromEpochNumberSql,
  instantFromLocalTimestampSql,
  instantFromTextSql,
  instantFromTimestamptzSql,
  LayeredSelect,
  msToTimestamptz,
  type ParsedSql,
} from './bar-value-sql.js';
import { positionOfByte, positionOfRecordField, readCsvHeader } from './csv-positions.js';
import type { IngestBatch, IngestRequest, IngestWorkItem, Ingestor, RelationRows } from './ingestor.js';

const REQUIRED = ['symbol', 'ts', 'open', 'high', 'low', 'close', 'volume'] as const;
const OPTIONAL = ['wap', 'trade_count'] as const;
type Field = (typeof REQUIRED)[number] | (typeof OPTIONAL)[number];
const FIELDS: readonly Field[] = [...REQUIRED, ...OPTIONAL];
const KNOWN = new Set<string>(FIELDS);
const UNKNOWN_SYMBOL = 'is not a configured instrument';
/** Names DuckDB's CSV reject tables uniquely within the process (checks may overlap on one lake). */
let rejectTables = 0;
/**
 * Summary rows (one per symbol and per calendar hour) that checked, not yet written files keep
 * for their writes at once; a check beyond keeps none, and its file's write scans it again. Bounds
 * the memory of checking many files before writing the first (250 daily files of 5,000 symbols).
 */
const HELD_SUMMARY_ROWS_MAX = 250_000;

/** What the file ingestor needs to know about a configured instrument. */
export interface FileInstrument {
  readonly key: string;
  readonly what_to_show: string;
  readonly con_id?: number | undefined;
}

export interface FileIngestorDeps {
  rawStore: RawStore;
  lake: Lake;
  clock: Clock;
  instruments: readonly FileInstrument[];
  barSize: BarSize;
  /** Source name when run as a configured source (default `file`). */
  name?: string;
  /** Files or folders (their *.csv / *.parquet, not recursive) that `plan` / `run` read. */
  paths?: readonly string[];
  /**
   * IANA zone of zone-less times (CSV text without Z or offset, Parquet TIMESTAMP without time
   * zone); absent = such values are refused. Never assumed to be UTC.
   */
  tsTimezone?: string | undefined;
  /** Summary rows checked files may keep for their writes at once (default HELD_SUMMARY_ROWS_MAX). */
  maxHeldSummaryRows?: number | undefined;
}

/** A file that passed every check, ready to write; none of its rows is held in JS. */
export interface CheckedFile {
  readonly file: string;
  readonly batchId: string;
  readonly format: 'csv' | 'parquet';
  readonly rows: number;
  /** Size and modification time when checked: a file changed since is refused, not written. */
  readonly stamp: string;
  /** How each field is read (column name or position, source type). */
  readonly columns: readonly FileColumn[];
  /**
   * The raw store's pre-write scan of the rows the check kept, made by the check's own read of
   * the file (absent when the check had to scan on its own): the write then reads the file once.
   */
  readonly summary?: { readonly keep: string; readonly of: RelationSummary } | undefined;
}

export interface FileIngestResult extends WriteBatchResult {
  file: string;
}

/** One mapped column of a file. */
export interface FileColumn {
  readonly field: Field;
  /** Source column: the Parquet name, or the CSV position as c<i>. */
  readonly source: string;
  /** DuckDB type of the source column (VARCHAR for every CSV column). */
  readonly type: string;
}

type TypeClass = 'text' | 'instant' | 'local' | 'date' | 'number' | 'other';

function classify(type: string): TypeClass {
  if (type === 'VARCHAR') return 'text';
  if (type === 'TIMESTAMP WITH TIME ZONE') return 'instant';
  if (/^TIMESTAMP(_NS|_MS|_S)?$/.test(type)) return 'local';
  if (type === 'DATE') return 'date';
  if (/^(U?(TINYINT|SMALLINT|INTEGER|BIGINT|HUGEINT)|FLOAT|DOUBLE|DECIMAL\(\d+,\d+\))$/.test(type)) return 'number';
  return 'other';
}

/** First line of a DuckDB error, without its SQL context. */
function engineMessage(err: unknown): string {
  const m = err instanceof Error ? err.message : String(err);
  return (m.replace(/^SQL failed: /, '').split('\n')[0] ?? m).slice(0, 300);
}

/**
 * Input problems DuckDB reports while reading a file (corrupt pages, bad magic bytes, a file that
 * is not what its extension says), as opposed to engine trouble such as running out of memory.
 */
function isInputReadError(err: unknown): boolean {
  if (err instanceof IbpipeError && !(err instanceof StorageError)) return false;
  return /^(SQL failed: )?(Invalid( Input)? Error|IO Error|Conversion Error)\b/.test(err instanceof Error ? err.message : '');
}

async function hashFile(file: string): Promise<string> {
  const h = createHash('sha256');
  for await (const chunk of createReadStream(file)) h.update(chunk as Buffer);
  return h.digest('hex');
}

function stampOf(file: string): string {
  const st = statSync(file);
  return `${st.size}:${st.mtimeMs}`;
}

/**
 * Loads CSV or Parquet bar files into the raw store with source FILE, entirely in DuckDB: a file
 * is read and checked set-based (only the first refused cell comes back to JS, with its line and
 * column), then written from a relation. One file is one batch whose id is the hash of its bytes,
 * so ingesting the same file again adds nothing. Any bad cell refuses the whole file, and every
 * file is checked before the first is written.
 *
 * Values follow bar-value-rules.ts: calendar-valid ISO-8601 instants with a zone (or a declared
 * `tsTimezone` for zone-less ones), plausible epoch numbers, decimal numbers only.
 */
export class FileIngestor implements Ingestor {
  readonly name: string;
  readonly source = 'FILE';
  readonly #deps: FileIngestorDeps;
  /** Summaries handed out by checks and not yet written, with their row counts. */
  readonly #held = new Map<RelationSummary, number>();
  #heldRows = 0;

  constructor(deps: FileIngestorDeps) {
    this.#deps = deps;
    this.name = deps.name ?? 'file';
  }

  /** Reads and checks a file without writing anything; throws InputError naming the first bad cell. */
  async checkFile(path: string, request: IngestRequest = {}): Promise<CheckedFile & { kept: number }> {
    const file = resolve(path);
    const unreadable = (err: unknown): InputError => new InputError(`${file}: cannot read (${(err as Error).message})`, { cause: err, details: { file } });
    let stamp: string;
    try {
      stamp = stampOf(file);
    } catch (err) {
      throw unreadable(err);
    }
    // The batch id (the bytes' hash) is computed on the event loop while DuckDB reads the file.
    const hashing = hashFile(file);
    hashing.catch(() => undefined);
    let result: CheckedFile & { kept: number };
    try {
      const ext = extname(file).toLowerCase();
      if (ext !== '.csv' && ext !== '.parquet') throw new InputError(`${file}: expected a .csv or .parquet file`, { details: { file } });
      const format = ext === '.csv' ? 'csv' : 'parquet';
      const columns = format === 'csv' ? this.#csvColumns(file) : await this.#parquetColumns(file);
      const unhashed = { file, batchId: '', format, rows: 0, stamp, columns } as const;
      result = (await this.#checkAndSummarize(unhashed, request)) ?? { ...unhashed, ...(await this.#check(unhashed, request)) };
    } catch (err) {
      // A file that cannot be read at all says so, rather than what reading it as a format found.
      const failed = await hashing.then(() => null, (e: unknown) => e);
      throw failed === null ? err : unreadable(failed);
    }
    let digest: string;
    try {
      digest = await hashing;
    } catch (err) {
      throw unreadable(err);
    }
    return { ...result, batchId: `file-${digest.slice(0, 32)}` };
  }

  /**
   * The check and the raw store's pre-write scan in one read of the file: every cell's problem
   * counted, and the kept rows summarised for the write. Null when DuckDB fails reading the file
   * or converting a value: the plain check then names the problem. Every value expression is also
   * part of a problem expression, so today only unreadable input (corrupt Parquet pages) gets there.
   */
  async #checkAndSummarize(c: CheckedFile, request: IngestRequest): Promise<(CheckedFile & { kept: number }) | null> {
    const rejects = c.format === 'csv' ? `ibp_rejects_${++rejectTables}` : null;
    try {
      const rel = this.#parsed(c, rejects, false);
      const anyProblem = this.#anyProblem(rel.parsed);
      const keep = this.#keepSql(request);
      const out = `(SELECT _inst_key AS symbol, _inst_con_id AS con_id, _inst_wts AS what_to_show, v_ts AS ts, v_open AS open, v_high AS high, v_low AS low,
                           v_close AS close, v_volume AS volume, ${rel.parsed.has('wap') ? 'v_wap' : 'NULL'} AS wap, ${rel.parsed.has('trade_count') ? 'v_trade_count' : 'NULL'} AS trade_count,
                           ${sqlString(basename(c.file))} AS request_id, * FROM ${rel.sql})`;
      let scan: Awaited<ReturnType<RawStore['summarizeRelation']>>;
      try {
        scan = await this.#deps.rawStore.summarizeRelation(out, { keep, counts: { n: 'true', kept: keep, bad: anyProblem } });
      } catch (err) {
        if (rejects !== null) await this.#failOnRejects(c.file, rejects, c.columns.length).catch((e: unknown) => (e instanceof InputError ? Promise.reject(e) : undefined));
        if (isInputReadError(err)) return null;
        throw err;
      }
      if (rejects !== null) await this.#failOnRejects(c.file, rejects, c.columns.length);
      const { n = 0, kept = 0, bad = 0 } = scan.counts;
      if (bad > 0) {
        const located = this.#parsed(c, null);
        await this.#failOnFirstProblem(c, located.sql, this.#anyProblem(located.parsed), bad);
      }
      const size = scan.summary.rows.length;
      if (this.#heldRows + size > (this.#deps.maxHeldSummaryRows ?? HELD_SUMMARY_ROWS_MAX)) return { ...c, rows: n, kept };
      this.#held.set(scan.summary, size);
      this.#heldRows += size;
      return { ...c, rows: n, kept, summary: { keep: this.#keepSql(request, '_inst_key'), of: scan.summary } };
    } finally {
      if (rejects !== null) {
        await this.#deps.lake.run(`DROP TABLE IF EXISTS ${rejects}_errors`);
        await this.#deps.lake.run(`DROP TABLE IF EXISTS ${rejects}_scans`);
      }
    }
  }

  /** Checks a file by a scan of its own (when the fused check and summary could not convert a value). */
  async #check(checked: CheckedFile, request: IngestRequest): Promise<{ rows: number; kept: number }> {
    const { file, format, columns } = checked;
    const rejects = format === 'csv' ? `ibp_rejects_${++rejectTables}` : null;
    try {
      const rel = this.#parsed(checked, rejects);
      const anyProblem = this.#anyProblem(rel.parsed);
      let summary: { n: number; kept: number; bad: number };
      try {
        const res = await this.#deps.lake.query<{ n: number; kept: number; bad: number }>(
          `SELECT count(*) AS n, count(*) FILTER (WHERE ${this.#keepSql(request)}) AS kept, count(*) FILTER (WHERE ${anyProblem}) AS bad FROM ${rel.sql}`,
        );
        summary = res[0] as { n: number; kept: number; bad: number };
      } catch (err) {
        // A CSV error DuckDB set aside explains the failure better; its table may not exist, though.
        if (rejects !== null) await this.#failOnRejects(file, rejects, columns.length).catch((e: unknown) => (e instanceof InputError ? Promise.reject(e) : undefined));
        if (isInputReadError(err)) {
          throw new InputError(`${file}: cannot read as ${format === 'csv' ? 'CSV' : 'Parquet'} (${engineMessage(err)})`, { cause: err, details: { file } });
        }
        throw err;
      }
      if (rejects !== null) await this.#failOnRejects(file, rejects, columns.length);
      if (summary.bad > 0) await this.#failOnFirstProblem(checked, rel.sql, anyProblem, summary.bad);
      return { rows: summary.n, kept: summary.kept };
    } finally {
      if (rejects !== null) {
        await this.#deps.lake.run(`DROP TABLE IF EXISTS ${rejects}_errors`);
        await this.#deps.lake.run(`DROP TABLE IF EXISTS ${rejects}_scans`);
      }
    }
  }

  #anyProblem(parsed: ReadonlySet<Field>): string {
    return `coalesce(${FIELDS.filter((f) => parsed.has(f)).map((f) => `p_${f}`).join(', ')}) IS NOT NULL`;
  }

  /** Writes a checked file as one batch (a no-op when its id is already committed). */
  async writeFile(checked: CheckedFile, request: IngestRequest = {}, batchId = checked.batchId): Promise<FileIngestResult> {
    try {
      this.assertUnchanged(checked);
      const rel = this.relationOf(checked, request);
      const result = await this.#deps.rawStore.writeRelation(rel.sql, {
        batchId,
        source: this.source,
        barSize: this.#deps.barSize,
        ingestionTs: this.#deps.clock.now(),
        costly: rel.costly,
        summary: rel.summary,
      });
      return { ...result, file: checked.file };
    } finally {
      this.#release(checked);
    }
  }

  /** Forgets a checked file's summary (its write is done or abandoned). */
  #release(checked: CheckedFile): void {
    const of = checked.summary?.of;
    const size = of === undefined ? undefined : this.#held.get(of);
    if (of === undefined || size === undefined) return;
    this.#held.delete(of);
    this.#heldRows -= size;
  }

  /** Throws InputError when the file changed (size or modification time) since it was checked. */
  assertUnchanged(checked: CheckedFile): void {
    let now: string;
    try {
      now = stampOf(checked.file);
    } catch (err) {
      throw new InputError(`${checked.file}: cannot read (${(err as Error).message})`, { cause: err });
    }
    if (now !== checked.stamp) throw new InputError(`${checked.file}: changed after it was checked; ingest it again`, { details: { file: checked.file } });
  }

  /** The rows of a checked file (narrowed by the request) as a relation for RawStore.writeRelation. */
  relationOf(checked: CheckedFile, request: IngestRequest = {}): RelationRows {
    // The check's summary holds for exactly the rows it kept: the same narrowing, or none.
    const keep = this.#keepSql(request, '_inst_key');
    const summary = checked.summary?.keep === keep ? checked.summary.of : undefined;
    // CSV text is parsed by SQL on every read; a Parquet file's typed columns are cheap to read again.
    return { sql: this.#writeRelation(checked, request), source: this.source, barSize: this.#deps.barSize, costly: checked.format === 'csv', summary };
  }

  async ingestFile(path: string): Promise<FileIngestResult> {
    return this.writeFile(await this.checkFile(path));
  }

  /** The configured paths, folders expanded to their .csv / .parquet files (sorted). */
  listFiles(): string[] {
    const out: string[] = [];
    for (const p of this.#deps.paths ?? []) {
      const abs = resolve(p);
      let isDir: boolean;
      try {
        isDir = statSync(abs).isDirectory();
      } catch (err) {
        throw new InputError(`${abs}: cannot read (${(err as Error).message})`, { cause: err });
      }
      if (!isDir) {
        out.push(abs);
        continue;
      }
      const names = readdirSync(abs).filter((n) => /\.(csv|parquet)$/i.test(n)).sort();
      out.push(...names.map((n) => join(abs, n)));
    }
    return out;
  }

  async plan(_request: IngestRequest): Promise<IngestWorkItem[]> {
    return this.listFiles().map((file) => ({ label: file, symbols: [], start: null, end: null, rows: null }));
  }

  /**
   * One batch per file, handed over as a SQL relation (no row objects). Every file is checked
   * before the first batch is produced, so one bad file leaves the lake untouched. A request that
   * narrows symbols or the window keeps only matching bars; such a batch gets its own id (file
   * hash + filter), so the unfiltered file can still be ingested later.
   */
  async *run(request: IngestRequest): AsyncGenerator<IngestBatch> {
    const checked: (CheckedFile & { kept: number })[] = [];
    try {
      for (const f of this.listFiles()) checked.push(await this.checkFile(f, request));
      const narrowed = request.symbols !== undefined || request.start !== undefined || request.end !== undefined;
      for (const c of checked) {
        request.signal?.throwIfAborted();
        if (c.kept === 0) continue;
        let batchId = c.batchId;
        if (narrowed && c.kept !== c.rows) {
          const filter = JSON.stringify([request.symbols ? [...new Set(request.symbols)].sort() : null, request.start ?? null, request.end ?? null]);
          batchId = `${c.batchId}-${createHash('sha256').update(filter).digest('hex').slice(0, 12)}`;
        }
        this.assertUnchanged(c);
        yield { batchId, events: [], relation: this.relationOf(c, request), rows: c.kept, label: c.file };
        // The consumer has written the batch (or stopped): its summary is no longer needed.
        this.#release(c);
      }
    } finally {
      for (const c of checked) this.#release(c);
    }
  }

  /**
   * `from` with each row's instrument (by its trimmed `f_symbol`): key (NULL for an unknown
   * symbol), what_to_show and con_id, looked up through an enum code. A projection, not a join:
   * the file's row order survives (the raw store writes rows that come in (symbol, ts) order
   * without sorting them), and no session state needs cleaning up.
   */
  #instrumentColumns(from: string): string {
    const seen = new Set<string>();
    // In key order: an enum's codes follow its (sorted) values, and the lists are indexed by code.
    const list = this.#deps.instruments.filter((i) => !seen.has(i.key) && seen.add(i.key)).sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
    if (list.length === 0) return `(SELECT *, NULL::VARCHAR AS _inst_key, NULL::VARCHAR AS _inst_wts, NULL::BIGINT AS _inst_con_id FROM ${from})`;
    const keys = list.map((i) => i.key);
    // An attribute every instrument shares is a constant (NULL for an unknown symbol): indexing a
    // list literal of the whole universe costs a copy of that list per vector (about half the
    // scan of a 2 M-row file of 5,000 symbols).
    const perInstrument = (values: readonly (string | number | null)[], type: string): string => {
      const first = values[0] ?? null;
      if (values.every((v) => v === first)) return first === null ? `NULL::${type}` : `CASE WHEN _inst_no IS NOT NULL THEN ${typeof first === 'number' ? String(first) : sqlString(first)}::${type} END`;
      return `(${sqlList(values, type)})[_inst_no + 1]`;
    };
    const wts = perInstrument(list.map((i) => i.what_to_show), 'VARCHAR');
    const ids = perInstrument(list.map((i) => (i.con_id === undefined || i.con_id === null ? null : Math.trunc(i.con_id))), 'BIGINT');
    return `(SELECT * EXCLUDE (_inst_no), CASE WHEN _inst_no IS NOT NULL THEN f_symbol END AS _inst_key, ${wts} AS _inst_wts,
                    ${ids} AS _inst_con_id
             FROM (SELECT *, enum_code(TRY_CAST(f_symbol AS ${sqlEnum(keys)})) AS _inst_no FROM ${from}))`;
  }

  #checkHeader(file: string, names: readonly string[], where: (name: string) => string): void {
    for (const h of names) if (!KNOWN.has(h)) throw new InputError(`${where(h)}: unknown column; expected ${FIELDS.join(', ')}`, { details: { file, column: h } });
    for (const r of REQUIRED) if (!names.includes(r)) throw new InputError(`${where(r)}: required column is missing from the header`, { details: { file, column: r } });
    const dup = names.find((h, i) => names.indexOf(h) !== i);
    if (dup) throw new InputError(`${where(dup)}: column appears twice`, { details: { file, column: dup } });
  }

  #csvColumns(file: string): FileColumn[] {
    const header = readCsvHeader(file);
    if (header === null) throw new InputError(`${file}:1: expected a header row (symbol,ts,open,high,low,close,volume[,wap,trade_count]) on the first line`, { details: { file, line: 1 } });
    const names = header.map((h) => h.trim().toLowerCase());
    this.#checkHeader(file, names, (h) => `${file}:1: column ${h}`);
    return names.map((n, i) => ({ field: n as Field, source: `c${i}`, type: 'VARCHAR' }));
  }

  async #parquetColumns(file: string): Promise<FileColumn[]> {
    let cols: { column_name: string; column_type: string }[];
    try {
      cols = await this.#deps.lake.query(`DESCRIBE SELECT * FROM read_parquet(${sqlString(file)})`);
    } catch (err) {
      throw new InputError(`${file}: not a readable Parquet file (${engineMessage(err)})`, { cause: err, details: { file } });
    }
    const names = cols.map((c) => c.column_name.trim().toLowerCase());
    this.#checkHeader(file, names, (h) => `${file}: column ${h}`);
    const out = cols.map((c, i) => ({ field: names[i] as Field, source: c.column_name, type: c.column_type }));
    for (const c of out) {
      const cls = classify(c.type);
      const where = `${file}: column ${c.field}`;
      const refuse = (why: string): never => {
        throw new InputError(`${where}: ${why}`, { details: { file, column: c.field, type: c.type } });
      };
      if (c.field === 'symbol' && cls !== 'text') refuse(`has type ${c.type}; expected text (VARCHAR)`);
      if (c.field === 'ts') {
        if (cls === 'local' && this.#deps.tsTimezone === undefined) {
          refuse(
            `is a ${c.type} without time zone, so its instants are unknown (a naive pandas datetime is one); write it as TIMESTAMP WITH TIME ZONE (UTC-adjusted), or declare its zone with ts_timezone / --ts-timezone (e.g. America/New_York, or UTC)`,
          );
        }
        if (cls === 'date') refuse(`is a DATE; bars need an instant (TIMESTAMP WITH TIME ZONE or an epoch number)`);
        if (cls === 'other') refuse(`has type ${c.type}; expected TIMESTAMP WITH TIME ZONE, an epoch number or ISO-8601 text`);
      }
      if (c.field !== 'symbol' && c.field !== 'ts' && cls !== 'number' && cls !== 'text') refuse(`has type ${c.type}; expected a number`);
    }
    return out;
  }

  /** Per field: the SQL reading it (value + problem), given the source column's type. */
  #fieldSql(q: LayeredSelect, col: FileColumn, x: string): ParsedSql {
    const zone = this.#deps.tsTimezone ?? null;
    const cls = classify(col.type);
    const required = (REQUIRED as readonly string[]).includes(col.field);
    const text = cls === 'text';
    switch (col.field) {
      case 'symbol':
        return { value: x, problem: `CASE WHEN ${x} IS NULL THEN ${sqlString(PROBLEMS.missing)} WHEN _inst_key IS NULL THEN ${sqlString(UNKNOWN_SYMBOL)} END` };
      case 'ts': {
        if (cls === 'instant') return instantFromTimestamptzSql(x);
        const parsed = text ? instantFromTextSql(q, x, zone) : cls === 'local' ? instantFromLocalTimestampSql(q, x, zone as string) : instantFromEpochNumberSql(q, x);
        return { value: msToTimestamptz(parsed.value), problem: parsed.problem };
      }
      case 'trade_count':
        return text ? decimalFromTextSql(q, x, required, true) : decimalFromNumberSql(x, required, true);
      default:
        return text ? decimalFromTextSql(q, x, required) : decimalFromNumberSql(x, required);
    }
  }

  /** The file as a relation in DuckDB: the source cells (NULL when empty) with the instrument of each row's symbol. */
  #source(c: CheckedFile, rejects: string | null, withRowNumber: boolean): string {
    // Only the symbol is trimmed here (it is a join key); the value rules allow blanks around text.
    const cell = (col: FileColumn): string => {
      const id = sqlIdent(col.source);
      if (classify(col.type) !== 'text') return id;
      return col.field === 'symbol' ? `NULLIF(trim(${id}), '')` : id;
    };
    const cells = c.columns.map((col) => `${cell(col)} AS ${sqlIdent(`f_${col.field}`)}`).join(', ');
    let from: string;
    let rn: string;
    if (c.format === 'csv') {
      const types = c.columns.map((col) => `${sqlString(col.source)}: 'VARCHAR'`).join(', ');
      const rej = rejects === null ? '' : `, store_rejects = true, rejects_table = ${sqlString(`${rejects}_errors`)}, rejects_scan = ${sqlString(`${rejects}_scans`)}`;
      from = `read_csv(${sqlString(c.file)}, header = true, delim = ',', quote = '"', escape = '"', auto_detect = false, columns = {${types}}${rej})`;
      rn = 'row_number() OVER ()';
    } else {
      from = `read_parquet(${sqlString(c.file)}${withRowNumber ? ', file_row_number = true' : ''})`;
      rn = 'file_row_number + 1';
    }
    const src = `(SELECT ${withRowNumber ? `${rn} AS rn, ` : ''}${cells} FROM ${from})`;
    return this.#instrumentColumns(src);
  }

  /**
   * The checking relation: rn (when `withRowNumber`), the instrument (_inst_key, _inst_wts,
   * _inst_con_id), then v_<field>, p_<field> (NULL or the refusal) and r_<field> (the cell) per
   * mapped field.
   */
  #parsed(c: CheckedFile, rejects: string | null, withRowNumber = true): { sql: string; parsed: Set<Field> } {
    const q = new LayeredSelect();
    const out: string[] = [...(withRowNumber ? ['rn'] : []), '_inst_key', '_inst_wts', '_inst_con_id'];
    const parsed = new Set<Field>();
    for (const col of c.columns) {
      const f = this.#fieldSql(q, col, sqlIdent(`f_${col.field}`));
      out.push(`${f.value} AS v_${col.field}`, `${f.problem} AS p_${col.field}`, `${sqlIdent(`f_${col.field}`)} AS r_${col.field}`);
      parsed.add(col.field);
    }
    return { sql: `(SELECT ${out.join(', ')} FROM ${q.wrap(this.#source(c, rejects, withRowNumber))})`, parsed };
  }

  /** The rows to write, as RAW_RELATION_COLUMNS. */
  #writeRelation(c: CheckedFile, request: IngestRequest): string {
    const q = new LayeredSelect();
    const v = new Map<Field, string>();
    for (const col of c.columns) v.set(col.field, this.#fieldSql(q, col, sqlIdent(`f_${col.field}`)).value);
    const rel = `(SELECT _inst_key, _inst_wts, _inst_con_id, ${[...v].map(([f, e]) => `${e} AS v_${f}`).join(', ')} FROM ${q.wrap(this.#source(c, null, false))})`;
    return `(SELECT _inst_key AS symbol, _inst_con_id AS con_id, _inst_wts AS what_to_show, v_ts AS ts, v_open AS open, v_high AS high, v_low AS low,
                    v_close AS close, v_volume AS volume, ${v.has('wap') ? 'v_wap' : 'NULL'} AS wap, ${v.has('trade_count') ? 'v_trade_count' : 'NULL'} AS trade_count,
                    ${sqlString(basename(c.file))} AS request_id
             FROM ${rel} WHERE ${this.#keepSql(request, '_inst_key')})`;
  }

  /** The request's narrowing (symbols, window) over the parsed `v_ts` and a symbol column. */
  #keepSql(request: IngestRequest, symbolColumn = 'v_symbol'): string {
    const parts: string[] = [];
    if (request.symbols !== undefined) parts.push(request.symbols.length === 0 ? 'false' : `${symbolColumn} IN (${request.symbols.map(sqlString).join(', ')})`);
    if (request.start !== undefined) parts.push(`v_ts >= ${msToTimestamptz(String(Math.trunc(request.start)))}`);
    if (request.end !== undefined) parts.push(`v_ts < ${msToTimestamptz(String(Math.trunc(request.end)))}`);
    return parts.length === 0 ? 'true' : parts.join(' AND ');
  }

  /** Structural CSV errors DuckDB set aside (field counts, quotes, encoding, line length): the first one, located. */
  async #failOnRejects(file: string, rejects: string, fields: number): Promise<void> {
    const errs = await this.#deps.lake.query<{ byte: number; line_byte: number; kind: string; message: string; text: string | null; len: number | null; lines: number }>(
      `SELECT byte_position AS byte, line_byte_position AS line_byte, error_type AS kind, left(error_message, 200) AS message,
              left(csv_line, 60) AS text, length(csv_line) AS len, (SELECT count(DISTINCT line_byte_position) FROM ${rejects}_errors) AS lines
       FROM ${rejects}_errors ORDER BY line_byte_position, byte_position LIMIT 1`,
    );
    const e = errs[0];
    if (!e) return;
    const fmt = (n: string | number): string => Number(n).toLocaleString('en-US');
    // Reject positions are 1-based byte offsets; a line too long is located at its start.
    const tooLong = /Maximum line size of (\d+) bytes exceeded\. Actual Size:(\d+) bytes/.exec(e.message);
    const at = positionOfByte(file, Math.max(0, (tooLong ? e.line_byte : e.byte) - 1));
    const counts = /Expected Number of Columns: (\d+) Found: (\d+)/.exec(e.message);
    const what = tooLong
      ? `line is ${fmt(tooLong[2] as string)} bytes long, over the ${fmt(tooLong[1] as string)}-byte limit of a CSV line`
      : e.kind === 'TOO MANY COLUMNS' || e.kind === 'MISSING COLUMNS'
        ? `expected ${fields} fields (as in the header), found ${counts?.[2] ?? (e.kind === 'TOO MANY COLUMNS' ? 'more' : 'fewer')}`
        : e.kind === 'UNQUOTED VALUE'
          ? 'unterminated or misplaced quote'
          : e.kind === 'INVALID ENCODING'
            ? 'not UTF-8 text'
            : e.message;
    // DuckDB keeps only the start of a long line: show a prefix, and no length it cannot know.
    const shown = e.text === null ? '' : `: ${tooLong ? `${JSON.stringify(e.text)}…` : shownValue(e.text, e.len ?? e.text.length)}`;
    const more = e.lines > 1 ? ` (${fmt(e.lines - 1)} more malformed line(s))` : '';
    throw new InputError(`${file}:${at.line}:${at.column}: ${what}${shown}${more}`, { details: { file, line: at.line, column: at.column } });
  }

  /** Locates and reports the first refused cell (the first row with a problem, its first bad column). */
  async #failOnFirstProblem(c: CheckedFile, rel: string, anyProblem: string, bad: number): Promise<never> {
    const fields = c.columns.map((col) => col.field);
    const which = `CASE ${fields.map((f) => `WHEN p_${f} IS NOT NULL THEN ${sqlString(f)}`).join(' ')} END`;
    const raw = `CASE ${fields.map((f) => `WHEN p_${f} IS NOT NULL THEN CAST(r_${f} AS VARCHAR)`).join(' ')} END`;
    const rows = await this.#deps.lake.query<{ rn: number; field: Field; problem: string; shown: string | null; len: number | null }>(
      `SELECT rn, field, problem, left(raw, 60) AS shown, length(raw) AS len
       FROM (SELECT rn, ${which} AS field, coalesce(${fields.map((f) => `p_${f}`).join(', ')}) AS problem, ${raw} AS raw FROM ${rel} WHERE ${anyProblem})
       ORDER BY rn LIMIT 1`,
    );
    const r = rows[0];
    if (!r) throw new StorageError(`${c.file}: ${bad} refused row(s) could not be located`);
    const value = r.shown === null ? '' : `${shownValue(r.shown, r.len ?? r.shown.length)} `;
    const more = bad > 1 ? ` (${(bad - 1).toLocaleString('en-US')} more refused row(s))` : '';
    if (c.format === 'csv') {
      const fieldIndex = c.columns.findIndex((col) => col.field === r.field);
      const at = positionOfRecordField(c.file, r.rn, fieldIndex);
      const where = at ? `${c.file}:${at.line}:${at.column}` : `${c.file}: record ${r.rn}`;
      throw new InputError(`${where}: column ${r.field}: ${value}${r.problem}${more}`, {
        details: { file: c.file, line: at?.line, column: at?.column, field: r.field, record: r.rn },
      });
    }
    throw new InputError(`${c.file}: row ${r.rn}, column ${r.field}: ${value}${r.problem}${more}`, { details: { file: c.file, row: r.rn, field: r.field } });
  }
}
