import { CURATED_MASK_COLUMNS } from '../../core/bars.js';
import { column, lakeTable, nullableColumn, type RowOf } from './lake-table.js';
import { BAR_VALUE_COLUMNS } from './raw-bars.js';
import { DATASET_NAME, type DatePartitionLayout } from './date-partitions.js';

/**
 * `curated/<dataset>/date=<session date>/data.parquet`: one row per (symbol, ts) on the calendar
 * grid, with its gap mask; `date` lives in the Hive path.
 */
export const CURATED_BARS = lakeTable(
  'curated',
  [
    column('symbol', 'VARCHAR'),
    column('ts', 'TIMESTAMPTZ'),
    /**
     * When every value of the row was knowable: `ts + bar` for an observed bar, later for a value
     * imputed from later bars (e.g. `linear`). Point-in-time reads compare this.
     */
    column('available_ts', 'TIMESTAMPTZ'),
    ...BAR_VALUE_COLUMNS,
    /** True when any column of this row was imputed (or left NULL for an over-long gap). */
    column('is_imputed', 'BOOLEAN'),
    /** Name of the imputation rule applied, e.g. `ffill`, or NULL for an observed bar. */
    nullableColumn('imputation', 'VARCHAR'),
    /** Per-column gap mask: true when that column was not observed on this bar. */
    ...CURATED_MASK_COLUMNS.map((c) => column(`${c}_imputed` as const, 'BOOLEAN')),
  ],
  [column('date', 'DATE')],
);

/** `curated/<dataset>/date=<session date>/data.parquet`. */
export const CURATED_FILES: DatePartitionLayout = { root: 'curated', key: 'dataset', pattern: DATASET_NAME };

/** A curated row; instants are epoch ms. */
export type CuratedBarRow = RowOf<typeof CURATED_BARS.columns>;
