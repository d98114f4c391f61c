import { setImmediate as nextMacrotask } from 'node:timers/promises';
import { parseDateLabel } from '../core/dates.js';
import { InputError, StorageError, UpstreamMissingError } from '../core/errors.js';
import { assertInstrumentKey } from '../core/instruments.js';
import { sqlIdent, sqlKeyList, sqlString } from '../core/sql.js';
import type { Logger } from '../ops/logging-setup.js';
import type { FeatureStore } from '../storage/feature-store.js';
import type { Lake } from '../storage/lake.js';
import { computeFeatureGroup, groupLookbackBars, type ComputableFeatureGroup, type FeatureSeries } from './features/compute-feature-group.js';
import { dayHistory, planFeatureBatches, type FeatureBatch } from './features/feature-batches.js';
import { specOutputColumns, type FeatureGroup } from './features/feature-config.js';
import { canonicalFeatureDefinition, featureDefinitionHash } from './features/feature-definition-hash.js';
import { DEFAULT_LOOKBACK_TOLERANCE, featureFunctionFor } from './features/feature-registry.js';
import { sourcePartitionDates, sourcePartitionFile, sourceRelationSql, type SourceDataset } from './source-dataset.js';

/** Default row budget of one read: ~1 M source rows, about 150 MB of typed arrays for the technical group. */
export const DEFAULT_FEATURE_BATCH_ROWS = 1_000_000;

/** Kernel rows computed between two yields to the event loop (a few ms of work). */
const ROWS_PER_YIELD = 20_000;

const DAY_MS = 86_400_000;

export interface FeaturePipelineDeps {
  readonly lake: Lake;
  readonly featureStore: FeatureStore;
  readonly logger: Logger;
  /** The dataset the group's `source` names (curated or aligned), resolved by the caller. */
  readonly source: SourceDataset;
  /**
   * Source rows one read may hold in memory, lookback included (default
   * {@link DEFAULT_FEATURE_BATCH_ROWS}; config `lake.feature_batch_rows`). Reads take every
   * symbol and as many sessions as fit; symbols are split only when one session of the whole
   * universe with its lookback does not fit.
   */
  readonly batchRows?: number;
  /** Checked between symbols: an abort stops the run before anything more is written. */
  readonly signal?: AbortSignal;
}

export interface FeaturePipelineResult {
  readonly group: string;
  readonly version: string;
  readonly definitionHash: string;
  /** Session dates written, ascending. */
  readonly dates: readonly string[];
  /** Requested dates without a source partition (nothing written for them). */
  readonly skippedDates: readonly string[];
  /** Earlier sessions read only to warm up the features. */
  readonly lookbackDates: readonly string[];
  /** Bars of history each symbol needs before the first date (see runFeaturePipeline). */
  readonly lookbackBars: number;
  readonly symbols: number;
  readonly rowsRead: number;
  readonly rowsWritten: number;
  /** DuckDB reads the run made (each reads every source file of its dates once). */
  readonly batches: number;
}

const OHLCV = ['open', 'high', 'low', 'close', 'volume'] as const;

/** Specs that share a lookback are computed together, on one series. */
interface LookbackClass {
  readonly lookback: number;
  readonly group: ComputableFeatureGroup;
  readonly columns: readonly string[];
}

/**
 * Computes a feature group over `symbols` for the session `dates` and writes one feature
 * partition per date (atomically; other symbols' rows of each date are kept).
 *
 * History — what every value is computed from: day D of symbol s is computed on the series that
 * starts `lookbackBars(spec)` stored bars (rows, NULL rows included) before s's first bar of D,
 * per feature spec, or at s's first stored bar if it has fewer, or right after the latest
 * earlier session in which s has no row. For windowed features (SMA, std, lags) that is the
 * window; for recursive ones (EMA, MACD, Wilder RSI and ATR) the warm-up plus the bars after
 * which the seed's weight (1 − α)^k is below 1e-12. The start depends only on D and the stored
 * bars, never on the run: a range computed in one pass equals its days computed one at a time
 * bit for bit, and a full-history computation to ~1e-12 relative. The group's lookback
 * (`groupLookbackBars`, the largest) decides which earlier sessions are read: whole sessions,
 * newest first, until every symbol has enough bars; a session in which none of the still-short
 * symbols has a row ends the search.
 *
 * Values at bar i depend only on bars up to i (the feature functions' contract). Each row is
 * stamped `ts` (bar start) and `available_ts` = the running maximum, per symbol in time order
 * from the start of the day's history, of the source's `available_ts` (`ts + bar length` when
 * the source has no such column), and carries the source's gap masks (`is_imputed`,
 * `imputation`, `<col>_imputed`).
 *
 * Data path (DESIGN §6): string and boolean columns never leave DuckDB. Each read takes the
 * numeric inputs of a batch (every symbol and as many sessions as fit `batchRows`, lookback
 * included; see planFeatureBatches) as Float64Arrays straight from DuckDB's vectors, kernels run
 * on subarray views, and only DOUBLE outputs go back, through the DataChunk appender; a join on
 * (symbol, ts) inside DuckDB puts them next to the keys when the partitions are written, once
 * per group of consecutive dates read together.
 *
 * The daemon runs this next to live ingestion: reads and appends yield between vectors, and
 * the computation yields every ~20,000 kernel rows (a few ms), so timers and sockets keep
 * running (bench/feature-pipeline-lag.ts measures the lag).
 */
export async function runFeaturePipeline(
  dates: readonly string[],
  symbols: readonly string[],
  group: FeatureGroup,
  version: string,
  deps: FeaturePipelineDeps,
): Promise<FeaturePipelineResult> {
  const { lake, featureStore, logger, source } = deps;
  const targets = [...new Set(dates)].sort();
  for (const d of targets) parseDateLabel(d);
  // Code-unit order, which is DuckDB's VARCHAR order for instrument keys (ASCII).
  const universe = [...new Set(symbols)].sort();
  for (const s of universe) assertInstrumentKey(s);
  if (targets.length === 0) throw new InputError(`feature group ${group.name}: no dates to compute`);
  if (universe.length === 0) throw new InputError(`feature group ${group.name}: no symbols`);

  const stored = sourcePartitionDates(lake, source);
  const storedSet = new Set(stored);
  const present = targets.filter((d) => storedSet.has(d));
  const skipped = targets.filter((d) => !storedSet.has(d));
  if (present.length === 0) {
    throw new UpstreamMissingError(`feature group ${group.name}: no ${source.kind} ${source.name} partition for ${targets.length === 1 ? targets[0] : `${targets[0]}..${targets[targets.length - 1]}`}`, {
      details: { group: group.name, source: source.name, dates: targets },
    });
  }
  if (skipped.length) logger.warn({ group: group.name, source: source.name, dates: skipped }, 'no source partition: dates skipped');

  const definitionHash = featureDefinitionHash(group);
  const registered = featureStore.registeredVersion(group.name, version);
  let featureColumns = group.features.flatMap(specOutputColumns);
  // Keep the column order the version was first written with (a definition read back from the
  // registry lists its features sorted by name).
  if (registered && registered.columns.length === featureColumns.length && registered.columns.every((c) => featureColumns.includes(c))) {
    featureColumns = [...registered.columns];
  }
  const firstFile = sourcePartitionFile(lake, source, present[0] as string);
  const sourceColumns = (await lake.query<{ column_name: string }>(`SELECT column_name FROM (DESCRIBE SELECT * FROM read_parquet(${sqlString(firstFile)}, hive_partitioning = false))`)).map(
    (r) => r.column_name,
  );
  const masks = sourceColumns.filter((c) => c.endsWith('_imputed') && c !== 'is_imputed');
  const inputs = [...new Set(group.features.flatMap((spec) => featureFunctionFor(spec).inputColumns(spec)))];
  for (const c of inputs) {
    if (!sourceColumns.includes(c)) throw new InputError(`feature group ${group.name}: source ${source.name} has no column ${c}`, { details: { group: group.name, column: c } });
  }
  // Fail on a changed definition before any work.
  featureStore.ensureRegistered({ group: group.name, version, definitionHash, definition: JSON.parse(canonicalFeatureDefinition(group)), featureColumns, maskColumns: masks });

  const lookbackBars = groupLookbackBars(group);
  const classes = lookbackClasses(group);
  const ctx: RunContext = {
    deps,
    group,
    version,
    definitionHash,
    featureColumns,
    masks,
    inputs,
    hasAvailable: sourceColumns.includes('available_ts'),
    hasImputation: sourceColumns.includes('imputation'),
    universe,
    universeTable: `ibp_universe_${++tempCounter}`,
    classes,
    lookbackBars,
    budget: Math.max(1, Math.trunc(deps.batchRows ?? DEFAULT_FEATURE_BATCH_ROWS)),
    rowsRead: 0,
    rowsWritten: 0,
    batches: 0,
  };
  // Symbol ids: the join key between the keys (in DuckDB) and the outputs (from JS).
  await lake.run(
    `CREATE TEMP TABLE ${ctx.universeTable} AS SELECT l[i] AS symbol, CAST(i - 1 AS DOUBLE) AS sid FROM (SELECT [${sqlKeyList(universe)}]::VARCHAR[] AS l), range(1, ${universe.length + 1}) t(i)`,
  );
  const lookbackAll = new Set<string>();
  try {
    // Consecutive stored sessions among the targets are one run: its later days find their
    // history in its earlier ones. Separate runs each read their own lookback.
    for (const run of consecutiveRuns(stored, new Set(present))) {
      const earlier = stored.filter((d) => d < (run[0] as string)).reverse();
      const lookbackDates = await chooseLookback(lake, source, earlier, universe, lookbackBars);
      for (const d of lookbackDates) lookbackAll.add(d);
      await computeRun(ctx, [...lookbackDates, ...run], lookbackDates.length);
    }
  } finally {
    await lake.dropTable(ctx.universeTable);
  }

  const result: FeaturePipelineResult = {
    group: group.name,
    version,
    definitionHash,
    dates: present,
    skippedDates: skipped,
    lookbackDates: [...lookbackAll].sort(),
    lookbackBars,
    symbols: universe.length,
    rowsRead: ctx.rowsRead,
    rowsWritten: ctx.rowsWritten,
    batches: ctx.batches,
  };
  logger.info(
    {
      group: group.name,
      version,
      dates: present,
      lookback_dates: result.lookbackDates,
      lookback_bars: lookbackBars,
      symbols: universe.length,
      rows_read: ctx.rowsRead,
      rows_written: ctx.rowsWritten,
      batches: ctx.batches,
    },
    'features written',
  );
  return result;
}

let tempCounter = 0;

interface RunContext {
  readonly deps: FeaturePipelineDeps;
  readonly group: FeatureGroup;
  readonly version: string;
  readonly definitionHash: string;
  readonly featureColumns: readonly string[];
  readonly masks: readonly string[];
  readonly inputs: readonly string[];
  readonly hasAvailable: boolean;
  readonly hasImputation: boolean;
  readonly universe: readonly string[];
  readonly universeTable: string;
  readonly classes: readonly LookbackClass[];
  readonly lookbackBars: number;
  readonly budget: number;
  rowsRead: number;
  rowsWritten: number;
  batches: number;
}

/** The group's specs grouped by their own lookback (each computed on the history it needs). */
function lookbackClasses(group: FeatureGroup): LookbackClass[] {
  const byLookback = new Map<number, FeatureGroup['features'][number][]>();
  for (const spec of group.features) {
    const lb = featureFunctionFor(spec).lookbackBars(spec, DEFAULT_LOOKBACK_TOLERANCE);
    byLookback.set(lb, [...(byLookback.get(lb) ?? []), spec]);
  }
  return [...byLookback.entries()]
    .sort((a, b) => a[0] - b[0])
    .map(([lookback, features]) => ({ lookback, group: { name: group.name, features }, columns: features.flatMap(specOutputColumns) }));
}

/** Runs of targets that are consecutive in the stored sessions. */
function consecutiveRuns(stored: readonly string[], targets: ReadonlySet<string>): string[][] {
  const runs: string[][] = [];
  let current: string[] = [];
  for (const d of stored) {
    if (targets.has(d)) current.push(d);
    else if (current.length) {
      runs.push(current);
      current = [];
    }
  }
  if (current.length) runs.push(current);
  return runs;
}

/** Computes and writes the targets readDates[firstTarget..] (readDates: consecutive stored sessions). */
async function computeRun(ctx: RunContext, readDates: readonly string[], firstTarget: number): Promise<void> {
  const { lake, source } = ctx.deps;
  const S = ctx.universe.length;
  const M = readDates.length;
  const dayIndex = new Map(readDates.map((d, j) => [parseDateLabel(d) / DAY_MS, j]));
  // Rows per (symbol, date): the plan's input (a scan of the symbol column only).
  const rel = sourceRelationSql(lake, source, readDates, ctx.universe) as string;
  const counts = await lake.readDoubles(
    `SELECT u.sid, CAST(CAST(c.date AS DATE) - DATE '1970-01-01' AS DOUBLE) AS day, CAST(c.n AS DOUBLE) AS n
     FROM (SELECT symbol, date, count(*) AS n FROM ${rel} GROUP BY ALL) c JOIN ${ctx.universeTable} u USING (symbol)`,
  );
  const grid = new Float64Array(S * M);
  const cSid = counts.get('sid');
  const cDay = counts.get('day');
  const cN = counts.get('n');
  for (let i = 0; i < counts.rows; i++) {
    const j = dayIndex.get(cDay[i] as number);
    if (j !== undefined) grid[(cSid[i] as number) * M + j] = cN[i] as number;
  }
  const plan = planFeatureBatches({ symbols: S, dates: M, firstTarget, rows: (s, j) => grid[s * M + j] as number, lookback: ctx.lookbackBars, budgetRows: ctx.budget });
  for (const segment of plan) {
    const outTable = await lake.createDoubleTable(['__sid', '__ts', '__available', ...ctx.featureColumns]);
    try {
      let appended = 0;
      for (const batch of segment.batches) appended += await computeBatch(ctx, readDates, dayIndex, batch, outTable);
      const segDates = readDates.slice(segment.targetStart, segment.targetEnd + 1);
      ctx.rowsWritten += await writeSegment(ctx, segDates, outTable, appended);
    } finally {
      await lake.dropTable(outTable);
    }
  }
}

/** Reads one batch's numeric inputs, computes its target days and appends the outputs to outTable. */
async function computeBatch(ctx: RunContext, readDates: readonly string[], dayIndex: ReadonlyMap<number, number>, batch: FeatureBatch, outTable: string): Promise<number> {
  const { lake, source, signal } = ctx.deps;
  signal?.throwIfAborted();
  const files = readDates.slice(batch.dateStart, batch.targetEnd + 1).map((d) => sourcePartitionFile(lake, source, d));
  const select = [
    'u.sid AS sid',
    'CAST(epoch_ms(s.ts) AS DOUBLE) AS ts',
    `CAST(CAST(CAST(s.date AS VARCHAR) AS DATE) - DATE '1970-01-01' AS DOUBLE) AS day`,
    ctx.hasAvailable ? 'CAST(epoch_ms(s.available_ts) AS DOUBLE) AS available' : 'CAST(NULL AS DOUBLE) AS available',
    ...ctx.inputs.map((c, i) => `CAST(s.${sqlIdent(c)} AS DOUBLE) AS ${sqlIdent(`in${i}`)}`),
  ].join(', ');
  const data = await lake.readDoubles(
    `SELECT ${select} FROM read_parquet([${files.map(sqlString).join(', ')}], hive_partitioning = true, union_by_name = true) s
     JOIN ${ctx.universeTable} u ON u.symbol = s.symbol
     WHERE u.sid >= ${batch.symbolStart} AND u.sid < ${batch.symbolEnd} ORDER BY u.sid, s.ts`,
    batch.rows,
  );
  ctx.batches++;
  ctx.rowsRead += data.rows;
  const n = data.rows;
  const sid = data.get('sid');
  const ts = data.get('ts');
  const day = data.get('day');
  const available = data.get('available');
  const barMs = source.barMs;
  for (let i = 0; i < n; i++) if ((available[i] as number) !== (available[i] as number)) available[i] = (ts[i] as number) + barMs;
  const columns = new Map(ctx.inputs.map((c, i) => [c, data.get(`in${i}`)]));
  const nanFill = new Float64Array(n).fill(NaN);
  const col = (name: string, start: number, end: number): Float64Array => (columns.get(name) ?? nanFill).subarray(start, end);

  // Output rows: every row of a target date, in read order.
  const isTarget = (dayValue: number): boolean => {
    const j = dayIndex.get(dayValue);
    return j !== undefined && j >= batch.targetStart && j <= batch.targetEnd;
  };
  let outRows = 0;
  for (let i = 0; i < n; i++) if (isTarget(day[i] as number)) outRows++;
  const outSid = new Float64Array(outRows);
  const outTs = new Float64Array(outRows);
  const outAvailable = new Float64Array(outRows);
  const outFeatures = new Map(ctx.featureColumns.map((c) => [c, new Float64Array(outRows)]));

  let o = 0;
  let sinceYield = 0;
  for (let start = 0; start < n; ) {
    let end = start + 1;
    while (end < n && sid[end] === sid[start]) end++;
    // This symbol's sessions: [first row, end row) per date index.
    const sessions: { j: number; start: number; end: number }[] = [];
    for (let i = start; i < end; ) {
      let k = i + 1;
      while (k < end && day[k] === day[i]) k++;
      const j = dayIndex.get(day[i] as number);
      if (j === undefined) throw new StorageError(`feature source ${source.name}: a row's session date is not among the dates read`);
      sessions.push({ j, start: i, end: k });
      i = k;
    }
    const rowsOn = new Map(sessions.map((x) => [x.j, x.end - x.start]));
    for (const sess of sessions) {
      if (sess.j < batch.targetStart || sess.j > batch.targetEnd) continue;
      signal?.throwIfAborted();
      const history = dayHistory(sess.j, ctx.lookbackBars, (j) => rowsOn.get(j) ?? 0, batch.dateStart);
      const len = sess.end - sess.start;
      // available_ts: running maximum over the day's history and the day.
      let max = -Infinity;
      for (let i = sess.start - history.rows; i < sess.start; i++) max = Math.max(max, available[i] as number);
      for (let i = sess.start; i < sess.end; i++) {
        max = Math.max(max, available[i] as number);
        outAvailable[o + (i - sess.start)] = max;
        outSid[o + (i - sess.start)] = sid[i] as number;
        outTs[o + (i - sess.start)] = ts[i] as number;
      }
      for (const cls of ctx.classes) {
        const from = sess.start - Math.min(cls.lookback, history.rows);
        const series: FeatureSeries = {
          ts: ts.subarray(from, sess.end),
          open: col('open', from, sess.end),
          high: col('high', from, sess.end),
          low: col('low', from, sess.end),
          close: col('close', from, sess.end),
          volume: col('volume', from, sess.end),
          sessionDate: day.subarray(from, sess.end),
          columns: Object.fromEntries(ctx.inputs.filter((c) => !(OHLCV as readonly string[]).includes(c)).map((c) => [c, col(c, from, sess.end)])),
        };
        const computed = computeFeatureGroup(series, cls.group).columns;
        for (const name of cls.columns) (outFeatures.get(name) as Float64Array).set((computed[name] as Float64Array).subarray(sess.start - from), o);
        sinceYield += sess.end - from;
      }
      o += len;
      if (sinceYield >= ROWS_PER_YIELD) {
        sinceYield = 0;
        // Let timers, sockets and the live ingestion run.
        await nextMacrotask();
      }
    }
    start = end;
  }
  if (o !== outRows) throw new StorageError(`feature batch: computed ${o} rows, expected ${outRows} (internal error)`);
  return lake.appendDoubles(outTable, [outSid, outTs, outAvailable, ...ctx.featureColumns.map((c) => outFeatures.get(c) as Float64Array)]);
}

/** Joins the outputs back to the source's keys inside DuckDB and writes the segment's partitions. */
async function writeSegment(ctx: RunContext, dates: readonly string[], outTable: string, expectedRows: number): Promise<number> {
  const { lake, source, featureStore } = ctx.deps;
  const files = dates.map((d) => sourcePartitionFile(lake, source, d));
  const relation = `(SELECT CAST(k.date AS VARCHAR) AS date, k.symbol, k.ts,
      CAST(epoch_ms(CAST(o.__available AS BIGINT)) AS TIMESTAMPTZ) AS available_ts,
      CAST(k.is_imputed AS BOOLEAN) AS is_imputed,
      ${ctx.hasImputation ? 'CAST(k.imputation AS VARCHAR)' : 'CAST(NULL AS VARCHAR)'} AS imputation,
      ${[...ctx.masks.map((m) => `CAST(k.${sqlIdent(m)} AS BOOLEAN) AS ${sqlIdent(m)}`), ...ctx.featureColumns.map((f) => `o.${sqlIdent(f)}`)].join(', ')}
    FROM read_parquet([${files.map(sqlString).join(', ')}], hive_partitioning = true, union_by_name = true) k
    JOIN ${ctx.universeTable} u ON u.symbol = k.symbol
    JOIN ${outTable} o ON o.__sid = u.sid AND o.__ts = CAST(epoch_ms(k.ts) AS DOUBLE))`;
  return featureStore.writeFeaturesFromRelation(
    {
      group: ctx.group.name,
      version: ctx.version,
      definitionHash: ctx.definitionHash,
      dates,
      symbols: ctx.universe,
      featureColumns: ctx.featureColumns,
      maskColumns: ctx.masks,
      expectedRows,
    },
    relation,
  );
}

/**
 * Earlier sessions (candidates newest first) to read so each symbol has `bars` rows before the
 * first computed date: stops once every symbol has them or history runs out.
 */
async function chooseLookback(lake: Lake, source: SourceDataset, candidates: readonly string[], symbols: readonly string[], bars: number): Promise<string[]> {
  if (bars <= 0) return [];
  const have = new Map<string, number>(symbols.map((s) => [s, 0]));
  const chosen: string[] = [];
  for (const date of candidates) {
    const needy = [...have].filter(([, n]) => n < bars).map(([s]) => s);
    if (needy.length === 0) break;
    const rel = sourceRelationSql(lake, source, [date], needy);
    if (rel === null) continue;
    const counts = await lake.query<{ symbol: string; n: number }>(`SELECT symbol, count(*) AS n FROM ${rel} GROUP BY symbol`);
    // A session where none of the short symbols has a row is where their stored history begins
    // (the gap engine writes a full grid, NULL rows included, for every symbol it knows).
    if (counts.length === 0) break;
    chosen.push(date);
    for (const c of counts) have.set(c.symbol, (have.get(c.symbol) ?? 0) + c.n);
  }
  return chosen.sort();
}
