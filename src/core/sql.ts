import { isAbsolute, relative, resolve, sep } from 'node:path';
import { InputError } from './errors.js';
import { isValidInstrumentKey } from './instruments.js';

/**
 * The one place where identifiers, literals and lake paths built from user input are escaped.
 * Every SQL string that embeds a symbol, a path or a name goes through these.
 */
export function sqlString(value: string): string {
  return `'${value.replaceAll("'", "''")}'`;
}

export function sqlIdent(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}

/** A list of instrument keys as a SQL `IN (...)` body; every key is validated first. */
export function sqlKeyList(keys: readonly string[]): string {
  for (const k of keys) {
    if (!isValidInstrumentKey(k)) throw new InputError(`invalid instrument key ${JSON.stringify(k)}`);
  }
  return keys.map(sqlString).join(', ');
}

const SEGMENT = /^[A-Za-z0-9._=-]{1,128}$/;

/**
 * Joins path segments under root and proves the result stays inside root.
 * Segments are validated individually: no separators, no "..".
 */
export function safeJoin(root: string, ...segments: string[]): string {
  for (const s of segments) {
    if (!SEGMENT.test(s) || s === '.' || s === '..' || s.split('=').some((p) => p === '..' || p === '.')) {
      throw new InputError(`unsafe path segment ${JSON.stringify(s)}`);
    }
  }
  const base = resolve(root);
  const full = resolve(base, ...segments);
  const rel = relative(base, full);
  if (rel.startsWith('..') || isAbsolute(rel) || rel.split(sep).includes('..')) {
    throw new InputError(`path ${JSON.stringify(full)} escapes ${JSON.stringify(base)}`);
  }
  return full;
}

/**
 * A set of instrument keys as a subquery, for `x IN <set>` / `x NOT IN <set>`: against a
 * subquery DuckDB builds a hash join (5 ms), a literal list is evaluated literal by literal
 * (0.65 s for 500 keys on 195k rows). Empty keys give an empty set. Keys are validated.
 */
export function sqlKeySet(keys: readonly string[]): string {
  return keys.length ? `(SELECT unnest([${sqlKeyList(keys)}]))` : `(SELECT CAST(NULL AS VARCHAR) WHERE false)`;
}

/**
 * `column NOT IN (…keys)` as a subquery over a list literal: DuckDB evaluates a long literal
 * NOT IN list per row (0.65 s vs 5 ms for 500 keys on 195k rows). Keys are validated.
 */
export function sqlNotInKeys(column: string, keys: readonly string[]): string {
  if (keys.length === 0) return 'true';
  return `${sqlIdent(column)} NOT IN (SELECT unnest([${sqlKeyList(keys)}]::VARCHAR[]))`;
}

/**
 * A list literal of numbers and strings (NULL for null / undefined) cast to `type`[]: DuckDB
 * folds it once, so `list[i]` is a per-row lookup without a join.
 */
export function sqlList(xs: readonly unknown[], type: string): string {
  return `[${xs.map((x) => (x === null || x === undefined ? 'NULL' : typeof x === 'number' ? String(x) : sqlString(String(x)))).join(', ')}]::${type}[]`;
}

/**
 * The enum type of a set of strings (NULLs aside). A Parquet writer writes an enum column from
 * its dictionary, without hashing every row's string; its row-group statistics span the whole
 * dictionary, though, so enums suit constants and attributes, not columns to prune by.
 */
export function sqlEnum(values: readonly (string | null)[]): string {
  const distinct = [...new Set(values.filter((v): v is string => v !== null))].sort();
  return `ENUM(${distinct.map(sqlString).join(', ')})`;
}

/** A constant string as a one-value enum (see sqlEnum: far cheaper to write than VARCHAR). */
export function sqlEnumConstant(value: string): string {
  return `${sqlString(value)}::ENUM(${sqlString(value)})`;
}

/** An epoch-ms instant as a TIMESTAMPTZ literal (a constant a Parquet scan can prune with). */
export function sqlTimestamptz(ms: number): string {
  return `TIMESTAMPTZ '${new Date(ms).toISOString()}'`;
}

/** A finite number as a DOUBLE literal that reads back as the same double. */
export function sqlNumber(value: number): string {
  if (!Number.isFinite(value)) throw new InputError(`expected a finite number for SQL, got ${String(value)}`);
  return `CAST('${String(value)}' AS DOUBLE)`;
}
