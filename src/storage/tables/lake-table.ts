import { StorageError } from '../../core/errors.js';
import type { LakeColumnType } from '../lake.js';
import type { LakeRow } from '../plain-values.js';

/** The JS value of each lake column type, as Lake.query returns it (instants as epoch ms). */
export interface LakeValueOf {
  VARCHAR: string;
  DOUBLE: number;
  BIGINT: number;
  INTEGER: number;
  BOOLEAN: boolean;
  TIMESTAMPTZ: number;
  DATE: string;
}

/**
 * One column of a lake table: its name, DuckDB type, whether it may hold NULL and, for a VARCHAR
 * that takes a fixed set of values, that set. `V` is the JS value of a non-NULL cell.
 */
export interface TableColumn<N extends string = string, T extends LakeColumnType = LakeColumnType, Null extends boolean = boolean, V = unknown> {
  readonly name: N;
  readonly type: T;
  readonly nullable: Null;
  /** The only values allowed, or null when any value of the type is. */
  readonly values: readonly V[] | null;
}

/** A NOT NULL column. */
export function column<N extends string, T extends LakeColumnType>(name: N, type: T): TableColumn<N, T, false, LakeValueOf[T]> {
  return { name, type, nullable: false, values: null };
}

/** A column that may hold NULL. */
export function nullableColumn<N extends string, T extends LakeColumnType>(name: N, type: T): TableColumn<N, T, true, LakeValueOf[T]> {
  return { name, type, nullable: true, values: null };
}

/** A NOT NULL VARCHAR that holds one of `values`. */
export function enumColumn<N extends string, const V extends string>(name: N, values: readonly V[]): TableColumn<N, 'VARCHAR', false, V> {
  return { name, type: 'VARCHAR', nullable: false, values };
}

/** The same columns, NULL allowed in every one but those named in `keep`. */
export type RelaxedColumns<Cs extends readonly TableColumn[], K extends string> = {
  readonly [I in keyof Cs]: Cs[I] extends TableColumn<infer N, infer T, infer Null, infer V> ? TableColumn<N, T, N extends K ? Null : true, V> : never;
};

/** `columns` with NULL allowed in every one but those named in `keep` (e.g. a quarantined raw row). */
export function relaxColumns<const Cs extends readonly TableColumn[], K extends string>(columns: Cs, keep: readonly K[]): RelaxedColumns<Cs, K>;
export function relaxColumns(columns: readonly TableColumn[], keep: readonly string[]): readonly TableColumn[] {
  return columns.map((c) => ({ ...c, nullable: c.nullable || !keep.includes(c.name) }));
}

type CellOf<C> = C extends TableColumn<string, LakeColumnType, infer Null, infer V> ? (Null extends true ? V | null : V) : never;

/** The row type of a table with these columns: one property per column, NULL where allowed. */
export type RowOf<Cs extends readonly TableColumn[]> = { -readonly [C in Cs[number] as C['name']]: CellOf<C> };

/** A table's rows as one array per column (what Lake.stage takes), NULL for a missing value. */
export type ColumnBatch<Cs extends readonly TableColumn[]> = { [C in Cs[number] as C['name']]: (CellOf<C> | null)[] };

/** How a value is put into a batch cell (default: as is, undefined as NULL). */
export type CellWriter = (column: TableColumn, value: unknown) => unknown;

const asIs: CellWriter = (_c, v) => v ?? null;

/**
 * A lake table declared once: everything else (row type, column list, SELECT list, write batch,
 * read parser) is derived from `columns`. `partitions` are the Hive path keys a reader over the
 * table's folders adds (`date`, raw's `bar_size`), not stored in the files.
 */
export interface LakeTable<Cs extends readonly TableColumn[]> {
  /** How errors name the table (`curated`, `raw`, …). */
  readonly table: string;
  readonly columns: Cs;
  readonly partitions: readonly TableColumn[];
  /** Column names in file order. */
  readonly names: readonly Cs[number]['name'][];
  /** `a, b, c`: the columns in file order, for a SELECT list. */
  readonly select: string;
  /** Columns then partition keys: the schema of an empty relation over the table's folders (Lake.parquetRelation). */
  readonly withPartitions: readonly TableColumn[];
  /** The rows as one array per column, in declaration order; `cell` may normalise values (default: as is, undefined as NULL). */
  columnBatch(rows: readonly RowOf<Cs>[], cell?: CellWriter): ColumnBatch<Cs>;
  /**
   * Checks rows read from the lake (Lake.query's plain values) against the declaration and
   * returns them as rows of the table (declared columns only, in order). Throws StorageError
   * naming the table, the column and the row when a column is missing, NULL where it may not
   * be, or of another type.
   */
  parseRows(rows: readonly LakeRow[]): RowOf<Cs>[];
}

function describe(v: unknown): string {
  if (v === null) return 'NULL';
  if (typeof v === 'string') return `the string ${JSON.stringify(v.length > 40 ? `${v.slice(0, 40)}…` : v)}`;
  if (typeof v === 'number' || typeof v === 'boolean' || typeof v === 'bigint') return `the ${typeof v} ${String(v)}`;
  return typeof v;
}

/** Whether a non-NULL plain value is of the column's type (and among its values, if it has a set). */
function fits(c: TableColumn, v: unknown): boolean {
  switch (c.type) {
    case 'VARCHAR':
      return typeof v === 'string' && (c.values === null || c.values.includes(v));
    case 'DATE':
      return typeof v === 'string';
    case 'BOOLEAN':
      return typeof v === 'boolean';
    case 'DOUBLE':
      return typeof v === 'number';
    case 'BIGINT':
    case 'INTEGER':
    case 'TIMESTAMPTZ':
      return typeof v === 'number' && Number.isInteger(v);
  }
}

function expected(c: TableColumn): string {
  const type = c.values === null ? c.type : `one of ${c.values.map((x) => JSON.stringify(x)).join(', ')}`;
  return `${type}${c.nullable ? ' or NULL' : ' (NOT NULL)'}`;
}

/** Declares a lake table (see LakeTable); names must be distinct. */
export function lakeTable<const Cs extends readonly TableColumn[]>(table: string, columns: Cs, partitions?: readonly TableColumn[]): LakeTable<Cs>;
export function lakeTable(table: string, columns: readonly TableColumn[], partitions: readonly TableColumn[] = []): LakeTable<readonly TableColumn[]> {
  const names = columns.map((c) => c.name);
  const all = [...names, ...partitions.map((c) => c.name)];
  const twice = all.find((n, i) => all.indexOf(n) !== i);
  if (twice !== undefined) throw new StorageError(`lake table ${table}: column ${twice} declared twice`);
  const width = columns.length;
  const parseRow = (raw: LakeRow, i: number): Record<string, unknown> => {
    for (const c of columns) {
      const v = raw[c.name];
      if (v === undefined && !(c.name in raw)) throw new StorageError(`${table} row ${i}: column ${c.name} is missing from the result`, { details: { table, column: c.name, row: i } });
      if (v === null ? !c.nullable : !fits(c, v)) {
        throw new StorageError(`${table} row ${i}: column ${c.name}: expected ${expected(c)}, got ${describe(v)}`, { details: { table, column: c.name, row: i } });
      }
    }
    // Every declared column is there: a result with no other column is the row already (no copy).
    let keys = 0;
    for (const _ in raw) keys++;
    if (keys === width) return raw;
    const row: Record<string, unknown> = {};
    for (const c of columns) row[c.name] = raw[c.name];
    return row;
  };
  return {
    table,
    columns,
    partitions,
    names,
    select: names.join(', '),
    withPartitions: [...columns, ...partitions],
    columnBatch(rows: readonly Record<string, unknown>[], cell: CellWriter = asIs) {
      const batch: Record<string, unknown[]> = {};
      for (const c of columns) batch[c.name] = rows.map((r) => cell(c, r[c.name]));
      return batch;
    },
    parseRows: (rows) => rows.map(parseRow),
  };
}
