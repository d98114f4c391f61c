import { createRequire } from 'node:module';
import type * as DuckDB from '@duckdb/node-api';

/**
 * The values of `@duckdb/node-api`, loaded with require(). The package is CommonJS and its index
 * re-exports dozens of files: an ESM `import` of it makes Node scan every one of them for export
 * names (cjs-module-lexer) on each start, which measured 0.50 s of CPU against 0.28 s through
 * require() on this machine — the largest single cost of starting `ibpipe sql` or `ibpipe run`.
 * Import DuckDB's values from here; types may come from the package (a lint rule enforces both).
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
  DuckDBTimestampTZValue,
  DuckDBTimestampValue,
} = duckdb;
export type DuckDBInstance = DuckDB.DuckDBInstance;
