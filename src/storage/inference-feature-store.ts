import { existsSync, statSync } from 'node:fs';
import type { InstrumentCalendars } from '../calendar/instrument-calendars.js';
import { POINT_IN_TIME, asOfIndex, asOfPointSql, asOfPolicy, withinTolerance } from '../core/as-of-policy.js';
import { InputError, StorageError, UpstreamMissingError } from '../core/errors.js';
import { assertInstrumentKey } from '../core/instruments.js';
import { sqlIdent, sqlKeySet, sqlString } from '../core/sql.js';
import type { FeatureRegistryStore } from './feature-registry-store.js';
import { checkFeatureName, parseFeatureKey } from './tables/features.js';
import type { Lake, LakeRow } from './lake.js';
import type { OfflineFeatureStore } from './offline-feature-store.js';

export type InferenceStatus = 'ok' | 'stale' | 'missing';

/** One symbol's answer to "what were the features at as_of". */
export interface InferenceFeatureRow {
  readonly symbol: string;
  /** `ok`: a row within the TTL; `stale`: the latest row is older than the TTL (values NULL); `missing`: none. */
  readonly status: InferenceStatus;
  readonly as_of: number;
  /** Bar start of the row used (epoch ms), null when missing. */
  readonly ts: number | null;
  /** When that row became available (ts + bar length). */
  readonly available_ts: number | null;
  /** as_of − available_ts in ms. */
  readonly age_ms: number | null;
  readonly is_imputed: boolean | null;
  /** Feature values; all NULL unless status is ok. */
  readonly features: Readonly<Record<string, number | null>>;
}

const SUMMARY_CACHE_FILES = 32;
/** Partitions held as typed arrays (about 25 MB each for 500 symbols x 390 bars x 14 features). */
const COLUMN_CACHE_FILES = 4;


/**
 * Inference reads of the feature store: per symbol, the latest row available at an instant
 * (`available_ts <= as_of`, never `ts`), answered from per-file summaries of earlier sessions
 * and, for the current session, from an in-memory typed-array copy of the partition. The caches
 * are keyed by file and validated by inode, size and mtime, so one instance can serve every
 * scoring run of the process; the offline store calls {@link forgetPartition} when it replaces
 * a file.
 */
export class InferenceFeatureStore {
  readonly #lake: Lake;
  readonly #calendars: InstrumentCalendars;
  readonly #registry: FeatureRegistryStore;
  readonly #partitions: Pick<OfflineFeatureStore, 'partitionFile' | 'existingFiles'>;
  /** Last row per symbol of fully-available partitions, keyed by file; validated by inode, size and mtime. */
  readonly #summaries = new Map<string, { version: string; bySymbol: ReadonlyMap<string, Candidate> }>();
  /** The partitions of the current sessions as typed arrays, same keys and validation. */
  readonly #columnCache = new Map<string, ColumnCacheEntry>();
  readonly #cacheColumns: boolean;

  /**
   * `partitions` says where the files are. `cacheColumns: false` answers every lookup of the
   * current session straight from the Parquet file (DuckDB, row groups pruned by symbol)
   * instead of from an in-memory copy.
   */
  constructor(
    lake: Lake,
    calendars: InstrumentCalendars,
    registry: FeatureRegistryStore,
    partitions: Pick<OfflineFeatureStore, 'partitionFile' | 'existingFiles'>,
    options: { cacheColumns?: boolean } = {},
  ) {
    this.#cacheColumns = options.cacheColumns ?? true;
    this.#lake = lake;
    this.#calendars = calendars;
    this.#registry = registry;
    this.#partitions = partitions;
  }

  /** Drops what the caches hold of a partition file (called when the file is replaced). */
  forgetPartition(file: string): void {
    for (const cache of [this.#summaries, this.#columnCache]) for (const k of [...cache.keys()]) if (k.startsWith(`${file}|`)) cache.delete(k);
  }

  /**
   * Per symbol, the start of its newest row in the date's partition (symbols without rows are
   * absent): how far the features of a session have been computed, e.g. intraday. From the
   * in-memory copy when the partition is cached (see preloadPartition), else from the file.
   */
  async newestRowStarts(group: string, version: string, date: string, symbols: readonly string[]): Promise<Map<string, number>> {
    for (const s of symbols) assertInstrumentKey(s);
    const file = this.#partitions.partitionFile(group, version, date);
    if (!existsSync(file) || symbols.length === 0) return new Map();
    const record = this.#registry.registeredVersion(group, version);
    const cached = record && this.#cacheColumns ? this.#cachedColumns(file, record.columns) : undefined;
    if (cached) {
      const newest = new Map<string, number>();
      for (const s of symbols) {
        const range = cached.ranges.get(s);
        // Each symbol's rows are one run sorted by ts: its last row is its newest.
        if (range && range.end > range.start) newest.set(s, cached.ts[range.end - 1] as number);
      }
      return newest;
    }
    const rows = await this.#lake.query<{ symbol: string; ts: number }>(
      `SELECT symbol, max(ts) AS ts FROM read_parquet(${sqlString(file)}, hive_partitioning = false) WHERE symbol IN ${sqlKeySet(symbols)} GROUP BY symbol`,
    );
    return new Map(rows.map((r) => [r.symbol, r.ts]));
  }

  /**
   * Per symbol, the latest row with `available_ts <= asOf` (never `ts <= asOf`), its age and a
   * status: `ok` when age <= ttlMs, `stale` beyond it (values NULL, the row's times still
   * reported), `missing` when no row is found in the partitions searched: the session date of
   * asOf for each symbol's calendar, the session before it, and further sessions back while
   * they could hold a row within the TTL. Results come back in the order of `symbols`.
   */
  async getFeaturesForInference(group: string, version: string, asOf: number, symbols: readonly string[], ttlMs: number): Promise<InferenceFeatureRow[]> {
    checkFeatureName('group', group);
    checkFeatureName('version', version);
    for (const s of symbols) assertInstrumentKey(s);
    if (!Number.isFinite(asOf)) throw new InputError('as-of must be an epoch-ms instant');
    if (!(ttlMs >= 0)) throw new InputError('ttl must be a non-negative number of ms');
    const record = this.#registry.registeredVersion(group, version);
    if (!record) throw new UpstreamMissingError(`feature group ${group} version ${version} has never been written`, { details: { group, version } });
    // Matching ignores the TTL (a row beyond it is reported stale, not missing); the TTL is
    // the policy's tolerance when the status is decided.
    const policy = asOfPolicy({ direction: POINT_IN_TIME.direction, allowExactMatches: POINT_IN_TIME.allowExactMatches, toleranceMs: ttlMs });

    const { live, earlier } = this.#searchDates(symbols, asOf, ttlMs);
    const best = new Map<string, Candidate>();
    const consider = (symbol: string, c: Candidate): void => {
      const prev = best.get(symbol);
      if (!prev || prev.available < c.available) best.set(symbol, c);
    };
    for (const { date, file } of this.#partitions.existingFiles(group, version, [...live, ...earlier])) {
      if (live.has(date)) {
        // The session of asOf: only part of it may be available, so search each symbol's rows,
        // in memory once the partition is cached, else in the file (while it is being cached).
        const part = this.#cacheColumns ? this.#columnsIfReady(file, record.columns) : undefined;
        if (part) {
          for (const s of symbols) {
            const c = part.lookup(s, asOf);
            if (c) consider(s, c);
          }
        } else {
          for (const c of await this.#pointRows(file, symbols, asOf, record.columns)) consider(c.symbol, c);
        }
      } else {
        // An earlier session: fully available at asOf, so its last row per symbol is the answer.
        const summary = await this.#summary(file, record.columns);
        for (const s of symbols) {
          const c = summary.get(s);
          if (c && c.available <= asOf) consider(s, c);
          else if (c) for (const r of await this.#pointRows(file, [s], asOf, record.columns)) consider(s, r);
        }
      }
    }

    return symbols.map((symbol): InferenceFeatureRow => {
      const c = best.get(symbol);
      const features: Record<string, number | null> = {};
      if (!c) {
        for (const col of record.columns) features[col] = null;
        return { symbol, status: 'missing', as_of: asOf, ts: null, available_ts: null, age_ms: null, is_imputed: null, features };
      }
      const age = asOf - c.available;
      const ok = withinTolerance(policy, age);
      for (const col of record.columns) features[col] = ok ? c.value(col) : null;
      return { symbol, status: ok ? 'ok' : 'stale', as_of: asOf, ts: c.ts, available_ts: c.available, age_ms: age, is_imputed: c.isImputed, features };
    });
  }

  /**
   * Partition dates that can hold a symbol's latest row at asOf: per calendar, the session date
   * of asOf (`live`, possibly partly available), the session before it, and further sessions
   * back while they could still hold a row within the TTL (`earlier`, fully available).
   */
  #searchDates(symbols: readonly string[], asOf: number, ttlMs: number): { live: Set<string>; earlier: Set<string> } {
    const live = new Set<string>();
    const earlier = new Set<string>();
    for (const cal of new Set(symbols.map((s) => this.#calendars.calendarFor(s)))) {
      const d0 = cal.sessionDateOf(asOf);
      live.add(d0);
      let prev = cal.previousSession(d0);
      earlier.add(prev.date);
      for (let i = 0; i < 366 && prev.close > asOf - ttlMs; i++) {
        prev = cal.previousSession(prev.date);
        earlier.add(prev.date);
      }
    }
    for (const d of live) earlier.delete(d);
    return { live, earlier };
  }

  /** The rows asOf matches per symbol in one file, straight from DuckDB (the uncached path). */
  async #pointRows(file: string, symbols: readonly string[], asOf: number, columns: readonly string[]): Promise<Candidate[]> {
    const rel = `(SELECT * FROM read_parquet(${sqlString(file)}, hive_partitioning = false) WHERE symbol IN ${sqlKeySet(symbols)})`;
    const rows = await this.#lake.query(
      `SELECT * FROM ${asOfPointSql({ relation: rel, time: 'epoch_ms(available_ts)', keys: ['symbol'], t: asOf, policy: POINT_IN_TIME })}`,
    );
    return rows.map((r) => rowCandidate(r, columns, file));
  }

  /** Last row per symbol of a partition file, cached per file version. */
  async #summary(file: string, columns: readonly string[]): Promise<ReadonlyMap<string, Candidate>> {
    const version = fileVersion(file);
    const key = cacheKey(file, columns);
    const cached = currentEntry(this.#summaries, key, version);
    if (cached) return cached.bySymbol;
    const rows = await this.#lake.query(
      `SELECT * FROM ${asOfPointSql({ relation: `read_parquet(${sqlString(file)}, hive_partitioning = false)`, time: 'epoch_ms(available_ts)', keys: ['symbol'], t: Number.MAX_SAFE_INTEGER, policy: POINT_IN_TIME })}`,
    );
    const bySymbol = new Map<string, Candidate>();
    for (const r of rows) {
      const c = rowCandidate(r, columns, file);
      bySymbol.set(c.symbol, c);
    }
    this.#summaries.set(key, { version, bySymbol });
    evict(this.#summaries, SUMMARY_CACHE_FILES);
    return bySymbol;
  }

  /**
   * Loads a partition into the in-memory cache now (e.g. right after a features run, so the
   * next lookups do not pay for it). Resolves when it is cached.
   */
  async preloadPartition(group: string, version: string, date: string): Promise<void> {
    const record = this.#registry.registeredVersion(group, version);
    const file = this.#partitions.partitionFile(group, version, date);
    if (!record || !existsSync(file)) return;
    this.#columnsIfReady(file, record.columns);
    await this.#columnCache.get(cacheKey(file, record.columns))?.pending;
  }

  /** The cached copy of a partition if it is loaded and current; never starts a load. */
  #cachedColumns(file: string, columns: readonly string[]): PartitionColumns | undefined {
    const cached = this.#columnCache.get(cacheKey(file, columns));
    return cached && cached.version === fileVersionOrNull(file) ? (cached.ready ?? undefined) : undefined;
  }

  /**
   * A partition held in memory as typed arrays (one per column) plus each symbol's row range,
   * cached per file version: an inference lookup is then a binary search per symbol. Returns
   * the cached copy if it is loaded and current; otherwise starts loading it in the background
   * (streamed vector by vector, so no copy holds the event loop for long) and returns
   * undefined. A copy whose file changed while it loaded is thrown away.
   */
  #columnsIfReady(file: string, columns: readonly string[]): PartitionColumns | undefined {
    const version = fileVersion(file);
    const key = cacheKey(file, columns);
    const cached = currentEntry(this.#columnCache, key, version);
    if (cached) return cached.ready ?? undefined;
    const entry: ColumnCacheEntry = { version, ready: null, pending: null };
    const current = (): boolean => this.#columnCache.get(key) === entry;
    entry.pending = this.#loadColumns(file, columns).then(
      (part) => {
        if (!current()) return;
        if (fileVersionOrNull(file) === version) entry.ready = part;
        else this.#columnCache.delete(key);
      },
      () => {
        if (current()) this.#columnCache.delete(key);
      },
    );
    this.#columnCache.set(key, entry);
    evict(this.#columnCache, COLUMN_CACHE_FILES);
    return undefined;
  }

  /**
   * Reads a partition into typed arrays (one DuckDB read, straight from its DOUBLE vectors) plus
   * each symbol's row range. The file is sorted by (symbol, ts), so each symbol is one run.
   */
  async #loadColumns(file: string, columns: readonly string[]): Promise<PartitionColumns> {
    const src = `read_parquet(${sqlString(file)}, file_row_number = true, hive_partitioning = false)`;
    const ranges = new Map<string, { start: number; end: number }>();
    const groups = await this.#lake.query<{ symbol: string; first: number; last: number; n: number }>(
      `SELECT symbol, min(file_row_number) AS first, max(file_row_number) AS last, count(*) AS n FROM ${src} GROUP BY symbol`,
    );
    let rows = 0;
    for (const g of groups) {
      if (g.last - g.first + 1 !== g.n) throw new StorageError(`feature file ${file} is not sorted by symbol`);
      ranges.set(g.symbol, { start: g.first, end: g.last + 1 });
      rows += g.n;
    }
    const names = new Set((await this.#lake.query<{ column_name: string }>(`SELECT column_name FROM (DESCRIBE SELECT * FROM read_parquet(${sqlString(file)}, hive_partitioning = false))`)).map((r) => r.column_name));
    const present = columns.filter((c) => names.has(c));
    const select = [
      'CAST(file_row_number AS DOUBLE) AS __row',
      'CAST(epoch_ms(ts) AS DOUBLE) AS __ts',
      'CAST(epoch_ms(available_ts) AS DOUBLE) AS __available',
      'CAST(is_imputed AS DOUBLE) AS __imputed',
      ...present.map((c, i) => `CAST(${sqlIdent(c)} AS DOUBLE) AS ${sqlIdent(`__f${i}`)}`),
    ].join(', ');
    // A plain scan keeps the file's order; checked, and sorted by DuckDB only if it did not.
    let data = await this.#lake.readDoubles(`SELECT ${select} FROM ${src}`, rows);
    const row = data.get('__row');
    let inOrder = data.rows === rows;
    for (let i = 0; inOrder && i < row.length; i++) if (row[i] !== i) inOrder = false;
    if (!inOrder) data = await this.#lake.readDoubles(`SELECT ${select} FROM ${src} ORDER BY file_row_number`, rows);
    const values = new Map(present.map((c, i) => [c, data.get(`__f${i}`)]));
    return new PartitionColumns(ranges, data.get('__ts'), data.get('__available'), data.get('__imputed'), values);
  }
}

interface ColumnCacheEntry {
  readonly version: string;
  ready: PartitionColumns | null;
  pending: Promise<void> | null;
}

/** A matched feature row, whatever it was read from. */
interface Candidate {
  readonly symbol: string;
  readonly ts: number;
  readonly available: number;
  readonly isImputed: boolean | null;
  value(column: string): number | null;
}

function rowCandidate(r: LakeRow, columns: readonly string[], file: string): Candidate {
  const key = parseFeatureKey(r, file);
  const vals = new Map<string, number | null>();
  for (const c of columns) {
    const v = r[c];
    vals.set(c, typeof v === 'number' && Number.isFinite(v) ? v : null);
  }
  return { symbol: key.symbol, ts: key.ts, available: key.available_ts, isImputed: key.is_imputed, value: (c) => vals.get(c) ?? null };
}

/** One partition in typed arrays; NaN marks NULL. */
class PartitionColumns {
  constructor(
    readonly ranges: ReadonlyMap<string, { start: number; end: number }>,
    readonly ts: Float64Array,
    readonly available: Float64Array,
    readonly imputed: Float64Array,
    readonly values: ReadonlyMap<string, Float64Array>,
  ) {}

  /** The row of `symbol` that the point-in-time policy matches at asOf, if any. */
  lookup(symbol: string, asOf: number): Candidate | undefined {
    const range = this.ranges.get(symbol);
    if (!range) return undefined;
    const k = asOfIndex(this.available.subarray(range.start, range.end), asOf, POINT_IN_TIME);
    if (k < 0) return undefined;
    const i = range.start + k;
    const imp = this.imputed[i] as number;
    const values = this.values;
    return {
      symbol,
      ts: this.ts[i] as number,
      available: this.available[i] as number,
      isImputed: imp === imp ? imp !== 0 : null,
      value(c) {
        const v = values.get(c)?.[i];
        return v === undefined || v !== v ? null : v;
      },
    };
  }
}

function fileVersion(file: string): string {
  const st = statSync(file);
  return `${st.ino}:${st.size}:${st.mtimeMs}`;
}

function fileVersionOrNull(file: string): string | null {
  try {
    return fileVersion(file);
  } catch {
    return null;
  }
}

/** The caches' key: a partition file read for a list of columns. */
function cacheKey(file: string, columns: readonly string[]): string {
  return `${file}|${columns.join(',')}`;
}

/** The entry under `key` if it was made from this version of its file, moved to most recently used. */
function currentEntry<V extends { readonly version: string }>(map: Map<string, V>, key: string, version: string): V | undefined {
  const cached = map.get(key);
  if (cached === undefined || cached.version !== version) return undefined;
  map.delete(key);
  map.set(key, cached);
  return cached;
}

function evict<K, V>(map: Map<K, V>, max: number): void {
  while (map.size > max) map.delete(map.keys().next().value as K);
}
