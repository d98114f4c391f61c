import { column, lakeTable, nullableColumn, type RowOf } from './lake-table.js';

/** A bar's values, in raw and curated files alike (CURATED_MASK_COLUMNS names the same columns). */
export const BAR_VALUE_COLUMNS = [
  nullableColumn('open', 'DOUBLE'),
  nullableColumn('high', 'DOUBLE'),
  nullableColumn('low', 'DOUBLE'),
  nullableColumn('close', 'DOUBLE'),
  nullableColumn('volume', 'DOUBLE'),
  nullableColumn('wap', 'DOUBLE'),
  nullableColumn('trade_count', 'BIGINT'),
] as const;

/**
 * `raw/tws_bars/bar_size=<partition>/date=<session date>/batch-<id>.parquet`: bars as a source
 * delivered them (DESIGN §6), one file per committed batch. Prices are NULL where the source sent
 * NaN (a TWS bar is stored as received; the transform quarantines it); `bar_size` and `date` live
 * in the Hive path, not in the file.
 */
export const RAW_BARS = lakeTable(
  'raw',
  [
    column('source', 'VARCHAR'),
    column('symbol', 'VARCHAR'),
    nullableColumn('con_id', 'BIGINT'),
    column('what_to_show', 'VARCHAR'),
    /** Bar start. */
    column('ts', 'TIMESTAMPTZ'),
    ...BAR_VALUE_COLUMNS,
    column('batch_id', 'VARCHAR'),
    column('ingestion_ts', 'TIMESTAMPTZ'),
    /** The IB request (or file) that produced the bar. */
    nullableColumn('request_id', 'VARCHAR'),
  ],
  [column('bar_size', 'VARCHAR'), column('date', 'DATE')],
);

/** A row of a raw batch file; instants are epoch ms. */
export type RawFileRow = RowOf<typeof RAW_BARS.columns>;

/** A raw row as RawStore reads it: the file's columns plus `bar_size` from the Hive path. */
export const RAW_BAR_READS = lakeTable('raw', [...RAW_BARS.columns, column('bar_size', 'VARCHAR')]);

/** A raw row as read (DESIGN §6 columns plus the `bar_size` partition); instants are epoch ms. */
export type RawBarRow = RowOf<typeof RAW_BAR_READS.columns>;
