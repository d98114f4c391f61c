import { sqlIdent, sqlString } from '../core/sql.js';
import { LABEL_DROP_REASONS } from './labels.js';
import type { LabelSpec } from './training-config.js';

/** What labelsSql reads. */
export interface LabelSqlSource {
  /**
   * Bar rows: symbol, ts (TIMESTAMPTZ, bar start), close, is_imputed, date (the session date),
   * and `available_ts` when `hasAvailable`.
   */
  readonly relation: string;
  readonly hasAvailable: boolean;
  readonly barMs: number;
}

/**
 * The labels of every bar of `source` as one SQL relation: the rows and drop reasons of
 * computeLabels (labels.ts, the reference this is tested against), computed by DuckDB window
 * functions over each symbol's bars in ts order, so no bar leaves the engine. Columns: symbol,
 * ts, session_date (DATE), anchor_ts, label_end_ts (TIMESTAMPTZ), the label (named after the
 * spec), label_imputed, and `drop_reason`: NULL for a labelled anchor, else the first of
 * LABEL_DROP_REASONS that applies (the label is then NULL). Anchors are limited to session
 * dates in [start, end]; bars after `end` are read only as label windows.
 */
export function labelsSql(source: LabelSqlSource, spec: LabelSpec, start: string, end: string): string {
  const h = Math.trunc(spec.horizon_bars);
  const bar = Math.trunc(source.barMs);
  const w = 'PARTITION BY symbol ORDER BY t';
  const available = `coalesce(epoch_ms(available_ts), epoch_ms(ts) + ${bar})`;
  const needAllPositive = spec.kind === 'forward_log_return' || spec.kind === 'forward_volatility';
  // Each reason as a condition over the window aggregates below (bars t … t+h of the anchor t).
  // DuckDB's ln() raises on zero and negatives, so logs are taken of positive ratios only
  // (any other anchor is dropped as invalid_price before its label is used).
  const conditions: Record<string, string> = {
    end_of_series: 'te IS NULL',
    session_end: spec.across_sessions ? 'false' : 'de <> d',
    grid_gap: 'gaps > 0',
    imputed: spec.imputed_policy === 'drop' ? 'any_imputed' : 'false',
    // Without a stored available_ts every bar is available at ts + bar, never after te + bar.
    unavailable: source.hasAvailable ? `available_max > te + ${bar}` : 'false',
    missing_value: 'missing > 0',
    invalid_price: needAllPositive ? 'non_positive > 0' : 'c <= 0',
  };
  const reasons = LABEL_DROP_REASONS.map((r) => {
    const cond = conditions[r];
    if (cond === undefined) throw new Error(`labelsSql: no SQL condition for label drop reason ${r}`);
    return `WHEN ${cond} THEN ${sqlString(r)}`;
  });
  const threshold = spec.threshold ?? 0;
  let label: string;
  switch (spec.kind) {
    case 'forward_return':
      label = 'ce / c - 1';
      break;
    case 'forward_log_return':
      label = 'ln(CASE WHEN ce > 0 AND c > 0 THEN ce / c END)';
      break;
    case 'direction':
      label = `CASE WHEN ce / c - 1 > ${threshold} THEN 1 WHEN ce / c - 1 < ${-threshold} THEN -1 ELSE 0 END`;
      break;
    case 'forward_volatility':
      label = 'sqrt(rv2)';
      break;
  }
  // The four counts over the window [t, t+h] come from one framed sum of the flags packed in
  // base K = h + 2 (each count is at most h + 1 < K; K^4 stays far below 2^63). bad_step(t)
  // describes the step into t, outside (t, t+h], so it is taken back out of the grid-gap count.
  const K = h + 2;
  const field = (k: number): string => `(packed // ${K ** k}) % ${K}`;
  const frame = `${w} ROWS BETWEEN CURRENT ROW AND ${h} FOLLOWING`;
  return `(WITH b AS (
      SELECT symbol, ts, epoch_ms(ts) AS t, CAST(date AS VARCHAR) AS d, CAST(close AS DOUBLE) AS c,
             coalesce(CAST(is_imputed AS BOOLEAN), false) AS imp${source.hasAvailable ? `, ${available} AS av` : ''}
      FROM ${source.relation}),
    s AS (
      SELECT *,
             CASE WHEN lag(d) OVER (${w}) = d AND t - lag(t) OVER (${w}) <> ${bar} THEN 1 ELSE 0 END AS bad_step${
               spec.kind === 'forward_volatility' ? `,
             CASE WHEN c > 0 AND lag(c) OVER (${w}) > 0 THEN ln(c / lag(c) OVER (${w})) END AS lr` : ''
             }
      FROM b),
    f AS (
      SELECT *, CAST(bad_step + ${K} * (CASE WHEN imp THEN 1 ELSE 0 END)
                  + ${K ** 2} * (CASE WHEN c IS NULL OR NOT isfinite(c) THEN 1 ELSE 0 END)
                  + ${K ** 3} * (CASE WHEN c <= 0 THEN 1 ELSE 0 END) AS BIGINT) AS flags
      FROM s),
    y AS (
      SELECT symbol, ts, t, d, c, bad_step,
             lead(t, ${h}) OVER (${w}) AS te, lead(d, ${h}) OVER (${w}) AS de, lead(c, ${h}) OVER (${w}) AS ce,
             sum(flags) OVER (${frame}) AS packed${
               spec.kind === 'forward_volatility' ? `,
             sum(lr * lr) OVER (${w} ROWS BETWEEN 1 FOLLOWING AND ${h} FOLLOWING) AS rv2` : ''
             }${source.hasAvailable ? `,
             max(av) OVER (${frame}) AS available_max` : ''}
      FROM f),
    x AS (
      SELECT *, ${field(0)} - bad_step AS gaps, ${field(1)} > 0 AS any_imputed, ${field(2)} AS missing, ${field(3)} AS non_positive
      FROM y),
    r AS (SELECT *, CASE ${reasons.join(' ')} END AS drop_reason FROM x WHERE d >= ${sqlString(start)} AND d <= ${sqlString(end)})
    SELECT symbol, ts, CAST(d AS DATE) AS session_date,
           CAST(epoch_ms(CAST(t + ${bar} AS BIGINT)) AS TIMESTAMPTZ) AS anchor_ts,
           CAST(epoch_ms(CAST(te + ${bar} AS BIGINT)) AS TIMESTAMPTZ) AS label_end_ts,
           CASE WHEN drop_reason IS NULL THEN CAST(${label} AS DOUBLE) END AS ${sqlIdent(spec.name)},
           coalesce(any_imputed, false) AS label_imputed,
           drop_reason
    FROM r)`;
}
