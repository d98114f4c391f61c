import { existsSync } from 'node:fs';
import { frequencyMs } from '../core/bars.js';
import { dateLabelsBetween } from '../core/dates.js';
import { InputError } from '../core/errors.js';
import { isValidInstrumentKey } from '../core/instruments.js';
import { sqlKeyList, sqlNotInKeys, sqlString } from '../core/sql.js';
import { Lake } from './lake.js';
import { withAvailability } from './availability-sql.js';
import { CURATED_BARS, CURATED_FILES, type CuratedBarRow } from './tables/curated-bars.js';
import { datePartitionFile } from './tables/date-partitions.js';

const SELECT = CURATED_BARS.select;

/** Bar length of a `bars_<frequency>` dataset (0 for other names): the availability of rows in files that predate `available_ts`. */
function barMsOf(dataset: string): number {
  const m = /^bars_(\d+(?:s|min|h|d))$/.exec(dataset);
  return m ? frequencyMs(m[1] as string) : 0;
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
    return datePartitionFile(this.#lake, CURATED_FILES, dataset, date);
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
    const staged = await this.#lake.stage(CURATED_BARS.columns, CURATED_BARS.columnBatch(rows), rows.length);
    try {
      await this.writeCuratedRelation(`SELECT ${SELECT} FROM ${staged}`, dataset, date, replace);
    } finally {
      await this.#lake.dropTable(staged);
    }
    return rows.length;
  }

  /**
   * Like writeCuratedBars, from a SQL relation with CURATED_BARS' columns whose rows all belong to
   * `symbols`: the rows never leave the engine. `ordered` says the relation's rows already come in
   * `(symbol, ts)` order (its own ORDER BY, on keys that sort faster than text and instants); it
   * is then written in that order unless other symbols' rows are kept.
   */
  async writeCuratedRelation(selectSql: string, dataset: string, date: string, symbols: readonly string[], options: { ordered?: boolean } = {}): Promise<void> {
    const file = this.partitionFile(dataset, date);
    for (const s of symbols) if (!isValidInstrumentKey(s)) throw new InputError(`invalid instrument key ${JSON.stringify(s)}`);
    const select = existsSync(file)
      ? `SELECT * FROM (SELECT ${SELECT} FROM (${selectSql}) UNION ALL SELECT ${SELECT} FROM ${withAvailability(`read_parquet(${sqlString(file)})`, barMsOf(dataset))} WHERE ${sqlNotInKeys('symbol', symbols)}) ORDER BY symbol, ts`
      : options.ordered === true
        ? `SELECT ${SELECT} FROM (${selectSql})`
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
    const base = files.length > 0 ? withAvailability(Lake.parquetRelation(files, []), barMsOf(dataset)) : Lake.parquetRelation(files, CURATED_BARS.withPartitions);
    const where = symbols ? `WHERE symbol IN (${symbols.length ? sqlKeyList(symbols) : 'NULL'})` : '';
    return `(SELECT ${SELECT}, CAST(date AS VARCHAR) AS date FROM ${base} ${where})`;
  }

  /** Rows of the session dates [start, end] (inclusive), sorted by (symbol, ts). */
  async readCuratedBars(dataset: string, symbols: readonly string[] | undefined, start: string, end: string): Promise<CuratedBarRow[]> {
    const dates = dateLabelsBetween(start, end);
    const rows = await this.#lake.query(`SELECT * EXCLUDE (date) FROM ${this.relationSql(dataset, dates, symbols)} ORDER BY symbol, ts`);
    return CURATED_BARS.parseRows(rows);
  }
}
