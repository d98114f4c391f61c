import { CURATED_MASK_COLUMNS, type CuratedValueColumn } from '../core/bars.js';
import { sqlIdent, sqlNumber, sqlString } from '../core/sql.js';
import type { GapsConfig, ImputationStrategy } from './dq-config.js';
import { resolveImputation } from './gaps.js';

/**
 * The GapEngine of gaps.ts compiled to SQL (pure: config → SQL text), with the same
 * conventions: only missing slots are imputed; `ffill` of a price takes the previous close,
 * of wap / volume / trade_count that column's previous value; `linear` interpolates between the
 * nearest observed values of the column in the same session (slot indexes, not times, as the
 * JS engine does, so a break does not stretch the line); a leading gap has no earlier value
 * and stays NULL; a run longer than `max_gap_bars` stays NULL everywhere (`max_gap_exceeded`).
 *
 * Input: one row per grid slot, `date, symbol, ts` (epoch ms), `slot` (0-based index in the
 * session's grid), `obs` (an observed bar is there) and the observed values (NULL when missing).
 * Output adds the imputed values, `is_imputed`, `imputation`, `complete` (every column with a
 * strategy other than `none` got a value), `run_len` (length of the missing run a slot is in)
 * and `prev_obs` (last observed slot before it, -1 when none: it identifies the run).
 */

const PRICE = new Set<CuratedValueColumn>(['open', 'high', 'low', 'close']);

function strategyName(s: ImputationStrategy): string {
  return typeof s === 'string' ? s : 'constant';
}

const PRE = 'ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW';
const FOL = 'ROWS BETWEEN CURRENT ROW AND UNBOUNDED FOLLOWING';
const PART = 'PARTITION BY date, symbol ORDER BY slot';

/** The imputed grid: `SELECT` over `slots` (see the module comment). */
export function gapFillSql(config: Pick<GapsConfig, 'imputation' | 'max_gap_bars'>, slots: string): string {
  const strategies = resolveImputation(config.imputation);
  const windows: string[] = [
    `coalesce(max(CASE WHEN obs THEN slot END) OVER (${PART} ${PRE}), -1) AS prev_obs`,
    `coalesce(min(CASE WHEN obs THEN slot END) OVER (${PART} ${FOL}), count(*) OVER (PARTITION BY date, symbol)) AS next_obs`,
  ];
  const ffillSources = new Set<CuratedValueColumn>();
  const linear = new Set<CuratedValueColumn>();
  for (const c of CURATED_MASK_COLUMNS) {
    const s = strategies[c];
    if (s === 'ffill') ffillSources.add(PRICE.has(c) ? 'close' : c);
    if (s === 'linear') linear.add(c);
  }
  for (const c of ffillSources) windows.push(`last_value(${sqlIdent(c)} IGNORE NULLS) OVER (${PART} ${PRE}) AS ${sqlIdent(`ff_${c}`)}`);
  for (const c of linear) {
    const id = sqlIdent(c);
    windows.push(
      `last_value(${id} IGNORE NULLS) OVER (${PART} ${PRE}) AS ${sqlIdent(`la_${c}`)}`,
      `max(CASE WHEN ${id} IS NOT NULL THEN slot END) OVER (${PART} ${PRE}) AS ${sqlIdent(`lp_${c}`)}`,
      `first_value(${id} IGNORE NULLS) OVER (${PART} ${FOL}) AS ${sqlIdent(`lb_${c}`)}`,
      `min(CASE WHEN ${id} IS NOT NULL THEN slot END) OVER (${PART} ${FOL}) AS ${sqlIdent(`lq_${c}`)}`,
    );
  }

  const imputedValue = (c: CuratedValueColumn): string => {
    const s = strategies[c];
    if (s === 'zero') return 'CAST(0 AS DOUBLE)';
    if (typeof s === 'object') return sqlNumber(s.constant);
    if (s === 'ffill') return sqlIdent(`ff_${PRICE.has(c) ? 'close' : c}`);
    if (s === 'none') return 'CAST(NULL AS DOUBLE)';
    const [a, p, b, q] = ['la', 'lp', 'lb', 'lq'].map((k) => sqlIdent(`${k}_${c}`)) as [string, string, string, string];
    const v = `${a} + ((${b} - ${a}) * CAST(slot - ${p} AS DOUBLE)) / CAST(${q} - ${p} AS DOUBLE)`;
    // Math.round: halves go up.
    const rounded = c === 'trade_count' ? `CASE WHEN (${v}) - floor(${v}) >= 0.5 THEN ceil(${v}) ELSE floor(${v}) END` : v;
    return `CASE WHEN ${p} IS NOT NULL AND ${q} IS NOT NULL THEN ${rounded} END`;
  };
  const tooLong = `(next_obs - prev_obs - 1) > ${config.max_gap_bars}`;
  const values = CURATED_MASK_COLUMNS.map((c) => {
    const v = `CASE WHEN obs THEN CAST(${sqlIdent(c)} AS DOUBLE) WHEN ${tooLong} THEN NULL ELSE CAST(${imputedValue(c)} AS DOUBLE) END`;
    return `${c === 'trade_count' ? `CAST(${v} AS BIGINT)` : v} AS ${sqlIdent(c)}`;
  });

  // The imputation text: strategy names of the columns that got a value, first appearance first.
  const names = CURATED_MASK_COLUMNS.map((c) => strategyName(strategies[c]));
  const applied = CURATED_MASK_COLUMNS.map((c, j) => {
    const earlier = CURATED_MASK_COLUMNS.filter((_, i) => i < j && names[i] === names[j]).map((e) => `${sqlIdent(e)} IS NULL`);
    return `CASE WHEN ${[`${sqlIdent(c)} IS NOT NULL`, ...earlier].join(' AND ')} THEN ${sqlString(names[j] as string)} END`;
  });
  const needed = CURATED_MASK_COLUMNS.filter((c) => strategies[c] !== 'none').map((c) => `${sqlIdent(c)} IS NOT NULL`);

  return `SELECT date, symbol, ts, slot, obs, prev_obs, run_len, ${CURATED_MASK_COLUMNS.map(sqlIdent).join(', ')},
      NOT obs AS is_imputed,
      CASE WHEN obs THEN NULL WHEN run_len > ${config.max_gap_bars} THEN 'max_gap_exceeded'
           ELSE coalesce(nullif(concat_ws('+', ${applied.join(', ')}), ''), 'none') END AS imputation,
      ${needed.length > 0 ? needed.join(' AND ') : 'true'} AS complete
    FROM (
      SELECT date, symbol, ts, slot, obs, prev_obs, next_obs - prev_obs - 1 AS run_len, ${values.join(', ')}
      FROM (SELECT *, ${windows.join(',\n        ')} FROM ${slots}))`;
}

/**
 * One gap report per (date, symbol) with slots, over the output of {@link gapFillSql}:
 * expected, observed, missing, imputed, unfilled, gaps, longest_gap and over_limit (a list of
 * `{start, bars}` per run longer than `max_gap_bars`, in time order).
 */
export function gapReportsSql(filled: string, maxGapBars: number): string {
  const runStart = 'NOT obs AND slot = prev_obs + 1';
  return `SELECT date, symbol,
      count(*) AS expected,
      count(*) FILTER (WHERE obs) AS observed,
      count(*) FILTER (WHERE NOT obs) AS missing,
      count(*) FILTER (WHERE NOT obs AND complete) AS imputed,
      count(*) FILTER (WHERE NOT obs AND NOT complete) AS unfilled,
      count(*) FILTER (WHERE ${runStart}) AS gaps,
      coalesce(max(run_len) FILTER (WHERE NOT obs), 0) AS longest_gap,
      coalesce(list({'start': ts, 'bars': run_len} ORDER BY slot) FILTER (WHERE ${runStart} AND run_len > ${maxGapBars}), []) AS over_limit
    FROM ${filled} GROUP BY date, symbol`;
}
