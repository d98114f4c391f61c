import { existsSync } from 'node:fs';
import { InputError } from '../core/errors.js';
import { sqlString } from '../core/sql.js';
import type { Lake } from './lake.js';
import { datePartitionFile } from './tables/date-partitions.js';
import { PREDICTION_FILES, PREDICTIONS, type PredictionRow } from './tables/predictions.js';

export type { PredictionRow, PredictionStatus } from './tables/predictions.js';


const NAMES = PREDICTIONS.select;

/**
 * Predictions: `predictions/<model>/date=<date>/data.parquet`, one file per model and session
 * date, sorted by (symbol, ts) and replaced whole and atomically. A write merges: it replaces
 * the rows with the same (symbol, ts) and keeps every other row of the date, so scoring one
 * instant or one symbol again leaves the rest of the day as it was.
 */
export class PredictionStore {
  readonly #lake: Lake;

  constructor(lake: Lake) {
    this.#lake = lake;
  }

  partitionFile(model: string, date: string): string {
    return datePartitionFile(this.#lake, PREDICTION_FILES, model, date);
  }

  /** Merges rows into the date's file (see the class comment); returns the rows written by this call. */
  async writePredictions(model: string, date: string, rows: readonly PredictionRow[]): Promise<number> {
    const file = this.partitionFile(model, date);
    const staged = await this.#lake.stage(PREDICTIONS.columns, PREDICTIONS.columnBatch(rows), rows.length);
    try {
      const [dups] = await this.#lake.query<{ n: number }>(`SELECT count(*) - count(DISTINCT (symbol, ts)) AS n FROM ${staged}`);
      if ((dups?.n ?? 0) > 0) throw new InputError(`writePredictions: ${dups?.n} duplicate (symbol, ts) row(s) for ${model} ${date}`);
      const keep = existsSync(file)
        ? `UNION ALL SELECT ${NAMES} FROM read_parquet(${sqlString(file)}) AS old WHERE NOT EXISTS (SELECT 1 FROM ${staged} AS s WHERE s.symbol = old.symbol AND s.ts = old.ts)`
        : '';
      await this.#lake.writeParquetAtomic(file, `SELECT * FROM (SELECT ${NAMES} FROM ${staged} ${keep}) ORDER BY symbol, ts`);
    } finally {
      await this.#lake.dropTable(staged);
    }
    return rows.length;
  }

  /** Rows of one date's file (empty when absent), sorted by (symbol, ts); instants as epoch ms. */
  async readPredictions(model: string, date: string): Promise<PredictionRow[]> {
    const file = this.partitionFile(model, date);
    if (!existsSync(file)) return [];
    return PREDICTIONS.parseRows(await this.#lake.query(`SELECT ${NAMES} FROM read_parquet(${sqlString(file)}) ORDER BY symbol, ts`));
  }
}
