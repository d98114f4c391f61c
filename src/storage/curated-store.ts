import { existsSync } from 'node:fs';
import { CURATED_MASK_COLUMNS, frequencyMs, type CuratedBarRow } from '../core/bars.js';
import { dateLabelsBetween } from '../core/dates.js';
import { InputError } from '../core/errors.js';
import { isValidInstrumentKey } from '../core/instruments.js';
import { sqlIdent, sqlKeyList, sqlNotInKeys, sqlString } from '../core/sql.js';
import { Lake, type LakeColumn } from './lake.js';
import { withAvailability } from './availability-sql.js';

const DATE = /^\d{4}-\d{2}-\d{2}$/;
const DATASET = /^[a-z][a-z0-9_]{0,63}$/;

export const CURATED_COLUMNS: readonly LakeColumn[] = [
  { name: 'symbol', type: 'VARCHAR' },
  { name: 'ts', type: 'TIMESTAMPTZ' },
  { name: 'available_ts', type: 'TIMESTAMPTZ' },
  { name: 'open', type: 'DOUBLE' },
  { name: 'high', type: 'DOUBLE' },
  { name: 'low', type: 'DOUBLE' },
  { name: 'close', type: 'DOUBLE' },
  { name: 'volume', type: 'DOUBLE' },
  { name: 'wap', type: 'DOUBLE' },
  { name: 'trade_count', type: 'BIGINT' },
  { name: 'is_imputed', type: 'BOOLEAN' },
  { name: 'imputation', type: 'VARCHAR' },
  ...CURATED_MASK_COLUMNS.map((c): LakeColumn => ({ name: `${c}_imputed`, type: 'BOOLEAN' })),
];
const SELECT = CURATED_COLUMNS.map((c) => c.name).join(', ');

function checkDataset(dataset: string): void {
  if (!DATASET.test(dataset)) throw new InputError(`dataset name ${JSON.stringify(dataset)} must match ${DATASET.source}`);
}
/** Bar length of a `bars_<frequency>` dataset (0 for other names): the availability of rows in files that predate `available_ts`. */
function barMsOf(dataset: string): number {
  const m = /^bars_(\d+(?:s|min|h|d))$/.exec(dataset);
  return m ? frequencyMs(m[1] as string) : 0;
}

function checkDate(date: string): void {
  if (!DATE.test(date)) throw new InputError(`date must be YYYY-MM-DD, got ${JSON.stringify(date)}`);
}

/**
 * Curated bars: one file per (dataset, session date), replaced whole and atomically, so a
 * transform can re-run. Rows are sorted by (symbol, ts) so the file is byte-identical for the
 * same input.
 */
export class CuratedStore {
  readonly #lake: Lake;

  constructor(lake: Lake) {
    this.#lake = lake;
  }

  partitionFile(dataset: string, date: string): string {
    checkDataset(dataset);
    checkDate(date);
    return this.#lake.path('curated', dataset, `date=${date}`, 'data.parquet');
  }

  hasPartition(dataset: string, date: string): boolean {
    return existsSync(this.partitionFile(dataset, date));
  }

  /**
   * Replaces the rows of `symbols` (default: the symbols in rows) in one date partition; other
   * symbols' rows of that date are kept. Atomic: readers see the old file or the new one.
   */
  async writeCuratedBars(rows: readonly CuratedBarRow[], dataset: string, date: string, symbols?: readonly string[]): Promise<number> {
    const replace = [...new Set(symbols ?? rows.map((r) => r.symbol))];
    for (const r of rows) {
      if (!replace.includes(r.symbol)) throw new InputError(`row for ${r.symbol} outside the symbols being replaced`);
    }
    const data: Record<string, unknown[]> = {};
    for (const c of CURATED_COLUMNS) data[c.name] = rows.map((r) => (r as unknown as Record<string, unknown>)[c.name] ?? null);
    const staged = await this.#lake.stage(CURATED_COLUMNS, data, rows.length);
    try {
      await this.writeCuratedRelation(`SELECT ${SELECT} FROM ${staged}`, dataset, date, replace);
    } finally {
      await this.#lake.dropTable(staged);
    }
    return rows.length;
  }

  /**
   * Like writeCuratedBars, from a SQL relation with CURATED_COLUMNS whose rows all belong to
   * `symbols`: the rows never leave the engine. `sortKey` names further columns of the relation
   * (not written) whose order is the order of `(symbol, ts)`, such as integer ids, which sort
   * faster than text and instants; they are used when no other symbols' rows are kept.
   */
  async writeCuratedRelation(selectSql: string, dataset: string, date: string, symbols: readonly string[], options: { sortKey?: readonly string[] } = {}): Promise<void> {
    const file = this.partitionFile(dataset, date);
    for (const s of symbols) if (!isValidInstrumentKey(s)) throw new InputError(`invalid instrument key ${JSON.stringify(s)}`);
    const select = existsSync(file)
      ? `SELECT * FROM (SELECT ${SELECT} FROM (${selectSql}) UNION ALL SELECT ${SELECT} FROM ${withAvailability(`read_parquet(${sqlString(file)})`, barMsOf(dataset))} WHERE ${sqlNotInKeys('symbol', symbols)}) ORDER BY symbol, ts`
      : options.sortKey && options.sortKey.length > 0
        ? `SELECT ${SELECT} FROM (${selectSql}) ORDER BY ${options.sortKey.map(sqlIdent).join(', ')}`
        : `SELECT * FROM (SELECT ${SELECT} FROM (${selectSql})) ORDER BY symbol, ts`;
    await this.#lake.writeParquetAtomic(file, select);
  }

  /** Session dates that have a partition in [start, end] (checks the exact files; no globbing). */
  existingDates(dataset: string, dates: readonly string[]): string[] {
    return dates.filter((d) => this.hasPartition(dataset, d));
  }

  /** SQL relation over the curated rows of the given dates (missing partitions are skipped). */
  relationSql(dataset: string, dates: readonly string[], symbols?: readonly string[]): string {
    const files = this.existingDates(dataset, dates).map((d) => this.partitionFile(dataset, d));
    const base = files.length > 0 ? withAvailability(Lake.parquetRelation(files, []), barMsOf(dataset)) : Lake.parquetRelation(files, [...CURATED_COLUMNS, { name: 'date', type: 'DATE' }]);
    const where = symbols ? `WHERE symbol IN (${symbols.length ? sqlKeyList(symbols) : 'NULL'})` : '';
    return `(SELECT ${SELECT}, CAST(date AS VARCHAR) AS date FROM ${base} ${where})`;
  }

  /** Rows of the session dates [start, end] (inclusive), sorted by (symbol, ts). */
  async readCuratedBars(dataset: string, symbols: readonly string[] | undefined, start: string, end: string): Promise<CuratedBarRow[]> {
    const dates = dateLabelsBetween(start, end);
    const rows = await this.#lake.query(`SELECT * EXCLUDE (date) FROM ${this.relationSql(dataset, dates, symbols)} ORDER BY symbol, ts`);
    return rows as unknown as CuratedBarRow[];
  }
}
