import { existsSync } from 'node:fs';
import { InputError } from '../core/errors.js';
import { sqlString } from '../core/sql.js';
import { Lake, type ColumnData, type LakeColumn } from './lake.js';

const MODEL = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
const DATE = /^\d{4}-\d{2}-\d{2}$/;

/**
 * Columns of a predictions file, in order. One row per (symbol, scoring instant `ts`): a score,
 * or a NULL score with the `status` and `reason` it was not scored; then what produced it (model
 * id and version, feature group version and definition hash, the feature row's `ts` and
 * `available_ts`) and which run wrote it.
 */
export const PREDICTION_COLUMNS: readonly LakeColumn[] = [
  { name: 'symbol', type: 'VARCHAR' },
  { name: 'ts', type: 'TIMESTAMPTZ' },
  { name: 'score', type: 'DOUBLE' },
  { name: 'status', type: 'VARCHAR' },
  { name: 'reason', type: 'VARCHAR' },
  { name: 'model', type: 'VARCHAR' },
  { name: 'model_id', type: 'VARCHAR' },
  { name: 'model_version', type: 'VARCHAR' },
  { name: 'feature_group', type: 'VARCHAR' },
  { name: 'feature_version', type: 'VARCHAR' },
  { name: 'feature_definition_hash', type: 'VARCHAR' },
  { name: 'feature_ts', type: 'TIMESTAMPTZ' },
  { name: 'feature_available_ts', type: 'TIMESTAMPTZ' },
  { name: 'feature_age_ms', type: 'BIGINT' },
  { name: 'feature_is_imputed', type: 'BOOLEAN' },
  { name: 'run_id', type: 'VARCHAR' },
  { name: 'scored_at', type: 'TIMESTAMPTZ' },
];
const NAMES = PREDICTION_COLUMNS.map((c) => c.name).join(', ');

/** Why a (symbol, instant) has a score or not. */
export type PredictionStatus = 'ok' | 'stale' | 'missing' | 'incomplete';

export interface PredictionRow {
  readonly symbol: string;
  readonly ts: number;
  readonly score: number | null;
  readonly status: PredictionStatus;
  readonly reason: string | null;
  readonly model: string;
  readonly model_id: string;
  readonly model_version: string;
  readonly feature_group: string;
  readonly feature_version: string;
  readonly feature_definition_hash: string;
  readonly feature_ts: number | null;
  readonly feature_available_ts: number | null;
  readonly feature_age_ms: number | null;
  readonly feature_is_imputed: boolean | null;
  readonly run_id: string;
  readonly scored_at: number;
}

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
    if (!MODEL.test(model)) throw new InputError(`model name ${JSON.stringify(model)} must match ${MODEL.source}`);
    if (!DATE.test(date)) throw new InputError(`date must be YYYY-MM-DD, got ${JSON.stringify(date)}`);
    return this.#lake.path('predictions', model, `date=${date}`, 'data.parquet');
  }

  /** Merges rows into the date's file (see the class comment); returns the rows written by this call. */
  async writePredictions(model: string, date: string, rows: readonly PredictionRow[]): Promise<number> {
    const file = this.partitionFile(model, date);
    const data: ColumnData = {};
    for (const c of PREDICTION_COLUMNS) data[c.name] = rows.map((r) => (r as unknown as Record<string, unknown>)[c.name] ?? null);
    const staged = await this.#lake.stage(PREDICTION_COLUMNS, data, rows.length);
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
    return (await this.#lake.query(`SELECT ${NAMES} FROM read_parquet(${sqlString(file)}) ORDER BY symbol, ts`)) as unknown as PredictionRow[];
  }
}
