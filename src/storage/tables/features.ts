import { InputError, StorageError } from '../../core/errors.js';
import { sqlIdent, sqlString } from '../../core/sql.js';
import type { LakeColumn } from '../lake.js';
import type { LakeRow } from '../plain-values.js';

/** The JS value of each fixed column's type, as Lake.query returns it (instants as epoch ms). */
interface FeatureValueOf {
  VARCHAR: string;
  TIMESTAMPTZ: number;
  BOOLEAN: boolean;
}

interface FixedColumn {
  readonly name: string;
  readonly type: keyof FeatureValueOf;
  readonly nullable: boolean;
  /** Filled by the store from the write's group version (the same in every row), not brought by the rows. */
  readonly perWrite: boolean;
}

/**
 * `features/<group>/v=<version>/date=<session date>/data.parquet` (DESIGN §6, §7), sorted by
 * (symbol, ts): these fixed columns, in this order, then the group version's gap-mask columns
 * (BOOLEAN, `<column>_imputed`), then its feature columns (DOUBLE, NULL for NaN and ±Infinity).
 * The row type, the column lists and the SELECT lists below are derived from this declaration.
 */
export const FEATURE_FIXED_COLUMNS = [
  { name: 'symbol', type: 'VARCHAR', nullable: false, perWrite: false },
  /** Bar start of the last bar the values were computed from. */
  { name: 'ts', type: 'TIMESTAMPTZ', nullable: false, perWrite: false },
  /** When every value of the row was knowable (C3): point-in-time reads compare this, never `ts`. */
  { name: 'available_ts', type: 'TIMESTAMPTZ', nullable: false, perWrite: false },
  { name: 'feature_group', type: 'VARCHAR', nullable: false, perWrite: true },
  { name: 'version', type: 'VARCHAR', nullable: false, perWrite: true },
  { name: 'definition_hash', type: 'VARCHAR', nullable: false, perWrite: true },
  /** The source row's gap flag (NULL when the source has none). */
  { name: 'is_imputed', type: 'BOOLEAN', nullable: true, perWrite: false },
  { name: 'imputation', type: 'VARCHAR', nullable: true, perWrite: false },
] as const satisfies readonly FixedColumn[];

type Fixed = (typeof FEATURE_FIXED_COLUMNS)[number];

/** The fixed part of a feature row as read; instants are epoch ms. */
export type FeatureFixedRow = { -readonly [C in Fixed as C['name']]: FeatureValueOf[C['type']] | (C['nullable'] extends true ? null : never) };

/** The fixed columns every row given to a write brings (the others come from the group version). */
export type FeatureRowColumn = Extract<Fixed, { perWrite: false }>['name'];

/** The fixed columns as a column list, in file order. */
export const FEATURE_KEY_COLUMNS: readonly LakeColumn[] = FEATURE_FIXED_COLUMNS.map(({ name, type }) => ({ name, type }));

/** One group version's features table: what its rows are stamped with and the columns after the fixed ones. */
export interface FeatureTableSchema {
  readonly group: string;
  readonly version: string;
  readonly definitionHash: string;
  /** Feature columns (DOUBLE), in file order. */
  readonly featureColumns: readonly string[];
  /** Gap-mask columns (BOOLEAN, named `*_imputed`) carried from the source besides is_imputed. */
  readonly maskColumns?: readonly string[];
}

type TableColumns = Pick<FeatureTableSchema, 'featureColumns' | 'maskColumns'>;

/** The columns of the rows a write takes, in file order: the per-row fixed columns, the masks, the features. */
export function featureRowColumns(t: TableColumns): LakeColumn[] {
  return [
    ...FEATURE_FIXED_COLUMNS.filter((c) => !c.perWrite).map(({ name, type }): LakeColumn => ({ name, type })),
    ...(t.maskColumns ?? []).map((m): LakeColumn => ({ name: m, type: 'BOOLEAN' })),
    ...t.featureColumns.map((f): LakeColumn => ({ name: f, type: 'DOUBLE' })),
  ];
}

/** The column names of a file of the table, in file order. */
export function featureFileColumnNames(t: TableColumns): string[] {
  return [...FEATURE_FIXED_COLUMNS.map((c) => c.name), ...(t.maskColumns ?? []), ...t.featureColumns];
}

/** Where each column of a row comes from: SQL expressions (default: the column of the same name). */
export interface FeatureRowExpressions {
  readonly row?: Partial<Readonly<Record<FeatureRowColumn, string>>>;
  readonly mask?: (column: string) => string;
  readonly feature?: (column: string) => string;
}

/**
 * SELECT list of the rows a write takes (see featureRowColumns), each column from its
 * expression in `from`, cast to the column's type.
 */
export function featureRowSelect(t: TableColumns, from: FeatureRowExpressions = {}): string {
  const rowExprs: Readonly<Record<string, string | undefined>> = from.row ?? {};
  const fixed = featureRowColumns({ featureColumns: [] });
  const masks = new Set(t.maskColumns ?? []);
  const exprFor = (name: string): string | undefined =>
    fixed.some((c) => c.name === name) ? rowExprs[name] : (masks.has(name) ? from.mask : from.feature)?.(name);
  return featureRowColumns(t)
    .map((c) => `CAST(${exprFor(c.name) ?? sqlIdent(c.name)} AS ${c.type}) AS ${sqlIdent(c.name)}`)
    .join(', ');
}

/**
 * SELECT list turning rows a write takes into the file's columns, in file order: the per-row
 * columns cast to their types, the group version's stamps, the masks as BOOLEAN, the features
 * as DOUBLE with NaN and ±Infinity as NULL.
 */
export function featureFileSelect(t: FeatureTableSchema): string {
  const stamps: Readonly<Record<Extract<Fixed, { perWrite: true }>['name'], string>> = { feature_group: t.group, version: t.version, definition_hash: t.definitionHash };
  const masks = new Set(t.maskColumns ?? []);
  const fixed = new Map<string, Fixed>(FEATURE_FIXED_COLUMNS.map((c) => [c.name, c]));
  return featureFileColumnNames(t)
    .map((name) => {
      const c = fixed.get(name);
      const id = sqlIdent(name);
      if (c?.perWrite) return `${sqlString(stamps[c.name])} AS ${id}`;
      if (c) return `CAST(${id} AS ${c.type}) AS ${id}`;
      if (masks.has(name)) return `CAST(${id} AS BOOLEAN) AS ${id}`;
      return `CASE WHEN isfinite(CAST(${id} AS DOUBLE)) THEN CAST(${id} AS DOUBLE) END AS ${id}`;
    })
    .join(', ');
}

/**
 * The fixed columns of a feature row read from the lake that a lookup uses, checked: a row of
 * another shape (a file not written by the feature store) is a StorageError naming `file`.
 */
export function parseFeatureKey(r: LakeRow, file: string): Pick<FeatureFixedRow, 'symbol' | 'ts' | 'available_ts' | 'is_imputed'> {
  const { symbol, ts, available_ts: available, is_imputed: imputed } = r;
  if (typeof symbol !== 'string' || typeof ts !== 'number' || typeof available !== 'number') {
    throw new StorageError(`feature file ${file}: a row without symbol, ts or available_ts`, { details: { file, symbol: String(symbol), ts: String(ts) } });
  }
  return { symbol, ts, available_ts: available, is_imputed: typeof imputed === 'boolean' ? imputed : null };
}

/** What the names in the feature lake must look like: they become paths and SQL identifiers. */
const NAME_PATTERNS = {
  group: /^[a-z][a-z0-9_]{0,62}$/,
  version: /^[A-Za-z0-9][A-Za-z0-9._-]{0,31}$/,
  date: /^\d{4}-\d{2}-\d{2}$/,
  'mask column': /^[a-z][a-z0-9_]{0,62}$/,
  'feature column': /^[a-z][a-z0-9_]{0,62}$/,
  'definition hash': /^[0-9a-f]{16,128}$/,
} as const;

/** Throws InputError naming `what` unless `value` is a valid feature-lake name of that kind. */
export function checkFeatureName(what: keyof typeof NAME_PATTERNS, value: string): void {
  const re = NAME_PATTERNS[what];
  if (!re.test(value)) throw new InputError(`${what} ${JSON.stringify(value)} must match ${re.source}`, { details: { [what]: value } });
}

/**
 * Rows per Parquet row group. Files are sorted by (symbol, ts), so small row groups let a
 * one-symbol read skip most of a 500-symbol day (each group spans ~20 symbols of 1-min bars).
 */
export const FEATURE_ROW_GROUP_SIZE = 8192;
