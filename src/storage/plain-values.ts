import { DuckDBDateValue, DuckDBDecimalValue, DuckDBTimestampTZValue, DuckDBTimestampValue, type DuckDBValue } from './duckdb-api.js';

/** A row as JS sees it after toPlain: column name → epoch ms, number, string, boolean or null. */
export type LakeRow = Record<string, unknown>;

/** Converts one DuckDB value to the plain JS the rest of ibpipe uses (epoch ms, numbers, strings). */
export function toPlain(v: DuckDBValue): unknown {
  if (v === null || typeof v === 'number' || typeof v === 'string' || typeof v === 'boolean') return v;
  if (typeof v === 'bigint') return Number(v);
  if (v instanceof DuckDBTimestampTZValue || v instanceof DuckDBTimestampValue) return Number(v.micros / 1000n);
  if (v instanceof DuckDBDateValue) return v.toString();
  if (v instanceof DuckDBDecimalValue) return v.toDouble();
  return v.toString();
}
