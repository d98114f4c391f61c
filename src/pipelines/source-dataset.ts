import { existsSync, readdirSync } from 'node:fs';
import { frequencyMs } from '../core/bars.js';
import { ConfigError } from '../core/errors.js';
import { sqlKeyList, sqlString } from '../core/sql.js';
import { withAvailability } from '../storage/availability-sql.js';
import type { Lake } from '../storage/lake.js';

/**
 * A per-date bar dataset a job reads: a curated dataset (`curated/<name>/date=D/data.parquet`,
 * written by the transform) or an aligned one (`aligned/<name>/date=D/data.parquet`, written by
 * the alignment job). Both hold one row per (symbol, ts), sorted by (symbol, ts), with
 * `is_imputed` and `<column>_imputed` gap masks.
 */
export interface SourceDataset {
  readonly kind: 'curated' | 'aligned';
  readonly name: string;
  /** Bar length in ms: a row stamped ts is available at ts + barMs. */
  readonly barMs: number;
}

/** `bars_<frequency>` plus an optional `_<suffix>` (a second what_to_show, …). */
export const BAR_DATASET_NAME = /^bars_(\d+(?:s|min|h|d))(?:_[a-z0-9_]{1,40})?$/;

const DATE_DIR = /^date=(\d{4}-\d{2}-\d{2})$/;

/**
 * Bar length of a dataset named `bars_<frequency>[_<suffix>]` (`bars_1min` → 60 000, `bars_1d`,
 * `bars_1min_bid` → 60 000), if it is named so. Bar datasets (bar-datasets.ts) are named so.
 */
export function barMsFromName(name: string): number | undefined {
  const m = BAR_DATASET_NAME.exec(name);
  return m ? frequencyMs(m[1] as string) : undefined;
}

/**
 * The dataset a feature group's `source` (or an alignment's input) names: an aligned dataset
 * when an alignment of that name is configured, otherwise a curated `bars_<frequency>` dataset.
 */
export function resolveSourceDataset(name: string, alignments: readonly { name: string; frequency: string }[] = []): SourceDataset {
  const aligned = alignments.find((a) => a.name === name);
  if (aligned) return { kind: 'aligned', name, barMs: frequencyMs(aligned.frequency) };
  const barMs = barMsFromName(name);
  if (barMs === undefined) {
    throw new ConfigError(`dataset ${name}: not a configured alignment and not a curated bars_<frequency> dataset`, [
      `${name}: expected an alignments[] name or bars_<frequency>, e.g. bars_1min`,
    ]);
  }
  return { kind: 'curated', name, barMs };
}

export function sourcePartitionFile(lake: Lake, src: Pick<SourceDataset, 'kind' | 'name'>, date: string): string {
  return lake.path(src.kind, src.name, `date=${date}`, 'data.parquet');
}

/**
 * Session dates that have a partition file, ascending. Lists the dataset's folder once (one
 * readdir, no glob over files); used to find lookback sessions before a date.
 */
export function sourcePartitionDates(lake: Lake, src: Pick<SourceDataset, 'kind' | 'name'>): string[] {
  const dir = lake.path(src.kind, src.name);
  if (!existsSync(dir)) return [];
  const out: string[] = [];
  for (const d of readdirSync(dir)) {
    const m = DATE_DIR.exec(d);
    if (m && existsSync(sourcePartitionFile(lake, src, m[1] as string))) out.push(m[1] as string);
  }
  return out.sort();
}

/**
 * SQL relation over the rows of the given dates (existing partitions only), optionally for some
 * symbols, with the session date as a VARCHAR `date` column. Null when no partition exists.
 * Given the bar length (`src.barMs`), it also has `available_ts`: the stored one, else
 * `ts + bar` (aligned datasets and curated files that predate the column).
 */
export function sourceRelationSql(lake: Lake, src: Pick<SourceDataset, 'kind' | 'name'> & Partial<Pick<SourceDataset, 'barMs'>>, dates: readonly string[], symbols?: readonly string[]): string | null {
  const files = [...new Set(dates)]
    .sort()
    .map((d) => sourcePartitionFile(lake, src, d))
    .filter((f) => existsSync(f));
  if (files.length === 0) return null;
  const where = symbols ? `WHERE symbol IN (SELECT unnest([${symbols.length ? sqlKeyList(symbols) : ''}]::VARCHAR[]))` : '';
  const read = `read_parquet([${files.map(sqlString).join(', ')}], hive_partitioning = true, union_by_name = true)`;
  const rel = src.barMs !== undefined ? withAvailability(read, src.barMs) : read;
  return `(SELECT * EXCLUDE (date), CAST(date AS VARCHAR) AS date FROM ${rel} ${where})`;
}
