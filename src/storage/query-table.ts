import type { DuckDBResultReader, DuckDBValue } from '@duckdb/node-api';
import { StorageError } from '../core/errors.js';
import { DuckDBTimestampMillisecondsValue, DuckDBTimestampNanosecondsValue, DuckDBTimestampSecondsValue, DuckDBTimestampTZValue, DuckDBTimestampValue, DuckDBTypeId } from './duckdb-api.js';
import { toPlain, type LakeRow } from './plain-values.js';

/** What a result column holds, as far as printing it goes. */
export type QueryColumnKind = 'instant' | 'date' | 'value';

export interface QueryColumn {
  readonly name: string;
  /** DuckDB's name of the type (`TIMESTAMP WITH TIME ZONE`, `DATE`, `DOUBLE`, …). */
  readonly sqlType: string;
  readonly kind: QueryColumnKind;
}

/**
 * A small query result with its column types, for printing (`ibpipe sql`). Cells of `instant`
 * columns are epoch nanoseconds as bigint (lossless for every DuckDB timestamp precision), or
 * DuckDB's own text for values no JS date can hold (`infinity`); `date` cells are `YYYY-MM-DD`;
 * every other cell is what Lake.query returns.
 */
export interface QueryTable {
  readonly columns: readonly QueryColumn[];
  readonly rows: LakeRow[];
}

/** Epoch ns a JS Date can still hold (±8.64e15 ms). */
const MAX_NS = 8_640_000_000_000_000_000_000n;

/**
 * Per DuckDB timestamp type: its value's epoch ns, or null when the value is not of that type's
 * class. A TIMESTAMP without zone is read as UTC (the lake's sessions run with TimeZone = 'UTC').
 */
const INSTANT_NS: ReadonlyMap<number, (v: DuckDBValue) => bigint | null> = new Map([
  [DuckDBTypeId.TIMESTAMP_TZ, (v: DuckDBValue) => (v instanceof DuckDBTimestampTZValue ? v.micros * 1000n : null)],
  [DuckDBTypeId.TIMESTAMP, (v: DuckDBValue) => (v instanceof DuckDBTimestampValue ? v.micros * 1000n : null)],
  [DuckDBTypeId.TIMESTAMP_MS, (v: DuckDBValue) => (v instanceof DuckDBTimestampMillisecondsValue ? v.millis * 1_000_000n : null)],
  [DuckDBTypeId.TIMESTAMP_S, (v: DuckDBValue) => (v instanceof DuckDBTimestampSecondsValue ? v.seconds * 1_000_000_000n : null)],
  [DuckDBTypeId.TIMESTAMP_NS, (v: DuckDBValue) => (v instanceof DuckDBTimestampNanosecondsValue ? v.nanos : null)],
]);

/** Reads a materialised DuckDB result into a QueryTable; instants are recognised by column type, never by value. */
export function readQueryTable(reader: DuckDBResultReader): QueryTable {
  const names = reader.columnNames();
  const types = reader.columnTypes();
  const columns: QueryColumn[] = names.map((name, c) => {
    const typeId = types[c]?.typeId;
    const kind: QueryColumnKind = typeId !== undefined && INSTANT_NS.has(typeId) ? 'instant' : typeId === DuckDBTypeId.DATE ? 'date' : 'value';
    return { name, sqlType: types[c]?.toString() ?? 'UNKNOWN', kind };
  });
  const convert = columns.map((col, c) => {
    const toNs = INSTANT_NS.get(types[c]?.typeId ?? -1);
    if (col.kind !== 'instant' || !toNs) return toPlain;
    return (v: DuckDBValue): unknown => {
      if (v === null) return null;
      const ns = toNs(v);
      if (ns === null) throw new StorageError(`column ${col.name}: a ${col.sqlType} value came back as ${typeof v === 'object' ? v.constructor.name : typeof v}`);
      return ns > MAX_NS || ns < -MAX_NS ? v.toString() : ns;
    };
  });
  const cols = reader.getColumns();
  const rows: LakeRow[] = new Array(reader.currentRowCount);
  for (let i = 0; i < rows.length; i++) {
    const row: LakeRow = {};
    for (let c = 0; c < names.length; c++) row[names[c] as string] = (convert[c] as (v: DuckDBValue) => unknown)((cols[c] as DuckDBValue[])[i] as DuckDBValue);
    rows[i] = row;
  }
  return { columns, rows };
}
