import { existsSync } from 'node:fs';
import type { InstrumentCalendars } from '../calendar/instrument-calendars.js';
import { asOfJoinSql, POINT_IN_TIME } from '../core/as-of-policy.js';
import { CURATED_MASK_COLUMNS, frequencyMs } from '../core/bars.js';
import { InputError, UpstreamMissingError } from '../core/errors.js';
import { assertInstrumentKey } from '../core/instruments.js';
import { sqlIdent, sqlKeyList, sqlString } from '../core/sql.js';
import type { Logger } from '../core/logger.js';
import type { Lake } from '../storage/lake.js';
import type { AlignmentJoin, AlignmentSpec } from './alignment-config.js';
import { barMsFromName, sourcePartitionDates, sourcePartitionFile, sourceRelationSql, type SourceDataset } from './source-dataset.js';

export interface AlignmentDeps {
  readonly lake: Lake;
  readonly calendars: InstrumentCalendars;
  readonly logger: Logger;
}

export interface AlignmentJoinSummary {
  readonly as: string;
  readonly dataset: string;
  /** Output rows that found a row to join. */
  readonly matched: number;
}

export interface AlignmentResult {
  readonly name: string;
  readonly date: string;
  readonly file: string;
  readonly symbols: number;
  readonly rowsRead: number;
  readonly rowsWritten: number;
  readonly joins: readonly AlignmentJoinSummary[];
}

let stagedCounter = 0;

/** The bar columns of a curated (and aligned) row, before the masks. */
const BAR_COLUMNS = ['open', 'high', 'low', 'close', 'volume', 'wap', 'trade_count'] as const;
const MASKS = CURATED_MASK_COLUMNS.map((c) => `${c}_imputed`);
const CURATED_SELECT = ['symbol', 'ts', ...BAR_COLUMNS, 'is_imputed', 'imputation', ...MASKS].map(sqlIdent).join(', ');

/**
 * OHLCV-correct resampling of a curated relation to `barMs` buckets anchored at each symbol's
 * session open (`anchors`: symbol → epoch ms; epoch-aligned where a symbol has none): first
 * open, max high, min low, last close, summed volume and trade count, volume-weighted wap
 * (NULL when the bucket traded no volume), and every gap mask true when any input bar's was. A
 * bucket is stamped with its start; only buckets with input bars exist.
 */
export function resampleSql(relation: string, barMs: number, anchors: ReadonlyMap<string, number>): string {
  if (!(Number.isInteger(barMs) && barMs > 0)) throw new InputError(`resample: bar length must be a positive integer of ms, got ${barMs}`);
  const anchorRel = anchors.size
    ? `(SELECT * FROM (VALUES ${[...anchors].map(([s, a]) => `(${sqlString(s)}, ${Math.trunc(a)})`).join(', ')}) a(symbol, anchor))`
    : `(SELECT CAST(NULL AS VARCHAR) AS symbol, CAST(NULL AS BIGINT) AS anchor WHERE false)`;
  const weighted = `FILTER (WHERE wap IS NOT NULL AND volume IS NOT NULL)`;
  return `(SELECT symbol, CAST(epoch_ms(CAST(__bucket AS BIGINT)) AS TIMESTAMPTZ) AS ts,
  arg_min(open, ts) FILTER (WHERE open IS NOT NULL) AS open,
  max(high) AS high,
  min(low) AS low,
  arg_max(close, ts) FILTER (WHERE close IS NOT NULL) AS close,
  sum(volume) AS volume,
  sum(wap * volume) ${weighted} / nullif(sum(volume) ${weighted}, 0) AS wap,
  CAST(sum(trade_count) AS BIGINT) AS trade_count,
  bool_or(is_imputed) AS is_imputed,
  string_agg(DISTINCT imputation, ',' ORDER BY imputation) AS imputation,
  ${MASKS.map((m) => `bool_or(${sqlIdent(m)}) AS ${sqlIdent(m)}`).join(',\n  ')}
FROM (
  SELECT __in.*, coalesce(__a.anchor, 0) + CAST(floor((epoch_ms(__in.ts) - coalesce(__a.anchor, 0)) / ${barMs}) AS BIGINT) * ${barMs} AS __bucket
  FROM ${relation} __in LEFT JOIN ${anchorRel} __a ON __a.symbol = __in.symbol
)
GROUP BY symbol, __bucket)`;
}

/** Session opens of the symbols on `date` (symbols whose exchange is closed that day are left out). */
function sessionAnchors(calendars: InstrumentCalendars, symbols: readonly string[], date: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const s of symbols) {
    const session = calendars.has(s) ? calendars.calendarFor(s).session(date) : undefined;
    if (session) out.set(s, session.open);
  }
  return out;
}

/** Describe a relation's column names. */
async function columnsOf(lake: Lake, relation: string): Promise<string[]> {
  return (await lake.query<{ column_name: string }>(`SELECT column_name FROM (DESCRIBE SELECT * FROM ${relation})`)).map((r) => r.column_name);
}

/**
 * Partition dates of a joined dataset an as-of join may need for `date`: the date itself, the
 * last stored date before it (a backward match for the session's first bars) and, unless the
 * policy only looks back, the first stored date after it.
 */
function joinDates(lake: Lake, src: SourceDataset, date: string, join: AlignmentJoin): string[] {
  if (join.how === 'exact') return [date];
  const all = sourcePartitionDates(lake, src);
  const before = all.filter((d) => d < date);
  const after = all.filter((d) => d > date);
  const dates = [date];
  if (before.length) dates.push(before[before.length - 1] as string);
  if ((join.as_of ?? POINT_IN_TIME).direction !== 'backward' && after.length) dates.push(after[0] as string);
  return dates;
}

/**
 * Builds one aligned session: reads `spec.source` (curated) for `date` and `symbols`, resamples
 * it to `spec.frequency` when that is coarser, joins each of `spec.joins` onto it, and writes
 * `aligned/<name>/date=<date>/data.parquet` atomically (other symbols' rows of the date kept).
 *
 * Output columns: the curated bar columns with their gap masks (`is_imputed`, `imputation`,
 * `<col>_imputed`), then per join `<as>_ts` (start of the matched bar, NULL when none),
 * `<as>_<column>`, and `<as>_is_imputed` / `<as>_<column>_imputed` when the joined dataset has
 * those masks. As-of joins compare availability instants by default (ts + bar length), so a
 * backward join never hands a bar a value that was not known when that bar completed.
 */
export async function runAlignment(date: string, symbols: readonly string[], deps: AlignmentDeps, spec: AlignmentSpec): Promise<AlignmentResult> {
  const { lake, calendars, logger } = deps;
  for (const s of symbols) assertInstrumentKey(s);
  if (symbols.length === 0) throw new InputError(`alignment ${spec.name}: no symbols`);
  const srcBarMs = barMsFromName(spec.source);
  if (srcBarMs === undefined) throw new InputError(`alignment ${spec.name}: source ${spec.source} is not a bars_<frequency> dataset`);
  const outMs = frequencyMs(spec.frequency);
  if (outMs % srcBarMs !== 0) throw new InputError(`alignment ${spec.name}: ${spec.frequency} is not a multiple of ${spec.source}'s bar length`);
  const source: SourceDataset = { kind: 'curated', name: spec.source, barMs: srcBarMs };
  const sourceRel = sourceRelationSql(lake, source, [date], symbols);
  if (sourceRel === null) {
    throw new UpstreamMissingError(`alignment ${spec.name}: no curated ${spec.source} partition for ${date}`, { details: { dataset: spec.source, date } });
  }
  const [read] = await lake.query<{ n: number }>(`SELECT count(*) AS n FROM ${sourceRel}`);

  let rel = `(SELECT ${CURATED_SELECT} FROM ${sourceRel})`;
  if (outMs !== srcBarMs) rel = resampleSql(rel, outMs, sessionAnchors(calendars, symbols, date));

  const joinSummaries: { as: string; dataset: string }[] = [];
  for (const join of spec.joins) {
    rel = await joinOne(deps, rel, outMs, date, symbols, join);
    joinSummaries.push({ as: join.as, dataset: join.dataset });
  }

  const file = sourcePartitionFile(lake, { kind: 'aligned', name: spec.name }, date);
  const staged = `ibp_aligned_${++stagedCounter}`;
  await lake.run(`CREATE TEMP TABLE ${staged} AS SELECT * FROM ${rel}`);
  try {
    const counts = await lake.query<Record<string, number>>(
      `SELECT count(*) AS n${joinSummaries.map((j, i) => `, count(${sqlIdent(`${j.as}_ts`)}) AS m${i}`).join('')} FROM ${staged}`,
    );
    const c = counts[0] ?? { n: 0 };
    const names = (await columnsOf(lake, staged)).map(sqlIdent).join(', ');
    const keep = existsSync(file)
      ? `UNION ALL BY NAME SELECT * FROM read_parquet(${sqlString(file)}, hive_partitioning = false) WHERE symbol NOT IN (SELECT unnest([${sqlKeyList(symbols)}]))`
      : '';
    await lake.writeParquetAtomic(file, `SELECT ${names} FROM (SELECT * FROM ${staged} ${keep}) ORDER BY symbol, ts`);
    const result: AlignmentResult = {
      name: spec.name,
      date,
      file,
      symbols: symbols.length,
      rowsRead: read?.n ?? 0,
      rowsWritten: c.n ?? 0,
      joins: joinSummaries.map((j, i) => ({ ...j, matched: c[`m${i}`] ?? 0 })),
    };
    logger.info({ alignment: spec.name, date, symbols: symbols.length, rows_read: result.rowsRead, rows_written: result.rowsWritten, joins: result.joins }, 'alignment written');
    return result;
  } finally {
    await lake.dropTable(staged);
  }
}

/** Joins one dataset onto `left` (a relation with symbol and ts) and returns the new relation. */
async function joinOne(deps: AlignmentDeps, left: string, leftBarMs: number, date: string, symbols: readonly string[], join: AlignmentJoin): Promise<string> {
  const { lake, calendars } = deps;
  const nativeMs = barMsFromName(join.dataset);
  const src: SourceDataset = { kind: 'curated', name: join.dataset, barMs: nativeMs ?? 0 };
  const rightSymbols = join.symbol ? [join.symbol] : symbols;
  const dates = joinDates(lake, src, date, join);
  let right = sourceRelationSql(lake, src, dates, rightSymbols);
  let rightBarMs = nativeMs ?? 0;
  if (right === null) {
    deps.logger.warn({ dataset: join.dataset, date }, 'alignment: joined dataset has no partition; its columns are NULL');
    right = `(SELECT CAST(NULL AS VARCHAR) AS symbol, CAST(NULL AS TIMESTAMPTZ) AS ts, ${join.columns.map((c) => `CAST(NULL AS DOUBLE) AS ${sqlIdent(c)}`).join(', ')} WHERE false)`;
  } else if (join.frequency !== undefined) {
    const anchors = new Map<string, number>();
    // A resampled right side spans up to three sessions; anchor each row at its own session's open.
    for (const d of dates) for (const [s, a] of sessionAnchors(calendars, rightSymbols, d)) anchors.set(`${s}|${d}`, a);
    rightBarMs = frequencyMs(join.frequency);
    right = resampleByDate(right, rightBarMs, anchors);
  }
  const available = await columnsOf(lake, right);
  for (const c of join.columns) {
    if (!available.includes(c)) throw new InputError(`alignment join ${join.as}: dataset ${join.dataset} has no column ${c}`, { details: { dataset: join.dataset, column: c } });
  }
  const carried: { column: string; as: string }[] = [{ column: 'ts', as: `${join.as}_ts` }];
  for (const c of join.columns) carried.push({ column: c, as: `${join.as}_${c}` });
  if (available.includes('is_imputed')) carried.push({ column: 'is_imputed', as: `${join.as}_is_imputed` });
  for (const c of join.columns) if (available.includes(`${c}_imputed`)) carried.push({ column: `${c}_imputed`, as: `${join.as}_${c}_imputed` });

  const rightRel = join.symbol ? `(SELECT * EXCLUDE (symbol) FROM ${right} WHERE symbol = ${sqlString(join.symbol)})` : right;
  if (join.how === 'exact') {
    const on = join.symbol ? `__x.ts = __l.ts` : `__x.symbol = __l.symbol AND __x.ts = __l.ts`;
    return `(SELECT __l.*, ${carried.map((c) => `__x.${sqlIdent(c.column)} AS ${sqlIdent(c.as)}`).join(', ')} FROM ${left} __l LEFT JOIN ${rightRel} __x ON ${on})`;
  }
  const leftTime = join.on === 'ts' ? 'epoch_ms(ts)' : `epoch_ms(ts) + ${leftBarMs}`;
  const rightTime = join.on === 'ts' ? 'epoch_ms(ts)' : `epoch_ms(ts) + ${rightBarMs}`;
  const keys = join.symbol ? [] : ['symbol'];
  return asOfJoinSql({
    left: { relation: left, time: leftTime, keys },
    right: { relation: rightRel, time: rightTime, keys },
    columns: carried,
    policy: join.as_of ?? POINT_IN_TIME,
  });
}

/** {@link resampleSql} for a relation spanning several session dates (`date` column), anchors keyed `symbol|date`. */
function resampleByDate(relation: string, barMs: number, anchors: ReadonlyMap<string, number>): string {
  const withKey = `(SELECT * EXCLUDE (symbol, date), symbol || '|' || date AS symbol FROM (SELECT ${CURATED_SELECT}, date FROM ${relation}))`;
  const resampled = resampleSql(withKey, barMs, anchors);
  return `(SELECT split_part(symbol, '|', 1) AS symbol, * EXCLUDE (symbol) FROM ${resampled})`;
}
