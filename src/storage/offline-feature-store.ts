import { existsSync } from 'node:fs';
import { dateLabelsBetween } from '../core/dates.js';
import { InputError, StorageError } from '../core/errors.js';
import { assertInstrumentKey } from '../core/instruments.js';
import { sqlIdent, sqlKeyList, sqlKeySet, sqlString } from '../core/sql.js';
import type { FeatureRegistration, FeatureRegistryStore } from './feature-registry-store.js';
import { FEATURE_KEY_COLUMNS, FEATURE_ROW_GROUP_SIZE, checkFeatureName, featureFileColumnNames, featureFileSelect, featureRowColumns } from './tables/features.js';
import type { ColumnData, Lake, LakeRow } from './lake.js';

/** What one write of a feature partition is. */
export interface FeatureWrite extends FeatureRegistration {
  /** Session date of the partition, YYYY-MM-DD. */
  readonly date: string;
  /** Symbols whose rows this write replaces; other symbols' rows of the date are kept. */
  readonly symbols: readonly string[];
}

/** What one write of feature partitions did. */
export interface FeatureWriteResult {
  /** Rows written for the replaced symbols (other symbols' rows kept are not counted). */
  readonly rows: number;
  /**
   * Rows that revise an already-published row (C4): the partition held a row for the same
   * (symbol, ts) whose feature values, `is_imputed` or `available_ts` differ from the new one
   * (IS DISTINCT FROM, after NaN and ±Infinity became NULL): a late bar, a correction, live/batch
   * skew. Zero on the first write of a partition.
   */
  readonly revisions: number;
}

/** A write of several date partitions at once, from one relation with a `date` column. */
export interface FeaturePartitionsWrite extends Omit<FeatureWrite, 'date'> {
  /** Session dates replaced, YYYY-MM-DD. */
  readonly dates: readonly string[];
}

/**
 * The offline feature store (DESIGN §6, §7): one Parquet file per (group, version, session date)
 * under `features/<group>/v=<version>/date=<date>/data.parquet`, sorted by (symbol, ts) and
 * replaced whole and atomically (revisions counted on the way, C4), and the reads of whole date
 * ranges that training joins on. Every write registers (or checks) its group version first.
 */
export class OfflineFeatureStore {
  readonly #lake: Lake;
  readonly #registry: FeatureRegistryStore;
  readonly #onReplaced: (file: string) => void;

  /** `onReplaced(file)` is called right after a partition file is replaced (cache invalidation). */
  constructor(lake: Lake, registry: FeatureRegistryStore, onReplaced: (file: string) => void = () => {}) {
    this.#lake = lake;
    this.#registry = registry;
    this.#onReplaced = onReplaced;
  }

  partitionFile(group: string, version: string, date: string): string {
    checkFeatureName('group', group);
    checkFeatureName('version', version);
    checkFeatureName('date', date);
    return this.#lake.path('features', group, `v=${version}`, `date=${date}`, 'data.parquet');
  }

  /** Writes one date partition from columnar JS data (see {@link writeFeaturesFromRelation}). */
  async writeFeatures(w: FeatureWrite, data: ColumnData, rowCount: number): Promise<FeatureWriteResult> {
    const cols = featureRowColumns(w);
    const filled: Record<string, ArrayLike<unknown>> = { ...data };
    if (!filled.imputation) filled.imputation = new Array<null>(rowCount).fill(null);
    for (const c of cols) {
      const col = filled[c.name];
      if (!col) throw new InputError(`writeFeatures: missing column ${c.name}`);
      if (col.length < rowCount) throw new InputError(`writeFeatures: column ${c.name} has ${col.length} rows, expected ${rowCount}`);
    }
    const { date, ...rest } = w;
    const write: FeaturePartitionsWrite = { ...rest, dates: [date] };
    this.#validate(write);
    const staged = await this.#lake.stage(cols, filled, rowCount);
    try {
      return await this.writeFeaturesFromRelation(write, `(SELECT *, ${sqlString(date)} AS date FROM ${staged})`);
    } finally {
      await this.#lake.dropTable(staged);
    }
  }

  /**
   * The one way feature partitions are written. Replaces the rows of `w.symbols` in the date
   * partitions `w.dates` with new rows, keeping other symbols' rows, each date's file replaced
   * atomically (readers see the old file or the new one) and sorted by (symbol, ts). The new rows
   * come from `relation`: a table or subquery with a `date` (VARCHAR session date) column, or a
   * function giving each date's rows. Columns: symbol, ts, available_ts, is_imputed, imputation,
   * the mask columns and the feature columns; NaN and ±Infinity become NULL. The group version
   * is registered (or checked) first. Returns the rows written (other symbols' not counted) and
   * the revisions among them: each date's new rows compared, in SQL, with the rows of the same
   * symbols the file being replaced holds, before it is replaced (FeatureWriteResult).
   *
   * Checks before anything is written: every row's date and symbol is among those replaced and
   * (date, symbol, ts) is unique. With `ordered`, the caller vouches for that and for each
   * date's rows arriving sorted by (symbol, ts) (the feature pipeline, whose relation checks
   * itself row by row): no separate check and no sort unless other symbols' rows are merged in.
   *
   * One ordered COPY per date rather than one `COPY … PARTITION_BY (date)`: DuckDB 1.5's
   * partitioned writer emits row groups out of order (measured: ~22 out-of-order row groups in
   * a 195,000-row partition, even with ORDER BY and one thread), and readers rely on each symbol
   * being one contiguous, sorted run.
   */
  async writeFeaturesFromRelation(w: FeaturePartitionsWrite, relation: string | ((date: string) => string), options: { ordered?: boolean } = {}): Promise<FeatureWriteResult> {
    this.#validate(w);
    this.#registry.ensureRegistered(w);
    const dates = [...new Set(w.dates)].sort();
    const replace = [...new Set(w.symbols)];
    const keys = sqlKeySet(replace);
    const relationFor = (date: string): string =>
      typeof relation === 'string' ? `(SELECT * FROM ${relation} WHERE CAST(date AS VARCHAR) = ${sqlString(date)})` : relation(date);
    if (!options.ordered) {
      const all = typeof relation === 'string' ? relation : `(${dates.map((d) => `SELECT *, ${sqlString(d)} AS date FROM ${relation(d)}`).join(' UNION ALL ')})`;
      const dateSet = `(SELECT unnest([${dates.map(sqlString).join(', ')}]::VARCHAR[]))`;
      const [stats] = await this.#lake.query<{ outside: number; foreign: number; dup: number }>(
        `SELECT count(*) FILTER (WHERE symbol IS NULL OR symbol NOT IN ${keys}) AS outside,
                count(*) FILTER (WHERE date IS NULL OR CAST(date AS VARCHAR) NOT IN ${dateSet}) AS foreign,
                count(*) - count(DISTINCT (CAST(date AS VARCHAR), symbol, ts)) AS dup FROM ${all}`,
      );
      if (!stats) throw new StorageError('writeFeatures: count query returned nothing');
      if (stats.outside > 0) throw new InputError(`writeFeatures: ${stats.outside} row(s) for symbols outside the symbols being replaced`);
      if (stats.foreign > 0) throw new InputError(`writeFeatures: ${stats.foreign} row(s) for dates outside ${dates.join(', ')}`);
      if (stats.dup > 0) throw new InputError(`writeFeatures: ${stats.dup} duplicate (symbol, ts) row(s) for ${w.group} ${dates.join(', ')}`);
    }
    const select = featureFileSelect(w);
    const names = featureFileColumnNames(w).map(sqlIdent).join(', ');
    let written = 0;
    let revisions = 0;
    for (const date of dates) {
      const file = this.partitionFile(w.group, w.version, date);
      const old = `read_parquet(${sqlString(file)}, hive_partitioning = false)`;
      const [counts] = existsSync(file)
        ? await this.#lake.query<{ kept: number; replaced: number }>(
            `SELECT count(*) FILTER (WHERE symbol NOT IN ${keys}) AS kept, count(*) FILTER (WHERE symbol IN ${keys}) AS replaced FROM ${old}`,
          )
        : [];
      const kept = counts?.kept ?? 0;
      const fresh = `SELECT ${select} FROM ${relationFor(date)}`;
      if ((counts?.replaced ?? 0) > 0) revisions += await this.#countRevisions(file, fresh, keys, w.featureColumns);
      const sql =
        kept > 0
          ? `SELECT ${names} FROM (${fresh} UNION ALL BY NAME SELECT ${names} FROM ${old} WHERE symbol NOT IN ${keys}) ORDER BY symbol, ts`
          : options.ordered
            ? fresh
            : `SELECT ${names} FROM (${fresh}) ORDER BY symbol, ts`;
      written += (await this.#lake.writeParquetAtomic(file, sql, { rowGroupSize: FEATURE_ROW_GROUP_SIZE })) - kept;
      this.#onReplaced(file);
    }
    return { rows: written, revisions };
  }

  /**
   * Rows of `fresh` (normalised as they are written) whose (symbol, ts) the partition file holds,
   * among the symbols `keys` being replaced, with another feature value, `is_imputed` or
   * `available_ts`, bit for bit (IS DISTINCT FROM). A column an older file lacks counts as NULL.
   */
  async #countRevisions(file: string, fresh: string, keys: string, featureColumns: readonly string[]): Promise<number> {
    const stored = new Set(
      (await this.#lake.query<{ column_name: string }>(`SELECT column_name FROM (DESCRIBE SELECT * FROM read_parquet(${sqlString(file)}, hive_partitioning = false))`)).map((r) => r.column_name),
    );
    const old = (c: string): string => (stored.has(c) ? `o.${sqlIdent(c)}` : 'NULL');
    const differs = ['available_ts', 'is_imputed', ...featureColumns].map((c) => `n.${sqlIdent(c)} IS DISTINCT FROM ${old(c)}`).join(' OR ');
    const [row] = await this.#lake.query<{ n: number }>(
      `SELECT count(*) AS n FROM (${fresh}) n JOIN (SELECT * FROM read_parquet(${sqlString(file)}, hive_partitioning = false) WHERE symbol IN ${keys}) o
       ON n.symbol = o.symbol AND n.ts = o.ts WHERE ${differs}`,
    );
    return row?.n ?? 0;
  }

  #validate(w: FeaturePartitionsWrite): void {
    checkFeatureName('group', w.group);
    checkFeatureName('version', w.version);
    if (w.dates.length === 0) throw new InputError(`feature group ${w.group}: no dates to write`);
    for (const d of w.dates) checkFeatureName('date', d);
    for (const s of w.symbols) assertInstrumentKey(s);
    const reserved = new Set(FEATURE_KEY_COLUMNS.map((c) => c.name));
    const seen = new Set<string>();
    for (const m of w.maskColumns ?? []) {
      checkFeatureName('mask column', m);
      if (!m.endsWith('_imputed') || m === 'is_imputed') throw new InputError(`mask column ${m} must be named <column>_imputed`);
      if (seen.has(m)) throw new InputError(`duplicate column ${m}`);
      seen.add(m);
    }
    if (w.featureColumns.length === 0) throw new InputError(`feature group ${w.group}: no feature columns`);
    for (const f of w.featureColumns) {
      checkFeatureName('feature column', f);
      if (reserved.has(f) || f.endsWith('_imputed') || f === 'date') throw new InputError(`feature column ${f} is reserved by the feature store`);
      if (seen.has(f)) throw new InputError(`duplicate column ${f}`);
      seen.add(f);
    }
  }

  /** Existing partition files of a group version for the given dates, in date order. */
  existingFiles(group: string, version: string, dates: readonly string[]): { date: string; file: string }[] {
    return [...new Set(dates)]
      .sort()
      .map((date) => ({ date, file: this.partitionFile(group, version, date) }))
      .filter((p) => existsSync(p.file));
  }

  /**
   * SQL relation over the feature rows of the session dates [start, end] (existing partitions
   * only; optionally some symbols). The dataset builder joins on it without leaving DuckDB.
   */
  trainingRelationSql(group: string, version: string, start: string, end: string, symbols?: readonly string[]): string {
    const files = this.existingFiles(group, version, dateLabelsBetween(start, end)).map((p) => p.file);
    if (files.length === 0) {
      return `(SELECT ${[...FEATURE_KEY_COLUMNS, { name: 'date', type: 'VARCHAR' }].map((c) => `CAST(NULL AS ${c.type}) AS ${sqlIdent(c.name)}`).join(', ')} WHERE false)`;
    }
    const where = symbols ? `WHERE symbol IN (${symbols.length ? sqlKeyList(symbols) : 'NULL'})` : '';
    // The session date comes from the partition path (as curated's relation gives it); `v=` duplicates `version`.
    return `(SELECT * EXCLUDE (date, v), CAST(date AS VARCHAR) AS date FROM read_parquet([${files.map(sqlString).join(', ')}], hive_partitioning = true, union_by_name = true) ${where})`;
  }

  /** Rows of the session dates [start, end] (inclusive), sorted by (symbol, ts); instants as epoch ms. */
  async getFeaturesForTraining(group: string, version: string, start: string, end: string, symbols?: readonly string[]): Promise<LakeRow[]> {
    return this.#lake.query(`SELECT * FROM ${this.trainingRelationSql(group, version, start, end, symbols)} ORDER BY symbol, ts`);
  }
}
