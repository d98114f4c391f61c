import { existsSync } from 'node:fs';
import { InputError } from '../core/errors.js';
import { isValidInstrumentKey } from '../core/instruments.js';
import { sqlNotInKeys, sqlString } from '../core/sql.js';
import type { Lake } from './lake.js';
import type { CellWriter } from './tables/lake-table.js';
import { datePartitionFile } from './tables/date-partitions.js';
import { QUARANTINE, QUARANTINE_FILES, type QuarantineRow } from './tables/quarantine.js';

export type { QuarantineRow } from './tables/quarantine.js';

const SELECT = QUARANTINE.select;

/** Values the appender can take: non-finite numbers (or unsafe instants) become NULL. */
const cellOf: CellWriter = (c, v) => {
  if (v === undefined || v === null) return null;
  if (c.type === 'VARCHAR') return String(v);
  if (typeof v !== 'number' || !Number.isFinite(v)) return null;
  if ((c.type === 'TIMESTAMPTZ' || c.type === 'BIGINT') && !Number.isSafeInteger(v)) return null;
  return v;
};

/**
 * `quarantine/<dataset>/date=<session date>/data.parquet`: records a job set aside, with rule
 * and reason. Like curated data, a date's file is replaced whole and atomically per run, keeping
 * the rows of symbols the run did not process, so re-running a job does not duplicate entries.
 */
export class QuarantineStore {
  readonly #lake: Lake;

  constructor(lake: Lake) {
    this.#lake = lake;
  }

  partitionFile(dataset: string, date: string): string {
    return datePartitionFile(this.#lake, QUARANTINE_FILES, dataset, date);
  }

  /**
   * Replaces the quarantine entries of `symbols` for one date. Writes nothing when there is
   * nothing to record and no file yet. Returns the file, or null when none was written.
   */
  async replace(dataset: string, date: string, symbols: readonly string[], rows: readonly QuarantineRow[]): Promise<string | null> {
    if (rows.length === 0 && !existsSync(this.partitionFile(dataset, date))) return this.replaceFromRelation(dataset, date, symbols, '', false);
    const staged = await this.#lake.stage(QUARANTINE.columns, QUARANTINE.columnBatch(rows, cellOf), rows.length);
    try {
      return await this.replaceFromRelation(dataset, date, symbols, `SELECT ${SELECT} FROM ${staged}`, rows.length > 0);
    } finally {
      await this.#lake.dropTable(staged);
    }
  }

  /**
   * Like replace, from a SQL relation with QUARANTINE's columns (in that order) whose rows all
   * belong to `symbols`; `hasRows` says whether it is non-empty (nothing is written for an
   * empty relation when there is no file yet).
   */
  async replaceFromRelation(dataset: string, date: string, symbols: readonly string[], selectSql: string, hasRows: boolean): Promise<string | null> {
    const file = this.partitionFile(dataset, date);
    for (const s of symbols) if (!isValidInstrumentKey(s)) throw new InputError(`invalid instrument key ${JSON.stringify(s)}`);
    const exists = existsSync(file);
    if (!hasRows && !exists) return null;
    const keep = exists
      ? `UNION ALL SELECT ${SELECT} FROM read_parquet(${sqlString(file)}) WHERE ${sqlNotInKeys('symbol', symbols)}`
      : '';
    await this.#lake.writeParquetAtomic(
      file,
      `SELECT * FROM (SELECT ${SELECT} FROM (${selectSql}) ${keep}) ORDER BY symbol, ts NULLS FIRST, stage, rule, ingestion_ts, batch_id`,
    );
    return file;
  }

  /** The quarantine entries of one date (empty when there is no file). */
  async read(dataset: string, date: string): Promise<QuarantineRow[]> {
    const file = this.partitionFile(dataset, date);
    if (!existsSync(file)) return [];
    const rows = await this.#lake.query(`SELECT ${SELECT} FROM read_parquet(${sqlString(file)}) ORDER BY symbol, ts NULLS FIRST, stage, rule`);
    return QUARANTINE.parseRows(rows);
  }
}
