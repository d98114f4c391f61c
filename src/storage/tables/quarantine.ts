import { column, lakeTable, nullableColumn, relaxColumns, type RowOf } from './lake-table.js';
import { RAW_BARS } from './raw-bars.js';
import { DATASET_NAME, type DatePartitionLayout } from './date-partitions.js';

/**
 * `quarantine/<dataset>/date=<session date>/data.parquet`: a rejected record is the raw row as
 * read (any value but the symbol may be NULL: `ts` is when the record's own timestamp was
 * unusable) plus why and by which rule it was set aside.
 */
export const QUARANTINE = lakeTable('quarantine', [
  ...relaxColumns(RAW_BARS.columns, ['symbol']),
  /** Where it was caught: `validity` (invalid record), `dq` (a quarantine rule), `grid` (off the calendar grid). */
  column('stage', 'VARCHAR'),
  /** The rule that rejected it (first in config order when several did). */
  column('rule', 'VARCHAR'),
  column('reason', 'VARCHAR'),
  /** Other rules it also failed, comma-separated, or NULL. */
  nullableColumn('other_rules', 'VARCHAR'),
]);

/** `quarantine/<dataset>/date=<session date>/data.parquet`. */
export const QUARANTINE_FILES: DatePartitionLayout = { root: 'quarantine', key: 'dataset', pattern: DATASET_NAME };

/** A rejected record: the raw row as read, plus why and by which rule it was set aside. */
export type QuarantineRow = RowOf<typeof QUARANTINE.columns>;
