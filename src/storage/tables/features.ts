import { InputError } from '../../core/errors.js';
import type { LakeColumn } from '../lake.js';

/** Columns every feature file starts with, in order; then the gap masks, then the features. */
export const FEATURE_KEY_COLUMNS: readonly LakeColumn[] = [
  { name: 'symbol', type: 'VARCHAR' },
  { name: 'ts', type: 'TIMESTAMPTZ' },
  { name: 'available_ts', type: 'TIMESTAMPTZ' },
  { name: 'feature_group', type: 'VARCHAR' },
  { name: 'version', type: 'VARCHAR' },
  { name: 'definition_hash', type: 'VARCHAR' },
  { name: 'is_imputed', type: 'BOOLEAN' },
  { name: 'imputation', type: 'VARCHAR' },
];

/**
 * Rows per Parquet row group. Files are sorted by (symbol, ts), so small row groups let a
 * one-symbol read skip most of a 500-symbol day (each group spans ~20 symbols of 1-min bars).
 */
export const FEATURE_ROW_GROUP_SIZE = 8192;

/** What the names in the feature lake must look like: they become paths and SQL identifiers. */
const NAME_PATTERNS = {
  group: /^[a-z][a-z0-9_]{0,62}$/,
  version: /^[A-Za-z0-9][A-Za-z0-9._-]{0,31}$/,
  date: /^\d{4}-\d{2}-\d{2}$/,
  'mask column': /^[a-z][a-z0-9_]{0,62}$/,
  'feature column': /^[a-z][a-z0-9_]{0,62}$/,
  'definition hash': /^[0-9a-f]{16,128}$/,
} as const;

/** Throws InputError naming `what` unless `value` is a valid feature-lake name of that kind. */
export function checkFeatureName(what: keyof typeof NAME_PATTERNS, value: string): void {
  const re = NAME_PATTERNS[what];
  if (!re.test(value)) throw new InputError(`${what} ${JSON.stringify(value)} must match ${re.source}`, { details: { [what]: value } });
}
