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
 * `column NOT IN (…keys)` as a subquery over a list literal: DuckDB evaluates a long literal
 * NOT IN list per row (0.65 s vs 5 ms for 500 keys on 195k rows). Keys are validated.
 */
export function sqlNotInKeys(column: string, keys: readonly string[]): string {
  if (keys.length === 0) return 'true';
  return `${sqlIdent(column)} NOT IN (SELECT unnest([${sqlKeyList(keys)}]::VARCHAR[]))`;
}

/** A finite number as a DOUBLE literal that reads back as the same double. */
export function sqlNumber(value: number): string {
  if (!Number.isFinite(value)) throw new InputError(`expected a finite number for SQL, got ${String(value)}`);
  return `CAST('${String(value)}' AS DOUBLE)`;
}
