import { POINT_IN_TIME, asOfJoinSql } from '../core/as-of-policy.js';
import { InputError, StorageError } from '../core/errors.js';
import { sqlIdent, sqlString } from '../core/sql.js';
import type { Lake, LakeColumn } from '../storage/lake.js';
import type { DatasetDropReason, DatasetManifest } from './dataset-store.js';
import type { ResolvedFeatureGroup } from './dataset-inputs.js';
import { labelsSql } from './label-sql.js';
import { LABEL_DROP_REASONS, type LabelDropReason } from './labels.js';
import { SPLIT_NAMES, timeSplitPlan, timeSplitSql, type SplitName } from './time-split.js';
import type { DatasetSpec, LabelSpec } from './training-config.js';

/** Names a new temp table; the caller drops every table it named when the build ends. */
export type TempTableNamer = () => string;

/** A zero count for every reason a row can be dropped, in manifest order. */
export function emptyDropped(): Record<DatasetDropReason, number> {
  const out = Object.fromEntries(LABEL_DROP_REASONS.map((r) => [r, 0])) as Record<DatasetDropReason, number>;
  for (const r of ['features_missing', 'features_stale', 'imputed_inputs', 'purged', 'embargoed'] as const) out[r] = 0;
  return out;
}

/**
 * Phase 2: the labels of the anchors in [start, end], computed by DuckDB from the bars of
 * `barRel` (label-sql.ts), into a temp table with a `drop_reason` column (NULL for a row kept).
 * Adds the rows dropped per reason to `dropped`. Returns the table's name.
 */
export async function buildLabels(
  lake: Lake,
  temp: TempTableNamer,
  bars: { readonly relation: string; readonly barMs: number },
  labelSpec: LabelSpec,
  spec: Pick<DatasetSpec, 'start' | 'end'>,
  dropped: Record<DatasetDropReason, number>,
): Promise<string> {
  const barColumns = new Set((await lake.query<{ column_name: string }>(`SELECT column_name FROM (DESCRIBE SELECT * FROM ${bars.relation})`)).map((r) => r.column_name));
  const labels = temp();
  await lake.run(`CREATE TEMP TABLE ${labels} AS SELECT * FROM ${labelsSql({ relation: bars.relation, hasAvailable: barColumns.has('available_ts'), barMs: bars.barMs }, labelSpec, spec.start, spec.end)}`);
  for (const r of await lake.query<{ reason: LabelDropReason; n: number }>(`SELECT drop_reason AS reason, count(*) AS n FROM ${labels} WHERE drop_reason IS NOT NULL GROUP BY 1`)) {
    dropped[r.reason] += r.n;
  }
  return labels;
}

/**
 * Phase 3: point-in-time decisions on narrow rows. Per group, the feature row (of `featureRel`)
 * that the shared as-of policy matches at each kept label's anchor — its `<group>_ts`,
 * `<group>_available_ts` and `<group>_is_imputed`, never a row available after the anchor — and
 * why a row is dropped (`__drop`: `features_missing`, `features_stale` beyond the group's TTL,
 * `imputed_inputs` when `dropImputed`), materialized into a temp table whose name is returned.
 * Proves on the rows that `available_ts <= anchor_ts < label_end_ts` (StorageError otherwise).
 * Adds the rows dropped per reason to `dropped`. The feature values are fetched only by the final
 * write, by equality on the matched row.
 */
export async function joinFeaturesPointInTime(
  lake: Lake,
  temp: TempTableNamer,
  labels: string,
  labelName: string,
  groups: readonly Pick<ResolvedFeatureGroup, 'name' | 'ttlMs'>[],
  featureRel: ReadonlyMap<string, string>,
  options: { readonly dataset: string; readonly dropImputed: boolean },
  dropped: Record<DatasetDropReason, number>,
): Promise<string> {
  let narrow = `(SELECT symbol, ts, session_date, anchor_ts, label_end_ts, ${sqlIdent(labelName)}, label_imputed FROM ${labels} WHERE drop_reason IS NULL)`;
  for (const g of groups) {
    narrow = asOfJoinSql({
      left: { relation: narrow, time: 'epoch_ms(anchor_ts)', keys: ['symbol'] },
      right: { relation: featureRel.get(g.name) as string, time: 'epoch_ms(available_ts)', keys: ['symbol'] },
      columns: [
        { column: 'ts', as: `${g.name}_ts` },
        { column: 'available_ts', as: `${g.name}_available_ts` },
        { column: 'is_imputed', as: `${g.name}_is_imputed` },
      ],
      policy: POINT_IN_TIME,
    });
  }
  const keys = temp();
  const missingExpr = groups.map((g) => `${sqlIdent(`${g.name}_available_ts`)} IS NULL`).join(' OR ');
  const staleExpr = groups.map((g) => `epoch_ms(anchor_ts) - epoch_ms(${sqlIdent(`${g.name}_available_ts`)}) > ${Math.trunc(g.ttlMs)}`).join(' OR ');
  const imputedExpr = options.dropImputed ? groups.map((g) => `coalesce(${sqlIdent(`${g.name}_is_imputed`)}, false)`).join(' OR ') : 'false';
  await lake.run(
    `CREATE TEMP TABLE ${keys} AS SELECT *, CASE WHEN ${missingExpr} THEN 'features_missing' WHEN ${staleExpr} THEN 'features_stale' WHEN ${imputedExpr} THEN 'imputed_inputs' END AS __drop FROM ${narrow}`,
  );
  // The as-of join cannot look ahead; this proves it on the rows themselves.
  const [violations] = await lake.query<{ n: number }>(
    `SELECT count(*) AS n FROM ${keys} WHERE NOT (anchor_ts < label_end_ts)${groups.map((g) => ` OR ${sqlIdent(`${g.name}_available_ts`)} > anchor_ts`).join('')}`,
  );
  if ((violations?.n ?? 0) > 0) throw new StorageError(`dataset ${options.dataset}: ${violations?.n} row(s) violate available_ts <= anchor_ts < label_end_ts (internal error)`);
  for (const r of await lake.query<{ reason: DatasetDropReason; n: number }>(`SELECT __drop AS reason, count(*) AS n FROM ${keys} WHERE __drop IS NOT NULL GROUP BY 1`)) {
    dropped[r.reason] += r.n;
  }
  return keys;
}

/** How rows are split: a SQL expression over the keys table aliased `k`, and what the manifest records. */
export interface DatasetSplitPlan {
  /** `'all'` without a split; else a CASE giving train / validation / test / purged / embargoed. */
  readonly outcome: string;
  readonly info: DatasetManifest['split'];
}

/**
 * Phase 4: the time split over the rows that survived the join, with purge and embargo: the cut
 * instants come from the distinct anchors of the kept rows (one per bar, not per row); each
 * row's split is then a SQL comparison (time-split.ts). Without `split`: every row is `all`.
 */
export async function planDatasetSplit(lake: Lake, keys: string, split: DatasetSpec['split']): Promise<DatasetSplitPlan> {
  if (!split) return { outcome: `'all'`, info: null };
  const anchors = (await lake.readDoubles(`SELECT DISTINCT CAST(epoch_ms(anchor_ts) AS DOUBLE) AS a FROM ${keys} WHERE __drop IS NULL ORDER BY a`)).get('a');
  const firsts = new Map<string, number | null>();
  for (const date of [split.validation_start, split.test_start]) {
    if (date === undefined) continue;
    const [first] = await lake.query<{ a: number | null }>(`SELECT min(epoch_ms(anchor_ts)) AS a FROM ${keys} WHERE __drop IS NULL AND session_date >= CAST(${sqlString(date)} AS DATE)`);
    firsts.set(date, first?.a ?? null);
  }
  const plan = timeSplitPlan(anchors, split, (date) => firsts.get(date) ?? null);
  return {
    outcome: timeSplitSql(plan, 'epoch_ms(k.anchor_ts)', 'epoch_ms(k.label_end_ts)'),
    info: { spec: split, validation_start: isoInstant(plan.validationStart), test_start: isoInstant(plan.testStart) },
  };
}

/** One row of the per-(symbol, outcome) counts the tally is made from. */
export interface DatasetCountRow {
  readonly symbol: string;
  /** A split name, `all` without a split, or `purged` / `embargoed`. */
  readonly split: string;
  readonly n: number;
  readonly first: number | null;
  readonly last: number | null;
  readonly last_end: number | null;
}

/** What the manifest says of the rows written. */
export interface DatasetTally {
  readonly total: number;
  readonly bySymbol: Record<string, { total: number } & Partial<Record<SplitName, number>>>;
  readonly bySplit: Partial<Record<SplitName, number>> | null;
  /** First and last anchor, last label end, over the rows written (epoch ms). */
  readonly span: { first: number | null; last: number | null; last_end: number | null };
  /** Rows the split purged or embargoed (not written). */
  readonly purged: number;
  readonly embargoed: number;
}

/**
 * Totals of the rows written, per symbol (every symbol listed, zero when it has none) and per
 * split (null without a split), and the instants they span; purged and embargoed rows are
 * counted apart and not written. Pure.
 */
export function tallyDatasetRows(rows: readonly DatasetCountRow[], symbols: readonly string[], hasSplit: boolean): DatasetTally {
  const bySymbol: DatasetTally['bySymbol'] = {};
  const bySplit: Partial<Record<SplitName, number>> | null = hasSplit ? Object.fromEntries(SPLIT_NAMES.map((s) => [s, 0])) : null;
  for (const s of symbols) bySymbol[s] = hasSplit ? { total: 0, train: 0, validation: 0, test: 0 } : { total: 0 };
  let total = 0;
  let purged = 0;
  let embargoed = 0;
  const span: DatasetTally['span'] = { first: null, last: null, last_end: null };
  for (const r of rows) {
    if (r.split === 'purged' || r.split === 'embargoed') {
      if (r.split === 'purged') purged += r.n;
      else embargoed += r.n;
      continue;
    }
    const entry = bySymbol[r.symbol] as { total: number } & Partial<Record<SplitName, number>>;
    entry.total += r.n;
    total += r.n;
    if (bySplit && r.split !== 'all') {
      const name = r.split as SplitName;
      entry[name] = (entry[name] ?? 0) + r.n;
      bySplit[name] = (bySplit[name] ?? 0) + r.n;
    }
    if (r.first !== null && (span.first === null || r.first < span.first)) span.first = r.first;
    if (r.last !== null && (span.last === null || r.last > span.last)) span.last = r.last;
    if (r.last_end !== null && (span.last_end === null || r.last_end > span.last_end)) span.last_end = r.last_end;
  }
  return { total, bySymbol, bySplit, span, purged, embargoed };
}

/**
 * Phase 5 (counting): the kept rows per symbol and outcome from the keys table, tallied
 * (tallyDatasetRows); purged and embargoed rows are added to `dropped`. No row left to write is
 * InputError listing the drops.
 */
export async function countDatasetRows(
  lake: Lake,
  keys: string,
  split: DatasetSplitPlan,
  symbols: readonly string[],
  hasSplit: boolean,
  dataset: string,
  dropped: Record<DatasetDropReason, number>,
): Promise<DatasetTally> {
  const countRows = await lake.query<{ symbol: string; split: string; n: number; first: number | null; last: number | null; last_end: number | null }>(
    `SELECT k.symbol, ${split.outcome} AS split, count(*) AS n, min(k.anchor_ts) AS first, max(k.anchor_ts) AS last, max(k.label_end_ts) AS last_end
     FROM ${keys} k WHERE k.__drop IS NULL GROUP BY ALL`,
  );
  const tally = tallyDatasetRows(countRows, symbols, hasSplit);
  dropped.purged += tally.purged;
  dropped.embargoed += tally.embargoed;
  if (tally.total === 0) {
    throw new InputError(`dataset ${dataset}: no rows left to write (dropped: ${JSON.stringify(Object.fromEntries(Object.entries(dropped).filter(([, n]) => n > 0)))})`, {
      details: { dropped },
    });
  }
  return tally;
}

/**
 * The dataset file's columns, in order: the keys, the label, `split` (with a split), then per
 * group its matched row's `<group>_ts`, `<group>_available_ts`, `<group>_is_imputed` and its
 * features (DOUBLE). Pure.
 */
export function datasetColumns(labelName: string, hasSplit: boolean, groups: readonly Pick<ResolvedFeatureGroup, 'name' | 'columns'>[]): LakeColumn[] {
  return [
    { name: 'symbol', type: 'VARCHAR' },
    { name: 'ts', type: 'TIMESTAMPTZ' },
    { name: 'session_date', type: 'DATE' },
    { name: 'anchor_ts', type: 'TIMESTAMPTZ' },
    { name: 'label_end_ts', type: 'TIMESTAMPTZ' },
    { name: labelName, type: 'DOUBLE' },
    { name: 'label_imputed', type: 'BOOLEAN' },
    ...(hasSplit ? [{ name: 'split', type: 'VARCHAR' } as const] : []),
    ...groups.flatMap((g): LakeColumn[] => [
      { name: `${g.name}_ts`, type: 'TIMESTAMPTZ' },
      { name: `${g.name}_available_ts`, type: 'TIMESTAMPTZ' },
      { name: `${g.name}_is_imputed`, type: 'BOOLEAN' },
      ...g.columns.map((c): LakeColumn => ({ name: c, type: 'DOUBLE' })),
    ]),
  ];
}

/**
 * The rows to write, as a relation: the keys table's kept rows (not dropped, not purged or
 * embargoed), their split, and per group the matched feature row's values, joined by equality on
 * (symbol, `<group>_ts`). Columns as datasetColumns.
 */
export function datasetRowsSql(keys: string, labelName: string, split: DatasetSplitPlan, hasSplit: boolean, groups: readonly Pick<ResolvedFeatureGroup, 'name' | 'columns'>[], featureRel: ReadonlyMap<string, string>): string {
  const kept = `k.__drop IS NULL AND ${split.outcome} NOT IN ('purged', 'embargoed')`;
  const select = [
    'k.symbol',
    'k.ts',
    'k.session_date',
    'k.anchor_ts',
    'k.label_end_ts',
    `k.${sqlIdent(labelName)}`,
    'k.label_imputed',
    ...(hasSplit ? [`${split.outcome} AS split`] : []),
    ...groups.flatMap((g, i) => [
      `k.${sqlIdent(`${g.name}_ts`)}`,
      `k.${sqlIdent(`${g.name}_available_ts`)}`,
      `k.${sqlIdent(`${g.name}_is_imputed`)}`,
      ...g.columns.map((c) => `CAST(f${i}.${sqlIdent(c)} AS DOUBLE) AS ${sqlIdent(c)}`),
    ]),
  ].join(', ');
  const joins = groups.map((g, i) => `JOIN ${featureRel.get(g.name) as string} AS f${i} ON f${i}.symbol = k.symbol AND f${i}.ts = k.${sqlIdent(`${g.name}_ts`)}`).join(' ');
  return `(SELECT ${select} FROM ${keys} AS k ${joins} WHERE ${kept})`;
}

/** An instant as an ISO string, null kept. */
export function isoInstant(ms: number | null): string | null {
  return ms === null ? null : new Date(ms).toISOString();
}
