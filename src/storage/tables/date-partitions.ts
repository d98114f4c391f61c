import { InputError } from '../../core/errors.js';
import type { Lake } from '../lake.js';

/** Where a table kept as one file per (name, session date) lives: `<root>/<name>/date=<date>/data.parquet`. */
export interface DatePartitionLayout {
  readonly root: string;
  /** What the name is, for errors (`dataset`, `model`). */
  readonly key: string;
  /** Names allowed: none may leave the root. */
  readonly pattern: RegExp;
}

/** Curated and quarantine dataset names. */
export const DATASET_NAME = /^[a-z][a-z0-9_]{0,63}$/;
const DATE = /^\d{4}-\d{2}-\d{2}$/;

/** The file of one name and session date; throws InputError for a name or date that does not match. */
export function datePartitionFile(lake: Pick<Lake, 'path'>, layout: DatePartitionLayout, name: string, date: string): string {
  if (!layout.pattern.test(name)) throw new InputError(`${layout.key} name ${JSON.stringify(name)} must match ${layout.pattern.source}`);
  if (!DATE.test(date)) throw new InputError(`date must be YYYY-MM-DD, got ${JSON.stringify(date)}`);
  return lake.path(layout.root, name, `date=${date}`, 'data.parquet');
}
