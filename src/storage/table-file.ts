import { sqlString } from '../core/sql.js';
import { DuckDBInstance } from './duckdb-api.js';
import { toPlain } from './plain-values.js';

/**
 * Reads a small CSV (with a header) or Parquet file into plain rows, column names lower-cased and
 * timestamps as epoch ms, on a DuckDB of its own. For small inputs only (e.g. the sim's replay
 * files): bulk data stays in the engine. Throws what DuckDB throws for an unreadable file.
 */
export async function readTableFile(file: string): Promise<Record<string, unknown>[]> {
  const reader = /\.parquet$/i.test(file) ? `read_parquet(${sqlString(file)})` : `read_csv_auto(${sqlString(file)}, header = true)`;
  const instance = await DuckDBInstance.create(':memory:', { threads: '1' });
  try {
    const conn = await instance.connect();
    try {
      await conn.run(`SET TimeZone = 'UTC'`);
      const reply = await conn.runAndReadAll(`SELECT * FROM ${reader}`);
      const names = reply.columnNames().map((n) => n.toLowerCase());
      return reply.getRows().map((r) => Object.fromEntries(r.map((v, i) => [names[i] as string, toPlain(v)])));
    } finally {
      conn.closeSync();
    }
  } finally {
    instance.closeSync();
  }
}
