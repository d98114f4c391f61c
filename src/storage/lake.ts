import { closeSync, fsyncSync, openSync, renameSync, rmSync, existsSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { InputError, StorageError } from '../core/errors.js';
import { safeJoin, sqlIdent, sqlString } from '../core/sql.js';
import {
  BOOLEAN,
  DOUBLE,
  type DuckDBConnection,
  DuckDBDataChunk,
  DuckDBInstance,
  DuckDBTableFunction,
  DuckDBTypeId,
  type DuckDBResultReader,
  type DuckDBType,
  type DuckDBValue,
  INTEGER,
  VARCHAR,
} from './duckdb-api.js';
import { DoubleColumns } from './double-columns.js';
import { copyDoubleVector, fillDoubleVector } from './duckdb-vectors.js';
import type { LakeConfig } from './lake-config.js';
import { removeStaleTempFiles, tempName, type StaleTempSweep } from './temp-files.js';
import { toPlain, type LakeRow } from './plain-values.js';
import { readQueryTable, type QueryTable } from './query-table.js';
import { isReadOnlyStatement, readOnlyRefusal } from './read-only-sql.js';
import { classifyWriteFault, ensureDir } from './write-faults.js';

/** Column types the lake writes. Instants are TIMESTAMPTZ in files and epoch-ms numbers in JS. */
export type LakeColumnType = 'VARCHAR' | 'DOUBLE' | 'BIGINT' | 'INTEGER' | 'BOOLEAN' | 'TIMESTAMPTZ' | 'DATE';

export interface LakeColumn {
  readonly name: string;
  readonly type: LakeColumnType;
}

/** Columnar data: one array per column, all of one length. NaN in DOUBLE columns is stored as NULL. */
export type ColumnData = Record<string, ArrayLike<unknown>>;

export type { LakeRow } from './plain-values.js';
export { toPlain };

const CHUNK_ROWS = 2048;
let tempCounter = 0;
let doublesCounter = 0;
/** The table function through which SQL reads typed arrays registered by withDoubles. */
const DOUBLES_FUNCTION = 'ibp_js_doubles';

/** Typed arrays registered for one withDoubles call. */
interface DoublesSet {
  readonly names: readonly string[];
  readonly parts: readonly (readonly Float64Array[])[];
}

/** Scan state of one ibp_js_doubles(id) in one query. */
interface DoublesScan {
  readonly set: DoublesSet;
  /** Projected column indexes, in output order. */
  readonly columns: readonly number[];
  part: number;
  pos: number;
}

/**
 * `ibp_js_doubles(id)`: the rows of the typed arrays registered under `id`. Runs on the JS
 * thread (the binding calls into it while the query runs), single-threaded per scan.
 */
function doublesTableFunction(sets: ReadonlyMap<number, DoublesSet>): DuckDBTableFunction {
  const lookup = (id: unknown): DoublesSet => {
    const set = sets.get(Number(id));
    if (!set) throw new Error(`${DOUBLES_FUNCTION}(${String(id)}): no arrays registered under this id`);
    return set;
  };
  return DuckDBTableFunction.create({
    name: DOUBLES_FUNCTION,
    parameterTypes: [INTEGER],
    supportsProjectionPushdown: true,
    bindFunction(info) {
      try {
        const set = lookup(info.getParameter(0));
        for (const name of set.names) info.addResultColumn(name, DOUBLE);
        info.setBindData({ set });
        info.setCardinality(
          set.parts.reduce((n, p) => n + (p[0]?.length ?? 0), 0),
          true,
        );
      } catch (err) {
        info.setError((err as Error).message);
      }
    },
    initFunction(info) {
      info.setMaxThreads(1);
      const { set } = info.bindData as { set: DoublesSet };
      const scan: DoublesScan = { set, columns: info.getColumnIndexes(), part: 0, pos: 0 };
      info.setInitData(scan);
    },
    mainFunction(info, output) {
      try {
        const scan = info.initData as DoublesScan;
        const parts = scan.set.parts;
        while (scan.part < parts.length && scan.pos >= ((parts[scan.part] as readonly Float64Array[])[0]?.length ?? 0)) {
          scan.part++;
          scan.pos = 0;
        }
        if (scan.part >= parts.length) {
          output.rowCount = 0;
          return;
        }
        const part = parts[scan.part] as readonly Float64Array[];
        const n = Math.min(CHUNK_ROWS, (part[0] as Float64Array).length - scan.pos);
        output.rowCount = n;
        scan.columns.forEach((c, k) => fillDoubleVector(output, k, part[c] as Float64Array, scan.pos, n));
        scan.pos += n;
      } catch (err) {
        info.setError((err as Error).message);
      }
    },
  });
}

function stagingType(t: LakeColumnType): DuckDBType {
  switch (t) {
    case 'VARCHAR':
    case 'DATE':
      return VARCHAR;
    case 'BOOLEAN':
      return BOOLEAN;
    default:
      // Numbers (and epoch-ms instants) cross the boundary as doubles: exact below 2^53 and
      // an order of magnitude cheaper than bigint conversion in the appender.
      return DOUBLE;
  }
}

function finalExpr(c: LakeColumn): string {
  const id = sqlIdent(c.name);
  switch (c.type) {
    case 'TIMESTAMPTZ':
      return `CAST(epoch_ms(CAST(${id} AS BIGINT)) AS TIMESTAMPTZ) AS ${id}`;
    case 'BIGINT':
    case 'INTEGER':
    case 'DATE':
      return `CAST(${id} AS ${c.type}) AS ${id}`;
    default:
      return id;
  }
}

/**
 * Distinct values per column chunk beyond which the Parquet writer gives up dictionary encoding
 * (DuckDB's default is a fifth of the row group, 24,576 for its default row group; a smaller
 * row group keeps its own, smaller, default). Prices, volumes and features are
 * nearly all distinct: the writer would hash tens of thousands of them per chunk only to write
 * them plain. Symbols, enums and texts stay well under it (a row group holds a few hundred
 * symbols). On the benchmark's curated partition the file is byte-identical and written in two
 * thirds of the time.
 */
const PARQUET_DICTIONARY_LIMIT = 8192;
/** DuckDB's default Parquet row group (rows). */
const DUCKDB_ROW_GROUP_SIZE = 122_880;

/**
 * The lake: one root folder of Hive-partitioned Parquet plus small state files, and an
 * in-memory DuckDB used as the engine (no database file: other processes read the lake while
 * the daemon writes it). All statements on the handle are serialised.
 */
export class Lake {
  readonly root: string;
  readonly #instance: DuckDBInstance;
  readonly #conn: DuckDBConnection;
  #queue: Promise<unknown> = Promise.resolve();
  /** Staged view name → the temporary table holding its rows. */
  readonly #staged = new Map<string, string>();
  /** Typed arrays visible to SQL through ibp_js_doubles(id), by id (see withDoubles). */
  readonly #doubles = new Map<number, DoublesSet>();
  #closed = false;
  #pending = 0;

  private constructor(root: string, instance: DuckDBInstance, conn: DuckDBConnection) {
    this.root = root;
    this.#instance = instance;
    this.#conn = conn;
  }

  static async open(cfg: Pick<LakeConfig, 'root'> & Partial<LakeConfig>): Promise<Lake> {
    const root = resolve(cfg.root);
    ensureDir(join(root, 'state'), 'create the lake folder');
    const tmp = join(root, '.tmp');
    ensureDir(tmp, 'create the lake folder');
    try {
      const instance = await DuckDBInstance.create(':memory:', {
        memory_limit: cfg.memory_limit ?? '2GB',
        threads: String(cfg.threads ?? 2),
        temp_directory: tmp,
        // The lake replaces files in place (curated and feature partitions, by rename at the same
        // path), and a long-lived connection reads them right after; DuckDB's in-memory cache of
        // external file blocks is meant for files that never change. Local reads come from the OS
        // page cache anyway, so nothing is lost by never serving a replaced file's old bytes.
        enable_external_file_cache: 'false',
      });
      const conn = await instance.connect();
      // Stored instants are UTC; rendering them in the host's zone would only confuse.
      await conn.run(`SET TimeZone = 'UTC'`);
      const lake = new Lake(root, instance, conn);
      conn.registerTableFunction(doublesTableFunction(lake.#doubles));
      return lake;
    } catch (err) {
      throw new StorageError(`cannot open DuckDB for lake ${root}`, { cause: err });
    }
  }

  /** A path under the lake root; every segment is validated so user input cannot escape it. */
  path(...segments: string[]): string {
    return safeJoin(this.root, ...segments);
  }

  #serial<T>(fn: () => Promise<T>): Promise<T> {
    if (this.#closed) return Promise.reject(new StorageError('lake is closed'));
    this.#pending++;
    const next = this.#queue.then(fn, fn).finally(() => {
      this.#pending--;
    });
    this.#queue = next.catch(() => undefined);
    return next;
  }

  /** True while a statement is queued or running on this handle. */
  get busy(): boolean {
    return this.#pending > 0;
  }

  /**
   * Runs a statement and returns the rows it changed (for COPY: the rows written); DuckDB errors
   * become StorageError with the SQL in details.
   */
  run(sql: string): Promise<number> {
    return this.#serial(async () => {
      try {
        return (await this.#conn.run(sql)).rowsChanged;
      } catch (err) {
        throw new StorageError(`SQL failed: ${(err as Error).message}`, { cause: err, details: { sql: sql.slice(0, 500) } });
      }
    });
  }

  /** Runs a query and returns plain row objects (instants as epoch ms, integers as numbers). */
  query<T extends LakeRow = LakeRow>(sql: string): Promise<T[]> {
    return this.#serial(async () => {
      try {
        return rowObjects<T>(await this.#conn.runAndReadAll(sql));
      } catch (err) {
        throw new StorageError(`SQL failed: ${(err as Error).message}`, { cause: err, details: { sql: sql.slice(0, 500) } });
      }
    });
  }

  /**
   * Confines this handle to the lake for good: files only under the root (DuckDB's
   * `allowed_directories` with external access off, which also stops network access and
   * extension loading), then the configuration is locked so no statement can undo it. Views
   * made before keep working; nothing outside the root can be read or written after.
   */
  confineToLake(): Promise<void> {
    return this.#serial(async () => {
      await this.#conn.run(`SET allowed_directories = [${sqlString(`${this.root.replace(/\/+$/, '')}/`)}]`);
      await this.#conn.run(`SET enable_external_access = false`);
      await this.#conn.run(`SET lock_configuration = true`);
    });
  }

  /**
   * Runs one statement a user typed, only if it reads: DuckDB's parser must see exactly one
   * SELECT before anything is bound (binding some statements already acts), the prepared
   * statement's type is checked again, and the very statement checked is the one executed.
   * A refusal or any SQL error is an InputError (bad input, exit 2); a refusal is one line.
   * The result keeps each column's DuckDB type, so instants print at full precision (QueryTable).
   */
  queryReadOnly(sql: string): Promise<QueryTable> {
    return this.#serial(async () => {
      const sqlError = (err: unknown): InputError => {
        const msg = (err as Error).message.replace(/^Failed to extract statements: /, '');
        const outside = /^Permission Error: Cannot access (?:file|directory) "([^"]*)"/.exec(msg);
        return new InputError(outside ? `refused: ${outside[1]} is outside the lake root ${this.root}; ibpipe sql reads only files under it` : `SQL error: ${msg}`, {
          cause: err,
        });
      };
      if (sql.trim() === '') throw new InputError('refused: no SQL statement given');
      let extracted;
      try {
        extracted = await this.#conn.extractStatements(sql);
      } catch (err) {
        throw sqlError(err);
      }
      if (extracted.count !== 1) throw new InputError(`refused: ${extracted.count} statements given; ibpipe sql runs one query at a time`);
      // Parse only: json_serialize_sql serializes SELECT statements and nothing else.
      const parsed = (await this.#conn.runAndReadAll(`SELECT json_serialize_sql(${sqlString(sql)})`)).getRows()[0]?.[0];
      const verdict = JSON.parse(String(parsed)) as { error?: boolean; error_type?: string; error_message?: string };
      if (verdict.error) {
        if (verdict.error_type === 'not implemented') throw new InputError(`refused: ${readOnlyRefusal(sql)}`);
        throw sqlError(new Error(`${verdict.error_type ?? 'SQL'} error: ${verdict.error_message ?? 'cannot parse'}`));
      }
      let prepared;
      try {
        prepared = await extracted.prepare(0);
      } catch (err) {
        throw sqlError(err);
      }
      try {
        if (!isReadOnlyStatement(prepared.statementType)) throw new InputError(`refused: ${readOnlyRefusal(sql)}`);
        const reader = await prepared.runAndReadAll().catch((err: unknown) => {
          throw sqlError(err);
        });
        return readQueryTable(reader);
      } finally {
        prepared.destroySync();
      }
    });
  }

  /** Like query, but returns columns (for the numeric hot paths: features, benchmarks). */
  queryColumns(sql: string): Promise<{ names: string[]; columns: unknown[][] }> {
    return this.#serial(async () => {
      try {
        const reader = await this.#conn.runAndReadAll(sql);
        const names = reader.columnNames();
        const columns = reader.getColumns().map((col) => col.map(toPlain));
        return { names, columns };
      } catch (err) {
        throw new StorageError(`SQL failed: ${(err as Error).message}`, { cause: err, details: { sql: sql.slice(0, 500) } });
      }
    });
  }

  /**
   * The columns of a query's result as Float64Arrays, copied vector by vector from DuckDB's
   * result chunks (no JS value per row); NULL becomes NaN. Every column must be DOUBLE (cast in
   * the SQL). The result is streamed, so DuckDB never holds it whole, and the event loop runs
   * between chunks. `sizeHint` (rows expected) saves regrowing the arrays.
   */
  readDoubles(sql: string, sizeHint = 0): Promise<DoubleColumns> {
    return this.#serial(async () => {
      try {
        const result = await this.#conn.stream(sql);
        const names = result.columnNames();
        names.forEach((name, i) => {
          if (result.columnTypeId(i) !== DuckDBTypeId.DOUBLE) {
            throw new StorageError(`readDoubles: column ${name} is ${result.columnType(i).toString()}, expected DOUBLE (cast it in the SQL)`, { details: { sql: sql.slice(0, 500) } });
          }
        });
        let capacity = Math.max(CHUNK_ROWS, Math.trunc(sizeHint));
        let cols = names.map(() => new Float64Array(capacity));
        let rows = 0;
        for (;;) {
          const chunk = await result.fetchChunk();
          if (!chunk || chunk.rowCount === 0) break;
          if (rows + chunk.rowCount > capacity) {
            capacity = Math.max(capacity * 2, rows + chunk.rowCount);
            cols = cols.map((c) => {
              const grown = new Float64Array(capacity);
              grown.set(c.subarray(0, rows));
              return grown;
            });
          }
          for (let c = 0; c < cols.length; c++) copyDoubleVector(chunk, c, cols[c] as Float64Array, rows);
          rows += chunk.rowCount;
        }
        const map = new Map<string, Float64Array>();
        names.forEach((name, i) => map.set(name, capacity === rows ? (cols[i] as Float64Array) : (cols[i] as Float64Array).slice(0, rows)));
        return new DoubleColumns(rows, names, map);
      } catch (err) {
        if (err instanceof StorageError) throw err;
        throw new StorageError(`SQL failed: ${(err as Error).message}`, { cause: err, details: { sql: sql.slice(0, 500) } });
      }
    });
  }

  /**
   * Runs `fn` with JS typed arrays visible to SQL as relations of DOUBLE columns `names`: one
   * relation per entry of `sets`, holding the rows of its parts (each part one Float64Array per
   * name, all of one length) one after the other, in order; NaN reads as NULL. DuckDB scans the
   * arrays through a table function, one memcpy per 2,048-row vector and only the columns a
   * query uses, so nothing is copied into a DuckDB table (inserting doubles into one, by the
   * appender or CREATE TABLE AS, costs 50–90 ns a value; this scan about 1 ns). The arrays must
   * not change until `fn` settles; the relations are gone afterwards.
   */
  async withDoubles<T>(names: readonly string[], sets: readonly (readonly (readonly Float64Array[])[])[], fn: (relations: string[]) => Promise<T>): Promise<T> {
    if (names.length === 0) throw new StorageError('withDoubles: no columns');
    for (const parts of sets) {
      for (const part of parts) {
        const n = part[0]?.length ?? 0;
        if (part.length !== names.length || part.some((c) => c.length !== n)) throw new StorageError(`withDoubles: each part needs ${names.length} columns of one length`);
      }
    }
    const ids = sets.map((parts) => {
      const id = ++doublesCounter;
      this.#doubles.set(id, { names, parts });
      return id;
    });
    try {
      return await fn(ids.map((id) => `${DOUBLES_FUNCTION}(${id})`));
    } finally {
      for (const id of ids) this.#doubles.delete(id);
    }
  }

  /**
   * Loads columnar JS data into a new temporary relation through the DataChunk appender
   * (never row-by-row INSERTs) and returns its name. Drop it with dropTable when done.
   */
  stage(columns: readonly LakeColumn[], data: ColumnData, rowCount: number): Promise<string> {
    return this.#serial(async () => {
      const raw = `ibp_stage_raw_${++tempCounter}`;
      const name = `ibp_stage_${tempCounter}`;
      try {
        const defs = columns.map((c) => `${sqlIdent(c.name)} ${stagingType(c.type).toString()}`).join(', ');
        await this.#conn.run(`CREATE TEMP TABLE ${raw} (${defs})`);
        const appender = await this.#conn.createAppender(raw);
        const types = columns.map((c) => stagingType(c.type));
        for (let start = 0; start < rowCount; start += CHUNK_ROWS) {
          const n = Math.min(CHUNK_ROWS, rowCount - start);
          const chunk = DuckDBDataChunk.create(types, n);
          const vectors: DuckDBValue[][] = columns.map((c) => {
            const src = data[c.name];
            if (!src) throw new StorageError(`stage: missing column ${c.name}`);
            const out: DuckDBValue[] = new Array(n);
            const isDouble = types[columns.indexOf(c)] === DOUBLE;
            for (let i = 0; i < n; i++) {
              const v = src[start + i];
              if (v === null || v === undefined) out[i] = null;
              else if (isDouble) out[i] = Number.isNaN(v as number) ? null : (v as number);
              else out[i] = v as DuckDBValue;
            }
            return out;
          });
          chunk.setColumns(vectors);
          appender.appendDataChunk(chunk);
        }
        appender.flushSync();
        appender.closeSync();
        // A view does the type conversions when read: no second copy of the rows.
        await this.#conn.run(`CREATE TEMP VIEW ${name} AS SELECT ${columns.map(finalExpr).join(', ')} FROM ${raw}`);
        this.#staged.set(name, raw);
        return name;
      } catch (err) {
        await this.#conn.run(`DROP TABLE IF EXISTS ${raw}`).catch(() => undefined);
        if (err instanceof StorageError) throw err;
        throw new StorageError(`staging failed: ${(err as Error).message}`, { cause: err });
      }
    });
  }

  /**
   * Materialises a query into a new temporary table (in memory, spilling to the lake's `.tmp/`
   * beyond memory_limit) and returns its name. Drop it with dropTable when done.
   */
  async createTempTable(selectSql: string): Promise<string> {
    const name = `ibp_temp_${++tempCounter}`;
    await this.run(`CREATE TEMP TABLE ${name} AS ${selectSql}`);
    return name;
  }

  /** Drops a relation made by stage() (its view and the rows behind it) or by createTempTable(). */
  async dropTable(name: string): Promise<void> {
    await this.dropTables([name]);
  }

  /** Drops several relations made by stage() or createTempTable() in one round trip. */
  async dropTables(names: readonly string[]): Promise<void> {
    const statements: string[] = [];
    for (const name of names) {
      const raw = this.#staged.get(name);
      if (raw !== undefined) {
        this.#staged.delete(name);
        statements.push(`DROP VIEW IF EXISTS ${name}`, `DROP TABLE IF EXISTS ${raw}`);
      } else statements.push(`DROP TABLE IF EXISTS ${sqlIdent(name)}`);
    }
    if (statements.length > 0) await this.run(statements.join(';\n'));
  }

  /**
   * Writes the result of selectSql to `file` atomically: COPY to a hidden temporary file in the
   * same folder, fsync, rename over the target, fsync the folder. Readers see the old file or
   * the new one, never a partial one. `rowGroupSize` trades file size for row-group pruning.
   * Returns the rows written.
   */
  async writeParquetAtomic(file: string, selectSql: string, options: { rowGroupSize?: number } = {}): Promise<number> {
    const dir = dirname(file);
    ensureDir(dir, `write ${basename(file)}`);
    const tmp = join(dir, tempName(basename(file)));
    // Busy until the file is in place: the fsyncs below yield to the event loop.
    this.#pending++;
    try {
      const rowGroupSize = options.rowGroupSize ? Math.max(1, Math.trunc(options.rowGroupSize)) : DUCKDB_ROW_GROUP_SIZE;
      // Never above DuckDB's own limit (a fifth of the row group): small row groups keep theirs.
      const dictionary = Math.max(1, Math.min(PARQUET_DICTIONARY_LIMIT, Math.floor(rowGroupSize / 5)));
      const rows = await this.run(
        `COPY (${selectSql}) TO ${sqlString(tmp)} (FORMAT parquet, COMPRESSION zstd, ROW_GROUP_SIZE ${rowGroupSize}, DICTIONARY_SIZE_LIMIT ${dictionary})`,
      );
      // On the thread pool: an fsync of a large file on a busy disk would stall the event loop.
      await fsyncPathAsync(tmp);
      renameSync(tmp, file);
      await fsyncPathAsync(dir);
      return rows;
    } catch (err) {
      rmSync(tmp, { force: true });
      const fault = classifyWriteFault(err, `write ${basename(file)}`, dir);
      if (fault) throw fault;
      throw err instanceof StorageError ? err : new StorageError(`cannot write ${file}`, { cause: err });
    } finally {
      this.#pending--;
    }
  }

  /**
   * Removes temporary files and folders that writers killed mid-write left behind anywhere in
   * the lake, keeping those of writers still running (temp-files.ts says how a writer is
   * recognised). `now` is epoch ms from the Clock.
   */
  removeStaleTempFiles(now: number): StaleTempSweep {
    return removeStaleTempFiles(this.root, now, ['.tmp']);
  }

  /** SQL relation over Parquet files (Hive partition columns added), or an empty relation with `emptySchema`. */
  static parquetRelation(files: readonly string[], emptySchema: readonly LakeColumn[]): string {
    if (files.length === 0) {
      const cols = emptySchema.map((c) => `CAST(NULL AS ${c.type}) AS ${sqlIdent(c.name)}`).join(', ');
      return `(SELECT ${cols} WHERE false)`;
    }
    return `read_parquet([${files.map(sqlString).join(', ')}], hive_partitioning = true, union_by_name = true)`;
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    // Statements queued while we wait (a background cache load's next step) extend the queue:
    // wait until it stops growing, or the connection would close under a running statement.
    let tail: Promise<unknown>;
    do {
      tail = this.#queue;
      await tail.catch(() => undefined);
    } while (tail !== this.#queue);
    this.#closed = true;
    this.#conn.closeSync();
    this.#instance.closeSync();
  }
}

/** A result as plain row objects (small results only: summaries, ad-hoc queries). */
function rowObjects<T extends LakeRow>(reader: DuckDBResultReader): T[] {
  const names = reader.columnNames();
  const cols = reader.getColumns();
  const out: T[] = new Array(reader.currentRowCount);
  for (let i = 0; i < out.length; i++) {
    const row: LakeRow = {};
    for (let c = 0; c < names.length; c++) row[names[c] as string] = toPlain((cols[c] as DuckDBValue[])[i] as DuckDBValue);
    out[i] = row as T;
  }
  return out;
}

/** fsyncPath off the event loop (libuv's thread pool). */
export async function fsyncPathAsync(path: string): Promise<void> {
  if (!existsSync(path)) return;
  const handle = await open(path, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** fsync a file or folder so a rename after it is durable. */
export function fsyncPath(path: string): void {
  if (!existsSync(path)) return;
  const fd = openSync(path, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}
