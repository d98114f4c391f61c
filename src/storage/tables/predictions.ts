import type { DatePartitionLayout } from './date-partitions.js';
import { column, enumColumn, lakeTable, nullableColumn, type RowOf } from './lake-table.js';

/** Why a (symbol, instant) has a score or not. */
export const PREDICTION_STATUSES = ['ok', 'stale', 'missing', 'incomplete'] as const;
export type PredictionStatus = (typeof PREDICTION_STATUSES)[number];

/**
 * `predictions/<model>/date=<date>/data.parquet`. One row per (symbol, scoring instant `ts`): a
 * score, or a NULL score with the `status` and `reason` it was not scored; then what produced it
 * (model id and version, feature group version and definition hash, the feature row's `ts` and
 * `available_ts`) and which run wrote it.
 */
export const PREDICTIONS = lakeTable('predictions', [
  column('symbol', 'VARCHAR'),
  column('ts', 'TIMESTAMPTZ'),
  nullableColumn('score', 'DOUBLE'),
  enumColumn('status', PREDICTION_STATUSES),
  nullableColumn('reason', 'VARCHAR'),
  column('model', 'VARCHAR'),
  column('model_id', 'VARCHAR'),
  column('model_version', 'VARCHAR'),
  column('feature_group', 'VARCHAR'),
  column('feature_version', 'VARCHAR'),
  column('feature_definition_hash', 'VARCHAR'),
  nullableColumn('feature_ts', 'TIMESTAMPTZ'),
  nullableColumn('feature_available_ts', 'TIMESTAMPTZ'),
  nullableColumn('feature_age_ms', 'BIGINT'),
  nullableColumn('feature_is_imputed', 'BOOLEAN'),
  column('run_id', 'VARCHAR'),
  column('scored_at', 'TIMESTAMPTZ'),
]);

/** `predictions/<model>/date=<date>/data.parquet`. */
export const PREDICTION_FILES: DatePartitionLayout = { root: 'predictions', key: 'model', pattern: /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/ };

/** A predictions row; instants are epoch ms. */
export type PredictionRow = RowOf<typeof PREDICTIONS.columns>;
