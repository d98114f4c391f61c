import type { DuckDBResultReader, DuckDBValue } from '@duckdb/node-api';
import { DuckDBTypeId } from './duckdb-api.js';
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

/** Per DuckDB timestamp type: its value's field and how many ns one unit is. A TIMESTAMP without zone is read as UTC (the lake's sessions run with TimeZone = 'UTC'). */
const INSTANT_UNITS: ReadonlyMap<number, readonly [field: 'micros' | 'millis' | 'seconds' | 'nanos', ns: bigint]> = new Map([
  [DuckDBTypeId.TIMESTAMP_TZ, ['micros', 1000n]],
  [DuckDBTypeId.TIMESTAMP, ['micros', 1000n]],
  [DuckDBTypeId.TIMESTAMP_MS, ['millis', 1_000_000n]],
  [DuckDBTypeId.TIMESTAMP_S, ['seconds', 1_000_000_000n]],
  [DuckDBTypeId.TIMESTAMP_NS, ['nanos', 1n]],
]);

/** Reads a materialised DuckDB result into a QueryTable; instants are recognised by column type, never by value. */
export function readQueryTable(reader: DuckDBResultReader): QueryTable {
  const names = reader.columnNames();
  const types = reader.columnTypes();
  const columns: QueryColumn[] = names.map((name, c) => {
    const typeId = types[c]?.typeId;
    const kind: QueryColumnKind = typeId !== undefined && INSTANT_UNITS.has(typeId) ? 'instant' : typeId === DuckDBTypeId.DATE ? 'date' : 'value';
    return { name, sqlType: types[c]?.toString() ?? 'UNKNOWN', kind };
  });
  const convert = columns.map((col, c) => {
    const unit = INSTANT_UNITS.get(types[c]?.typeId ?? -1);
    if (col.kind !== 'instant' || !unit) return toPlain;
    const [field, nsPerUnit] = unit;
    return (v: DuckDBValue): unknown => {
      if (v === null) return null;
      const ns = (v as unknown as Record<typeof field, bigint>)[field] * nsPerUnit;
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
