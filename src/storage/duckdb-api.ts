import { createRequire } from 'node:module';
import type * as DuckDB from '@duckdb/node-api';

/**
 * The values of `@duckdb/node-api`, loaded with require(). The package is CommonJS and its index
 * re-exports dozens of files: an ESM `import` of it makes Node scan every one of them for export
 * names (cjs-module-lexer) on each start, which measured 0.50 s of CPU against 0.28 s through
 * require() on this machine — the largest single cost of starting `ibpipe sql` or `ibpipe run`.
 * Import DuckDB's values from here (a lint rule enforces it); types may come from here or the package.
 */
const duckdb = createRequire(import.meta.url)('@duckdb/node-api') as typeof DuckDB;

export const {
  BOOLEAN,
  DOUBLE,
  VARCHAR,
  DuckDBDataChunk,
  DuckDBDateValue,
  DuckDBDecimalValue,
  DuckDBInstance,
  DuckDBTableFunction,
  DuckDBTimestampMillisecondsValue,
  DuckDBTimestampNanosecondsValue,
  DuckDBTimestampSecondsValue,
  DuckDBTimestampTZValue,
  DuckDBTimestampValue,
  DuckDBTypeId,
  INTEGER,
  StatementType,
} = duckdb;
export type DuckDBInstance = DuckDB.DuckDBInstance;
export type DuckDBTableFunction = DuckDB.DuckDBTableFunction;
export type StatementType = DuckDB.StatementType;
// Every type of the package too, so one import line serves a module (values must be listed above).
export type * from '@duckdb/node-api';
