import { CURATED_MASK_COLUMNS, type CuratedValueColumn } from '../core/bars.js';
import { sqlIdent, sqlNumber, sqlString } from '../core/sql.js';
import type { GapsConfig, ImputationStrategy } from './dq-config.js';
import { resolveImputation } from './gaps.js';

/**
 * The GapEngine of gaps.ts compiled to SQL (pure: config → SQL text), with the same
 * conventions: only missing slots are imputed; `ffill` of a price takes the previous close,
 * of wap / volume / trade_count that column's previous value (the last non-NULL one); `linear`
 * interpolates between the nearest non-NULL values of the column before and after the gap in the
 * same session (by slot index, not time, as the JS engine does, so a break does not stretch the
 * line); a leading gap has no earlier value and stays NULL; a run longer than `max_gap_bars`
 * stays NULL everywhere (`max_gap_exceeded`).
 *
 * Set-based, and only the missing slots are worked on: a run of missing slots is an island of
 * consecutive slot numbers, its neighbours are the observed bars at `s0 - 1` and `s1 + 1` (equi-
 * joins), and a neighbour whose value is NULL is looked past only for the runs that need it.
 * Observed bars pass through untouched, so no window ever runs over the whole grid.
 *
 * Every imputed row also gets `available_ts`, when all its values were knowable (availability.ts):
 * no earlier than `ts + bar`; when the run's length decides whether it is imputed at all, no
 * earlier than the bar that settles that length (runKnownAt); for a `linear` value, no earlier
 * than the bar it interpolates towards (linearKnownAt). Observed bars are available at `ts + bar`.
 *
 * Inputs ({@link GapSqlInputs}): `observed (gid, date, symbol, slot, ts, <values>)`, the bars on
 * the grid, one per slot; `missing (gid, date, symbol, slot, ts)`, the grid slots without one;
 * `extent (gid, date, symbol, cal, day, n_slots, n_full)`, one row per grid judged: `n_slots` of
 * its session's `n_full` slots are judged (an intraday run judges a prefix); `grid (cal, day, slot,
 * ts)`, every session's whole grid. `gid` is a number identifying a (date, symbol) grid (joins
 * and groups on one integer are cheap), `slot` the 0-based index in the session's grid, `ts`
 * epoch ms.
 */
export interface GapSqlInputs {
  readonly observed: string;
  /** `(gid, n)`: the observed bars of each grid with any (`observed` grouped by gid, or the same counts had more cheaply). */
  readonly observedCounts: string;
  readonly missing: string;
  readonly extent: string;
  readonly grid: string;
}

const PRICE = new Set<CuratedValueColumn>(['open', 'high', 'low', 'close']);

function strategyName(s: ImputationStrategy): string {
  return typeof s === 'string' ? s : 'constant';
}

type Config = Pick<GapsConfig, 'imputation' | 'max_gap_bars'>;

/** Columns imputed by `linear` (their values settle when the bar after the gap arrives). */
function linearColumns(config: Config): CuratedValueColumn[] {
  const s = resolveImputation(config.imputation);
  return CURATED_MASK_COLUMNS.filter((c) => s[c] === 'linear');
}

/** Columns whose last non-NULL value before a run is read (ffill sources, linear), and first after it (linear). */
function needs(config: Config): { before: CuratedValueColumn[]; after: CuratedValueColumn[] } {
  const s = resolveImputation(config.imputation);
  const before = new Set<CuratedValueColumn>();
  const after = new Set<CuratedValueColumn>();
  for (const c of CURATED_MASK_COLUMNS) {
    if (s[c] === 'ffill') before.add(PRICE.has(c) ? 'close' : c);
    if (s[c] === 'linear') {
      before.add(c);
      after.add(c);
    }
  }
  return { before: [...before], after: [...after] };
}

const id = (name: string): string => sqlIdent(name);

/** Missing slots with the id (`grp`) of the run they belong to: `date, symbol, slot, ts, grp`. */
export function gapSlotsSql(inputs: GapSqlInputs): string {
  return `SELECT gid, date, symbol, slot, ts, slot - row_number() OVER (PARTITION BY gid ORDER BY slot) AS grp FROM ${inputs.missing}`;
}

/**
 * One row per run of missing slots, over {@link gapSlotsSql}'s output: `date, symbol, grp, s0, s1,
 * len, start_ts` and the values of the observed neighbours (`p_<c>` at `s0 - 1`, `x_<c>` at
 * `s1 + 1`) of the columns the strategies read. Materialize it before {@link gapRunsSql}, which
 * looks past NULL neighbours for the few runs that have one.
 */
export function gapRunNeighboursSql(config: Config, inputs: GapSqlInputs, slots: string): string {
  const { before, after } = needs(config);
  const near = [...new Set([...before, ...after])];
  const runs = `SELECT gid, any_value(date) AS date, any_value(symbol) AS symbol, grp, min(slot) AS s0, max(slot) AS s1, count(*) AS len, min(ts) AS start_ts
      FROM ${slots} GROUP BY gid, grp`;
  if (near.length === 0) return runs;
  // Both neighbours in one pass over the observed bars: two lookup keys per run, one join.
  return `WITH runs AS (${runs}),
    keys AS (
      SELECT gid, grp, s0 - 1 AS slot, true AS before FROM runs
      UNION ALL SELECT gid, grp, s1 + 1 AS slot, false AS before FROM runs
    ),
    found AS (
      SELECT k.gid, k.grp, k.before${near.map((c) => `, o.${id(c)}`).join('')}
      FROM keys k JOIN ${inputs.observed} o ON o.gid = k.gid AND o.slot = k.slot
    )
    SELECT runs.*${near
      .map((c) => `, any_value(f.${id(c)}) FILTER (WHERE f.before) AS ${id(`p_${c}`)}, any_value(f.${id(c)}) FILTER (WHERE NOT f.before) AS ${id(`x_${c}`)}`)
      .join('')}
    FROM runs LEFT JOIN found f ON f.gid = runs.gid AND f.grp = runs.grp
    GROUP BY ALL`;
}

/**
 * The runs with, per column the strategies read, the last non-NULL value before the run and its
 * slot (`pv_<c>`, `ps_<c>`) and the first after it (`nv_<c>`, `ns_<c>`), NULL when none; over
 * {@link gapRunNeighboursSql}'s (materialized) output.
 */
export function gapRunsSql(config: Config, inputs: GapSqlInputs, neighbours: string, barMs: number): string {
  const { before, after } = needs(config);
  const fallbacks: string[] = [];
  const joins: string[] = [];
  const columns: string[] = [];
  const side = (c: CuratedValueColumn, dir: 'before' | 'after'): void => {
    const [v, s, n, agg, cmp, nb, edge] =
      dir === 'before' ? ['pv', 'ps', 'fp', 'max', '<', 'p', 's0 - 1'] : ['nv', 'ns', 'fn', 'min', '>', 'x', 's1 + 1'];
    const fb = `${n}_${c}`;
    const neighbour = id(`${nb}_${c}`);
    // Past a NULL neighbour: the nearest non-NULL value in the session, for those runs only.
    fallbacks.push(`${fb} AS (
      SELECT r.gid, r.grp, ${dir === 'before' ? 'arg_max' : 'arg_min'}(o.${id(c)}, o.slot) AS v, ${agg}(o.slot) AS s
      FROM (SELECT * FROM ${neighbours} WHERE ${neighbour} IS NULL) r
      JOIN ${inputs.observed} o ON o.gid = r.gid AND o.slot ${cmp} ${dir === 'before' ? 'r.s0' : 'r.s1'} AND o.${id(c)} IS NOT NULL
      GROUP BY r.gid, r.grp)`);
    joins.push(`LEFT JOIN ${fb} ON ${fb}.gid = nb.gid AND ${fb}.grp = nb.grp`);
    columns.push(
      `CASE WHEN ${neighbour} IS NOT NULL THEN ${neighbour} ELSE ${fb}.v END AS ${id(`${v}_${c}`)}`,
      `CASE WHEN ${neighbour} IS NOT NULL THEN ${edge} ELSE ${fb}.s END AS ${id(`${s}_${c}`)}`,
    );
  };
  for (const c of before) side(c, 'before');
  for (const c of after) side(c, 'after');
  // When the run's fate and each linear value were settled (availability.ts: runKnownAt,
  // linearKnownAt), looked up in the session's whole grid.
  const m = config.max_gap_bars;
  const linear = linearColumns(config);
  const at = (alias: string, slot: string): string =>
    `LEFT JOIN ${inputs.grid} ${alias} ON ${alias}.cal = e.cal AND ${alias}.day = e.day AND ${alias}.slot = ${slot}`;
  return `WITH ${fallbacks.map((f) => `${f}, `).join('')}base AS (
      SELECT nb.gid, nb.date, nb.symbol, nb.grp, nb.s0, nb.s1, nb.len, nb.start_ts${columns.map((c) => `, ${c}`).join('')}
      FROM ${neighbours} nb ${joins.join(' ')}
    )
    SELECT base.*,
      CASE WHEN base.s0 + ${m} >= e.n_full THEN NULL
           WHEN base.len > ${m} OR base.s1 + 1 >= e.n_slots THEN g_lim.ts + ${barMs}
           ELSE g_end.ts + ${barMs} END AS run_known${linear
             .map((c) => `,
      CASE WHEN base.${id(`ps_${c}`)} IS NOT NULL THEN ${id(`gq_${c}`)}.ts + ${barMs} END AS ${id(`known_${c}`)}`)
             .join('')}
    FROM base JOIN ${inputs.extent} e ON e.gid = base.gid
    ${at('g_lim', `base.s0 + ${m}`)}
    ${at('g_end', 'base.s1 + 1')}
    ${linear.map((c) => at(id(`gq_${c}`), `coalesce(base.${id(`ns_${c}`)}, e.n_full - 1)`)).join('\n    ')}`;
}

/**
 * The imputed rows, over the missing slots and their runs: `gid, date, symbol, slot, ts,
 * available_ts, grp, run_len` (`grp` numbers the run within its grid, {@link gapSlotsSql}),
 * the curated values, `imputation` and `complete` (every column with a strategy other than
 * `none` got a value).
 */
export function gapImputedSql(config: Config, slots: string, runs: string, barMs: number): string {
  const strategies = resolveImputation(config.imputation);
  const tooLong = `r.len > ${config.max_gap_bars}`;
  const imputedValue = (c: CuratedValueColumn): string => {
    const s = strategies[c];
    if (s === 'zero') return 'CAST(0 AS DOUBLE)';
    if (typeof s === 'object') return sqlNumber(s.constant);
    if (s === 'ffill') return `r.${id(`pv_${PRICE.has(c) ? 'close' : c}`)}`;
    if (s === 'none') return 'CAST(NULL AS DOUBLE)';
    const [a, p, b, q] = ['pv', 'ps', 'nv', 'ns'].map((k) => `r.${id(`${k}_${c}`)}`) as [string, string, string, string];
    const v = `${a} + ((${b} - ${a}) * CAST(g.slot - ${p} AS DOUBLE)) / CAST(${q} - ${p} AS DOUBLE)`;
    // Math.round: halves go up.
    const rounded = c === 'trade_count' ? `CASE WHEN (${v}) - floor(${v}) >= 0.5 THEN ceil(${v}) ELSE floor(${v}) END` : v;
    return `CASE WHEN ${p} IS NOT NULL AND ${q} IS NOT NULL THEN ${rounded} END`;
  };
  const values = CURATED_MASK_COLUMNS.map((c) => {
    const v = `CASE WHEN ${tooLong} THEN NULL ELSE CAST(${imputedValue(c)} AS DOUBLE) END`;
    return `${c === 'trade_count' ? `CAST(${v} AS BIGINT)` : v} AS ${id(c)}`;
  });
  // The imputation text: strategy names of the columns that got a value, first appearance first.
  const names = CURATED_MASK_COLUMNS.map((c) => strategyName(strategies[c]));
  const applied = CURATED_MASK_COLUMNS.map((c, j) => {
    const earlier = CURATED_MASK_COLUMNS.filter((_, i) => i < j && names[i] === names[j]).map((e) => `${id(e)} IS NULL`);
    return `CASE WHEN ${[`${id(c)} IS NOT NULL`, ...earlier].join(' AND ')} THEN ${sqlString(names[j] as string)} END`;
  });
  const needed = CURATED_MASK_COLUMNS.filter((c) => strategies[c] !== 'none').map((c) => `${id(c)} IS NOT NULL`);
  const linear = linearColumns(config);
  const knownLinear = linear.length > 0 ? `, CASE WHEN NOT (${tooLong}) THEN greatest(${linear.map((c) => `r.${id(`known_${c}`)}`).join(', ')}) END` : '';
  return `SELECT gid, date, symbol, slot, ts, available_ts, grp, run_len, ${CURATED_MASK_COLUMNS.map(id).join(', ')},
      CASE WHEN run_len > ${config.max_gap_bars} THEN 'max_gap_exceeded' ELSE coalesce(nullif(concat_ws('+', ${applied.join(', ')}), ''), 'none') END AS imputation,
      ${needed.length > 0 ? needed.join(' AND ') : 'true'} AS complete
    FROM (
      SELECT g.gid, g.date, g.symbol, g.slot, g.ts, g.grp, greatest(g.ts + ${barMs}, r.run_known${knownLinear}) AS available_ts, r.len AS run_len, ${values.join(', ')}
      FROM ${slots} g JOIN ${runs} r ON r.gid = g.gid AND r.grp = g.grp)`;
}

/**
 * One gap report per (date, symbol) grid with slots: expected, observed, missing, imputed,
 * unfilled, gaps, longest_gap and over_limit (a list of `{start, bars}` per run longer than
 * `max_gap_bars`, in time order).
 */
export function gapReportsSql(config: Config, inputs: GapSqlInputs, runs: string, imputed: string): string {
  return `SELECT e.date, e.symbol, e.n_slots AS expected, coalesce(o.n, 0) AS observed, e.n_slots - coalesce(o.n, 0) AS missing,
      coalesce(i.imputed, 0) AS imputed, coalesce(i.unfilled, 0) AS unfilled, coalesce(r.gaps, 0) AS gaps, coalesce(r.longest, 0) AS longest_gap,
      coalesce(r.over_limit, []) AS over_limit
    FROM ${inputs.extent} e
    LEFT JOIN ${inputs.observedCounts} o ON o.gid = e.gid
    LEFT JOIN (SELECT gid, count(*) AS gaps, max(len) AS longest,
                      list({'start': start_ts, 'bars': len} ORDER BY s0) FILTER (WHERE len > ${config.max_gap_bars}) AS over_limit
               FROM ${runs} GROUP BY gid) r ON r.gid = e.gid
    LEFT JOIN (SELECT gid, count(*) FILTER (WHERE complete) AS imputed, count(*) FILTER (WHERE NOT complete) AS unfilled
               FROM ${imputed} GROUP BY gid) i ON i.gid = e.gid
    WHERE e.n_slots > 0`;
}
