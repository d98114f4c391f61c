/**
 * `relation` (a table function or subquery of bar rows with `ts`) with an `available_ts`
 * column: the stored one, or `ts + barMs` where the files predate it (the column is added as
 * NULL when no file has it, so older partitions stay readable). Plain SQL text, no DuckDB: the
 * config schema's modules use it without loading the engine.
 */
export function withAvailability(relation: string, barMs: number): string {
  const withColumn = `SELECT * FROM ${relation} UNION ALL BY NAME SELECT CAST(NULL AS TIMESTAMPTZ) AS available_ts WHERE false`;
  return `(SELECT * REPLACE (coalesce(available_ts, ts + to_milliseconds(${Math.trunc(barMs)})) AS available_ts) FROM (${withColumn}))`;
}
