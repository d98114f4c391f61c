import { parseDateLabel } from '../core/dates.js';
import { InputError, StorageError, UpstreamMissingError } from '../core/errors.js';
import { assertInstrumentKey } from '../core/instruments.js';
import { sqlIdent, sqlKeyList, sqlString } from '../core/sql.js';
import type { Logger } from '../core/logger.js';
import type { FeatureStore, FeatureWriteResult } from '../storage/feature-store.js';
import { featureRowSelect, type FeatureTableSchema } from '../storage/tables/features.js';
import type { Lake } from '../storage/lake.js';
import { groupLookbackBars } from './features/compute-feature-group.js';
import { BATCH_KEY_OUTPUTS, type FeatureBatchInput } from './features/compute-feature-batch.js';
import { FeatureBatchRunner, type FeatureComputeMode } from './features/feature-batch-runner.js';
import { planFeatureBatches, type FeatureBatch } from './features/feature-batches.js';
import { specOutputColumns, type FeatureGroup } from './features/feature-config.js';
import { canonicalFeatureDefinition, featureDefinitionHash } from './features/feature-definition-hash.js';
import { featureFunctionFor } from './features/feature-registry.js';
import { featureModuleHashes, loadCustomFeatures } from './features/custom-feature.js';
import { compileExpression, expressionInputName } from './features/expression-feature.js';
import { sourcePartitionDates, sourcePartitionFile, sourceRelationSql, type SourceDataset } from './source-dataset.js';

/** Default row budget of one read: ~1 M source rows, about 150 MB of typed arrays for the technical group. */
export const DEFAULT_FEATURE_BATCH_ROWS = 1_000_000;

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
  /** Where batches are computed (default `auto`: on a worker thread from WORKER_MIN_ROWS rows). */
  readonly compute?: FeatureComputeMode;
  /** Checked between batches: an abort stops the run before anything more is written. */
  readonly signal?: AbortSignal;
  /** Where the group is in the config (e.g. `feature_groups[1]`), for errors about its specs. */
  readonly configPath?: string;
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
  /** Written rows that revised an already-published row (FeatureWriteResult.revisions), all dates. */
  readonly revisions: number;
  /** DuckDB reads the run made (each reads every source file of its dates once). */
  readonly batches: number;
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
 * the source has no such column; C3), since a value imputed from later bars (`linear`) is known
 * only when they are; rows carry the source's gap masks (`is_imputed`, `imputation`,
 * `<col>_imputed`).
 *
 * Data path (DESIGN §6): string and boolean columns never leave DuckDB. Each read takes the
 * numeric inputs of a batch (every symbol and as many sessions as fit `batchRows`, lookback
 * included; see planFeatureBatches) as Float64Arrays straight from DuckDB's vectors (no ORDER BY:
 * runs are put in order in JS), kernels run on subarray views (computeFeatureBatch), and only
 * DOUBLE outputs go back: DuckDB scans them from the typed arrays (Lake.withDoubles) and pairs
 * them by position with the source's keys, both being sorted by (symbol, ts), so each date is
 * written by one ordered COPY without a join or a sort. A batch after the first of its symbols
 * reads only the dates it computes: its lookback rows are carried over from the previous batch
 * (already in memory), so each source file is read once per run — except with expression
 * features, which DuckDB computes over the read's rows, lookback included.
 *
 * The daemon runs this next to live ingestion. Batches of WORKER_MIN_ROWS rows or more are
 * computed on a worker thread, pipelined with the next read and the previous segment's write,
 * so the event loop only serves DuckDB (reads and scans that yield between 2,048-row vectors);
 * smaller ones are computed inline, yielding every ~20,000 kernel rows (a few ms). `npm run
 * bench -- --only features` reports the event-loop lag of the end-to-end runs.
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

  // Module contents, read once: the definition hash names them and every batch checks its import against them.
  const modules = featureModuleHashes(group.features);
  const definitionHash = featureDefinitionHash(group, modules);
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
  // Expression features: checked against the parser and the source's columns, then read as
  // DuckDB-computed input columns.
  const expressions = new Map<string, string>();
  const probe = `(SELECT * FROM read_parquet(${sqlString(firstFile)}, hive_partitioning = false) LIMIT 0)`;
  const configPath = deps.configPath ?? `feature group ${group.name}`;
  for (const [i, spec] of group.features.entries()) {
    if (spec.fn === 'expression') expressions.set(expressionInputName(spec), await compileExpression(lake, spec, sourceColumns, `${configPath}.features[${i}].expr`, probe));
  }
  // Custom modules load (and fail: missing export, not a function) before anything is registered.
  await loadCustomFeatures(group.features, modules);
  for (const c of inputs) {
    if (expressions.has(c)) continue;
    if (!sourceColumns.includes(c)) throw new InputError(`feature group ${group.name}: source ${source.name} has no column ${c}`, { details: { group: group.name, column: c } });
  }
  // Fail on a changed definition before any work.
  const table: FeatureTableSchema = { group: group.name, version, definitionHash, featureColumns, maskColumns: masks };
  featureStore.ensureRegistered({ ...table, definition: JSON.parse(canonicalFeatureDefinition(group, modules)) });

  const lookbackBars = groupLookbackBars(group);
  const ctx: RunContext = {
    deps,
    group,
    table,
    inputs,
    expressions,
    modules,
    hasImputation: sourceColumns.includes('imputation'),
    universe,
    universeTable: `ibp_universe_${++tempCounter}`,
    symbolKeys: [],
    lookbackBars,
    budget: Math.max(1, Math.trunc(deps.batchRows ?? DEFAULT_FEATURE_BATCH_ROWS)),
    rowsRead: 0,
    rowsWritten: 0,
    revisions: 0,
    batches: 0,
  };
  // Symbol ids: the join key between the keys (in DuckDB) and the outputs (from JS).
  await lake.run(
    `CREATE TEMP TABLE ${ctx.universeTable} AS SELECT l[i] AS symbol, CAST(i - 1 AS DOUBLE) AS sid FROM (SELECT [${sqlKeyList(universe)}]::VARCHAR[] AS l), range(1, ${universe.length + 1}) t(i)`,
  );
  const lookbackAll = new Set<string>();
  try {
    const hashes = await lake.readDoubles(`SELECT CAST(hash(symbol) AS DOUBLE) AS h FROM ${ctx.universeTable} ORDER BY sid`);
    ctx.symbolKeys.push(...hashes.get('h'));
    // 53 bits of a 64-bit hash: a collision among a few thousand keys is ~1e-9, but never silent.
    if (new Set(ctx.symbolKeys).size !== universe.length) throw new StorageError(`feature run: two symbols share a hash; run them separately`, { details: { symbols: universe.length } });
    // Consecutive stored sessions among the targets are one run: its later days find their
    // history in its earlier ones. Separate runs each read their own lookback.
    const runs: { readDates: string[]; firstTarget: number }[] = [];
    for (const run of consecutiveRuns(stored, new Set(present))) {
      const earlier = stored.filter((d) => d < (run[0] as string)).reverse();
      const lookbackDates = await chooseLookback(lake, source, earlier, universe, lookbackBars);
      for (const d of lookbackDates) lookbackAll.add(d);
      runs.push({ readDates: [...lookbackDates, ...run], firstTarget: lookbackDates.length });
    }
    // A user's module may fail on data of any read (it throws, returns a short array). One read
    // fails before its write; over several, earlier reads would already be published. So a group
    // with a custom feature computes every read once without writing first (twice the compute,
    // paid only when the run needs more than one read), and nothing is published unless all pass.
    if (group.features.some((f) => f.fn === 'custom')) {
      let reads = 0;
      for (const r of runs) reads += await computeRun(ctx, r.readDates, r.firstTarget, 'count');
      if (reads > 1) {
        const counted = { rowsRead: ctx.rowsRead, batches: ctx.batches };
        for (const r of runs) await computeRun(ctx, r.readDates, r.firstTarget, 'check');
        Object.assign(ctx, counted);
      }
    }
    for (const r of runs) await computeRun(ctx, r.readDates, r.firstTarget, 'write');
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
    revisions: ctx.revisions,
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
      feature_revisions: ctx.revisions,
      batches: ctx.batches,
    },
    'features written',
  );
  // Live and batch should agree: a published row that changes is skew someone may have acted on.
  if (ctx.revisions > 0) logger.warn({ group: group.name, version, dates: present, feature_revisions: ctx.revisions }, 'published feature rows revised');
  return result;
}

let tempCounter = 0;

interface RunContext {
  readonly deps: FeaturePipelineDeps;
  readonly group: FeatureGroup;
  /** The group version's features table: what is registered and written. */
  readonly table: FeatureTableSchema;
  readonly inputs: readonly string[];
  /** SQL of the expression features' input columns, by input name (see compileExpression). */
  readonly expressions: ReadonlyMap<string, string>;
  /** sha256 of the custom features' modules, by path. */
  readonly modules: Readonly<Record<string, string>>;
  readonly hasImputation: boolean;
  readonly universe: readonly string[];
  readonly universeTable: string;
  /** CAST(hash(symbol) AS DOUBLE) by symbol id: how numeric reads name a row's symbol. */
  readonly symbolKeys: number[];
  readonly lookbackBars: number;
  readonly budget: number;
  rowsRead: number;
  rowsWritten: number;
  revisions: number;
  batches: number;
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

/**
 * Computes and writes the targets readDates[firstTarget..] (readDates: consecutive stored
 * sessions). Pipelined: batch k+1 is read while batch k is computed (on the worker thread for
 * large batches), and a segment's partitions are written while the next batch is computed.
 */
/** `count`: only the number of reads the run takes; `check`: compute every read, write nothing. */
type RunMode = 'write' | 'check' | 'count';

async function computeRun(ctx: RunContext, readDates: readonly string[], firstTarget: number, mode: RunMode): Promise<number> {
  const { lake, source, signal } = ctx.deps;
  const S = ctx.universe.length;
  const M = readDates.length;
  const days = readDates.map((d) => parseDateLabel(d) / DAY_MS);
  const dayIndex = new Map(days.map((d, j) => [d, j]));
  // Rows per (symbol, date): the plan's input (a scan of the symbol column only).
  // Counts only: no bar length given, so no available_ts column is derived.
  const rel = sourceRelationSql(lake, { kind: source.kind, name: source.name }, readDates, ctx.universe) as string;
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
  // A batch after the first of its symbols takes its history from the previous batch's rows
  // (carried in memory) and reads only the dates it computes: each file is read once per run.
  // Not with expression features: DuckDB computes those over the rows of the read, history
  // included.
  const carries = ctx.expressions.size === 0;
  const batches = plan.flatMap((segment, k) =>
    segment.batches.map((batch, b) => {
      const carried = carries && k > 0;
      const readFrom = carried ? batch.targetStart : batch.dateStart;
      let rows = 0;
      for (let s = batch.symbolStart; s < batch.symbolEnd; s++) for (let j = readFrom; j <= batch.targetEnd; j++) rows += grid[s * M + j] as number;
      return { segment: k, batch, last: b === segment.batches.length - 1, carried, readFrom, rows };
    }),
  );
  if (mode === 'count') return batches.length;
  const runner = FeatureBatchRunner.shared();
  let writing: Promise<FeatureWriteResult> = Promise.resolve({ rows: 0, revisions: 0 });
  const account = (w: FeatureWriteResult): void => {
    ctx.rowsWritten += w.rows;
    ctx.revisions += w.revisions;
  };
  let outputs = new Map<number, Float64Array[][]>();
  const read = (k: number): Promise<FeatureBatchInput> => {
    const b = batches[k] as (typeof batches)[number];
    return readBatch(ctx, readDates, b.batch, b.readFrom, b.rows);
  };
  // The rows a later batch of the same symbols takes as history, by its first symbol.
  const carry = new Map<number, FeatureBatchInput['columns']>();
  let reading = batches.length ? read(0) : null;
  try {
    for (let k = 0; k < batches.length; k++) {
      const { batch, last, carried, segment } = batches[k] as (typeof batches)[number];
      signal?.throwIfAborted();
      const fresh = await (reading as Promise<FeatureBatchInput>);
      const history = carried ? carry.get(batch.symbolStart) : undefined;
      if (carried && !history) throw new StorageError(`feature run: no carried history for symbols ${batch.symbolStart}..${batch.symbolEnd - 1}`);
      const input: FeatureBatchInput = history ? { ...fresh, carried: history } : fresh;
      carry.delete(batch.symbolStart);
      const next = batches.find((b) => b.segment === segment + 1 && b.batch.symbolStart === batch.symbolStart);
      if (next?.carried) carry.set(batch.symbolStart, rowsFromDay(next.batch.dateStart < batch.targetStart && history ? [history, fresh.columns] : [fresh.columns], days[next.batch.dateStart] as number));
      const computing = runner.compute({ ...input, days, dateStart: batch.dateStart, targetStart: batch.targetStart, targetEnd: batch.targetEnd }, ctx.deps.compute);
      // Queued before the write of the previous segment, so DuckDB reads while the batch computes.
      reading = k + 1 < batches.length ? read(k + 1) : null;
      const computed = await computing;
      for (const [j, cols] of computed) outputs.set(j, [...(outputs.get(j) ?? []), cols]);
      if (last && mode === 'check') outputs = new Map();
      else if (last) {
        account(await writing);
        // A date none of the symbols has rows on is still written: their old rows go.
        const { targetStart, targetEnd } = plan[batches[k]?.segment as number] as (typeof plan)[number];
        for (let j = targetStart; j <= targetEnd; j++) if (!outputs.has(j)) outputs.set(j, []);
        const done = outputs;
        outputs = new Map();
        writing = writeSegment(ctx, readDates, done);
      }
    }
    account(await writing);
  } finally {
    // On failure, let the queued statements settle before the caller drops its tables.
    await Promise.allSettled([writing, reading ?? Promise.resolve()]);
  }
  return batches.length;
}

type BatchColumns = FeatureBatchInput['columns'];

/** The rows of `parts` whose session (epoch day) is `day` or later, copied into one set. */
function rowsFromDay(parts: readonly BatchColumns[], day: number): BatchColumns {
  let kept = 0;
  for (const c of parts) for (let i = 0; i < c.day.length; i++) if ((c.day[i] as number) >= day) kept++;
  const pick = (col: (c: BatchColumns) => Float64Array): Float64Array => {
    const out = new Float64Array(kept);
    let o = 0;
    for (const c of parts) {
      const src = col(c);
      for (let i = 0; i < c.day.length; i++) if ((c.day[i] as number) >= day) out[o++] = src[i] as number;
    }
    return out;
  };
  const first = parts[0] as BatchColumns;
  return { symbol: pick((c) => c.symbol), ts: pick((c) => c.ts), day: pick((c) => c.day), available: pick((c) => c.available), inputs: first.inputs.map((_, k) => pick((c) => c.inputs[k] as Float64Array)) };
}

/**
 * Reads one batch's numeric inputs (string and boolean columns stay in DuckDB): the dates from
 * `fromDate` (the batch's dateStart, or its targetStart when its history is carried) to its
 * last; `rows` is what that read returns.
 */
async function readBatch(ctx: RunContext, readDates: readonly string[], batch: FeatureBatch, fromDate: number, rows: number): Promise<FeatureBatchInput> {
  const { lake, source } = ctx.deps;
  const files = readDates.slice(fromDate, batch.targetEnd + 1).map((d) => sourcePartitionFile(lake, source, d));
  const scan = `read_parquet([${files.map(sqlString).join(', ')}], hive_partitioning = true, union_by_name = true)`;
  // Asked of every file read (their footers only): in a lake written before curated rows had
  // an available_ts, a range may start in files without it and go on in files with it.
  const hasAvailable = (await lake.query<{ column_name: string }>(`SELECT column_name FROM (DESCRIBE SELECT * FROM ${scan})`)).some((r) => r.column_name === 'available_ts');
  const select = [
    `CAST(hash(s.symbol) AS DOUBLE) AS symbol`,
    'CAST(epoch_ms(s.ts) AS DOUBLE) AS ts',
    `CAST(CAST(CAST(s.date AS VARCHAR) AS DATE) - DATE '1970-01-01' AS DOUBLE) AS day`,
    hasAvailable ? 'CAST(epoch_ms(s.available_ts) AS DOUBLE) AS available' : 'CAST(NULL AS DOUBLE) AS available',
    ...ctx.inputs.map((c, i) => `CAST(s.${sqlIdent(ctx.expressions.has(c) ? `__expr${i}` : c)} AS DOUBLE) AS ${sqlIdent(`in${i}`)}`),
  ].join(', ');
  const inBatch = `symbol IN (SELECT symbol FROM ${ctx.universeTable} WHERE sid >= ${batch.symbolStart} AND sid < ${batch.symbolEnd})`;
  // Expression features are windows over the batch's rows of each symbol (its lookback
  // included): computed in a subquery over the filtered scan, so their names are the source's.
  const exprs = ctx.inputs.flatMap((c, i) => (ctx.expressions.has(c) ? [`${ctx.expressions.get(c) as string} AS ${sqlIdent(`__expr${i}`)}`] : []));
  const from = exprs.length ? `(SELECT *, ${exprs.join(', ')} FROM ${scan} WHERE ${inBatch}) s` : `${scan} s WHERE s.${inBatch}`;
  // No ORDER BY: a DuckDB sort of the batch costs more than putting its (symbol, date) runs in
  // order in JS (each file is already sorted by symbol and ts).
  const read = await lake.readDoubles(`SELECT ${select} FROM ${from}`, rows);
  ctx.batches++;
  ctx.rowsRead += read.rows;
  return {
    group: { name: ctx.group.name, features: ctx.group.features },
    featureColumns: ctx.table.featureColumns,
    lookbackBars: ctx.lookbackBars,
    barMs: source.barMs,
    days: [],
    dateStart: batch.dateStart,
    targetStart: batch.targetStart,
    targetEnd: batch.targetEnd,
    symbolKeys: ctx.symbolKeys,
    inputNames: ctx.inputs,
    modules: ctx.modules,
    columns: { symbol: read.get('symbol'), ts: read.get('ts'), day: read.get('day'), available: read.get('available'), inputs: ctx.inputs.map((_, i) => read.get(`in${i}`)) },
  };
}

/**
 * Writes the segment's dates: per date, the source's keys (symbol, ts, masks: they never leave
 * DuckDB) side by side with the outputs by position, the order both are sorted in, so nothing is
 * joined or sorted. A guard in the same statement fails it, before anything is published, if
 * any row's symbol or ts differs between the two (the source partition was rewritten since it
 * was read).
 */
async function writeSegment(ctx: RunContext, readDates: readonly string[], outputs: ReadonlyMap<number, Float64Array[][]>): Promise<FeatureWriteResult> {
  const { lake, source, featureStore } = ctx.deps;
  const dateIdx = [...outputs.keys()].sort((a, b) => a - b);
  const dates = dateIdx.map((j) => readDates[j] as string);
  return lake.withDoubles(
    [...BATCH_KEY_OUTPUTS, ...ctx.table.featureColumns],
    dateIdx.map((j) => outputs.get(j) ?? []),
    async (relations) => {
      const byDate = new Map(dates.map((d, k) => [d, relations[k] as string]));
      // The source's rows of the run's symbols; without a filter (a semi-join that doubles the
      // statement's cost) when the partition holds no other symbol.
      const keys = new Map<string, string>();
      for (const [k, d] of dates.entries()) {
        const file = `read_parquet(${sqlString(sourcePartitionFile(lake, source, d))}, hive_partitioning = false)`;
        const [stored] = await lake.query<{ n: number }>(`SELECT count(*) AS n FROM ${file}`);
        const computed = (outputs.get(dateIdx[k] as number) ?? []).reduce((n, cols) => n + (cols[0]?.length ?? 0), 0);
        keys.set(d, stored?.n === computed ? file : `(SELECT * FROM ${file} WHERE symbol IN (SELECT symbol FROM ${ctx.universeTable}))`);
      }
      return featureStore.writeFeaturesFromRelation(
        { ...ctx.table, dates, symbols: ctx.universe },
        (d) => positionalRelation(ctx, keys.get(d) as string, byDate.get(d) as string, d),
        { ordered: true },
      );
    },
  );
}

/**
 * The feature rows of one date: source keys `keys` and computed `outputs` (BATCH_KEY_OUTPUTS
 * then the features) paired by position; reading it fails on the first row whose symbol or ts
 * differ between the two.
 */
export function positionalRelation(ctx: Pick<RunContext, 'hasImputation'> & { readonly table: Pick<FeatureTableSchema, 'maskColumns' | 'featureColumns'> }, keys: string, outputs: string, date: string): string {
  const guard = `CASE WHEN o.__symbol IS DISTINCT FROM CAST(hash(k.symbol) AS DOUBLE) OR o.__ts IS DISTINCT FROM CAST(epoch_ms(k.ts) AS DOUBLE)
    THEN error(${sqlString(`features for ${date}: the source partition changed while they were computed (`)} || coalesce(k.symbol, 'a missing row') || ' at ' || coalesce(CAST(k.ts AS VARCHAR), '?') || ${sqlString(' is out of step); run features again')}) ELSE k.symbol END`;
  const select = featureRowSelect(ctx.table, {
    row: {
      symbol: guard,
      ts: 'k.ts',
      available_ts: 'epoch_ms(CAST(o.__available AS BIGINT))',
      is_imputed: 'k.is_imputed',
      imputation: ctx.hasImputation ? 'k.imputation' : 'NULL',
    },
    mask: (m) => `k.${sqlIdent(m)}`,
    feature: (f) => `o.${sqlIdent(f)}`,
  });
  return `(SELECT ${select} FROM ${keys} k POSITIONAL JOIN ${outputs} o)`;
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
    const rel = sourceRelationSql(lake, { kind: source.kind, name: source.name }, [date], needy);
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
