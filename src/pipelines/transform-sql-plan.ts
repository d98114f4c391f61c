import { CURATED_MASK_COLUMNS } from '../core/bars.js';
import { sqlIdent, sqlString } from '../core/sql.js';
import { ruleName, type DqAction, type DqRule, type DqSeverity, type GapsConfig } from '../data-quality/dq-config.js';
import { gapFillSql, gapReportsSql } from '../data-quality/gaps-sql.js';
import { JS_SQL } from '../data-quality/js-compat-sql.js';
import { entityRuleFailuresSql, isEntityRule, rowRuleFailuresSql } from '../data-quality/rules-sql.js';

/**
 * The set-based transform as SQL text compiled from the config (pure: no I/O). The I/O wrapper
 * (transform-sql.ts) stages three small relations from the calendars, runs {@link
 * TransformSqlPlan.compute} in order, reads the summaries and writes each date's curated and
 * quarantine partition from {@link TransformSqlPlan.curatedSelect} / `quarantineSelect`.
 *
 * Staged inputs (names in {@link TransformSqlInputs}):
 * - `symbols (symbol VARCHAR, cal BIGINT)`: the instruments of the run and their calendar;
 * - `sessions (cal BIGINT, cal_name VARCHAR, date VARCHAR, open_ms, close_ms, cut_ms, as_of_ms,
 *   now_ms BIGINT)`: each calendar's session of each date; bars start at most at `cut_ms`
 *   (complete at the run's now); staleness is judged at `as_of_ms`;
 * - `breaks (cal BIGINT, date VARCHAR, start_ms, end_ms BIGINT)`: pauses inside sessions.
 * Instants are epoch ms (BIGINT) throughout, TIMESTAMPTZ again only in the written files.
 * Every date is judged on its own, exactly as one JS run per date (see transform-pipeline.ts).
 */

/** The built-in invalid-record checks, in the order they are tried. */
export const VALIDITY_RULE_NAMES = ['valid_ts', 'finite_price', 'positive_price', 'non_negative_volume'] as const;

export interface TransformSqlInputs {
  /** SQL relation over the committed raw rows of the dates (RawStore.relationSql, not deduplicated). */
  readonly raw: string;
  readonly symbols: string;
  readonly sessions: string;
  readonly breaks: string;
}

export interface TransformSqlConfig {
  /** `dq_rules.tws_bars`. */
  readonly rules: readonly DqRule[];
  readonly gaps: Pick<GapsConfig, 'frequency' | 'imputation' | 'max_gap_bars' | 'over_limit'>;
  /** Grid step and bar length, ms. */
  readonly barMs: number;
}

/** A rule as outcomes report it, in outcome order: validity, configured rules, off_grid, max_gap_bars. */
export interface PlannedRule {
  readonly index: number;
  readonly name: string;
  readonly type: string;
  readonly severity: DqSeverity;
  readonly action: DqAction;
  /** Failures are about one bar: the ledger prefixes them with its instant. */
  readonly perBar: boolean;
}

export interface TransformSqlPlan {
  readonly rules: readonly PlannedRule[];
  /** Statements that build the temporary tables, in order. */
  readonly compute: readonly string[];
  /** Drops every temporary table of the plan. */
  readonly drop: readonly string[];
  /** Per date: `raw_rows, deduped, invalid, valid, incomplete` and `null_<column>` counts over valid rows. */
  readonly countsQuery: string;
  /** Per date and quarantine stage: `date, stage, n`. */
  readonly quarantineCountsQuery: string;
  /** Per date and rule: `date, rule_idx, n`. */
  readonly ruleCountsQuery: string;
  /** Gap reports, sorted by date and symbol. */
  readonly reportsQuery: string;
  /** Per date, the first `limit` failures in outcome order plus the first `perRule` of each rule: `date, rule_idx, symbol, reason`. */
  failuresQuery(limit: number, perRule: number): string;
  /** The curated rows of one date (CURATED_COLUMNS). */
  curatedSelect(date: string): string;
  /** The quarantine rows of one date (QUARANTINE_COLUMNS). */
  quarantineSelect(date: string): string;
}

const MAX_SAFE = '9007199254740991';

/** Compiles the transform of the dates of the staged sessions; temporary tables are named `<prefix>_…`. */
export function compileTransformPlan(cfg: TransformSqlConfig, inputs: TransformSqlInputs, prefix: string): TransformSqlPlan {
  if (!/^[a-z][a-z0-9_]{0,40}$/.test(prefix)) throw new RangeError(`bad temporary table prefix ${prefix}`);
  const freq = cfg.barMs;
  const t = (name: string): string => `${prefix}_${name}`;
  const grid = t('grid');
  const rows = t('rows');
  const fail = t('fail');
  const quar = t('quar');
  const fill = t('fill');
  const stats = t('stats');

  const rules: PlannedRule[] = VALIDITY_RULE_NAMES.map((name, index) => ({ index, name, type: 'validity', severity: 'error', action: 'quarantine', perBar: true }));
  for (const r of cfg.rules) {
    rules.push({ index: rules.length, name: ruleName(r), type: r.type, severity: r.severity, action: r.action, perBar: !isEntityRule(r) });
  }
  const offGridIdx = rules.length;
  rules.push({ index: offGridIdx, name: 'off_grid', type: 'grid', severity: 'warn', action: 'quarantine', perBar: false });
  const maxGapIdx = rules.length;
  rules.push({ index: maxGapIdx, name: 'max_gap_bars', type: 'gap', severity: cfg.gaps.over_limit.severity, action: cfg.gaps.over_limit.action, perBar: false });
  const dqRule = (i: number): PlannedRule => rules[VALIDITY_RULE_NAMES.length + i] as PlannedRule;

  const gridSql = `CREATE TEMP TABLE ${grid} AS
    SELECT cal, date, ts, row_number() OVER (PARTITION BY cal, date ORDER BY ts) - 1 AS slot
    FROM (SELECT s.cal, s.date, unnest(range(s.open_ms, s.close_ms, ${freq})) AS ts FROM ${inputs.sessions} s) g
    WHERE NOT EXISTS (SELECT 1 FROM ${inputs.breaks} b WHERE b.cal = g.cal AND b.date = g.date AND g.ts >= b.start_ms AND g.ts < b.end_ms)`;

  // The first validity check a row fails, as {i: index, f: field, v: value, s: suffix}: one
  // number to format per row (formatting is costly to bind, once per call site).
  const prices = ['open', 'high', 'low', 'close'];
  const check = (i: number, field: string, value: string, suffix: string): string =>
    `{'i': ${i}, 'f': ${sqlString(field)}, 'v': CAST(${value} AS DOUBLE), 's': ${sqlString(suffix)}}`;
  const validity = `CASE
      WHEN ts <= 0 OR ts > ${MAX_SAFE} THEN ${check(0, 'ts', 'ts', ' is not a valid epoch-ms instant')}
      ${prices.map((c) => `WHEN ${c} IS NULL OR NOT isfinite(${c}) THEN ${check(1, c, c, ' is not a finite number')}`).join('\n      ')}
      ${prices.map((c) => `WHEN NOT (${c} > 0) THEN ${check(2, c, c, ' is not positive')}`).join('\n      ')}
      WHEN volume IS NULL OR NOT isfinite(volume) THEN ${check(3, 'volume', 'volume', ' is not a finite number')}
      WHEN volume < 0 THEN ${check(3, 'volume', 'volume', ' is negative')} END`;
  const inSession = '(ts >= open_ms AND ts < close_ms)';
  const inBreak = `EXISTS (SELECT 1 FROM ${inputs.breaks} b WHERE b.cal = x.cal AND b.date = x.date AND x.ts >= b.start_ms AND x.ts < b.end_ms)`;
  const iso = (c: string): string => `${JS_SQL.iso}(${c})`;
  const rowsSql = `CREATE TEMP TABLE ${rows} AS
    WITH raw AS (
      SELECT r.*, y.cal FROM ${inputs.raw} r
      JOIN ${inputs.symbols} y ON y.symbol = r.symbol
      JOIN ${inputs.sessions} s ON s.cal = y.cal AND s.date = r.date
    ), latest AS (
      SELECT * EXCLUDE (rn) FROM (
        SELECT *, count(*) OVER (PARTITION BY date, symbol, ts) AS versions,
               row_number() OVER (PARTITION BY date, symbol, ts ORDER BY ingestion_ts DESC, batch_id DESC, source, request_id, close, open, high, low, volume) AS rn
        FROM raw)
      WHERE rn = 1
    ), norm AS (
      SELECT date, cal, source, symbol, con_id, what_to_show, bar_size, coalesce(epoch_ms(ts), 0) AS ts,
             open, high, low, close, volume,
             CASE WHEN isfinite(wap) AND wap > 0 THEN wap END AS wap,
             CASE WHEN trade_count >= 0 THEN trade_count END AS trade_count,
             batch_id, epoch_ms(ingestion_ts) AS ingestion_ts, request_id, versions
      FROM latest
    ), x AS (
      SELECT norm.*, s.cal_name, s.open_ms, s.close_ms, s.cut_ms, s.now_ms, g.slot,
             g.slot IS NOT NULL AND norm.ts <= s.cut_ms AS on_grid
      FROM norm JOIN ${inputs.sessions} s ON s.cal = norm.cal AND s.date = norm.date
      LEFT JOIN ${grid} g ON g.cal = norm.cal AND g.date = norm.date AND g.ts = norm.ts
    ), c AS (
      SELECT x.*, ${validity} AS vp,
             NOT on_grid AND ${inSession} AND ts + ${freq} > now_ms AS incomplete,
             CASE WHEN NOT ${inSession} THEN ' is outside the ' || cal_name || ' sessions ' || date || '..' || date
                  WHEN ${inBreak} THEN ' falls in a trading break of ' || cal_name || ' session ' || date
                  ELSE ${sqlString(` is not on the ${cfg.gaps.frequency} grid of session `)} || date END AS grid_suffix
      FROM x
    )
    SELECT c.* EXCLUDE (cal_name, open_ms, close_ms, cut_ms, now_ms, vp, grid_suffix),
           CAST(vp.i AS INTEGER) AS vrule_idx,
           CASE WHEN vp.i IS NOT NULL THEN vp.f || ' ' || ${JS_SQL.num}(vp.v) || vp.s END AS vreason,
           CASE WHEN NOT on_grid AND NOT incomplete THEN ${iso('ts')} || grid_suffix END AS grid_reason
    FROM c`;

  const valid = `(SELECT * FROM ${rows} WHERE vrule_idx IS NULL)`;
  const failParts = [`SELECT vrule_idx AS rule_idx, date, symbol, ts, vreason AS reason FROM ${rows} WHERE vrule_idx IS NOT NULL`];
  cfg.rules.forEach((r, i) => {
    if (isEntityRule(r)) return;
    const sql = rowRuleFailuresSql(r, valid);
    if (sql !== null) failParts.push(`SELECT ${dqRule(i).index} AS rule_idx, date, symbol, ts, reason FROM (${sql})`);
  });
  const failSql = `CREATE TEMP TABLE ${fail} AS
    SELECT CAST(rule_idx AS INTEGER) AS rule_idx, date, symbol, CAST(ts AS BIGINT) AS ts, reason FROM (${failParts.join('\nUNION ALL ')})`;

  // Quarantine: invalid rows, then rows failing a quarantine rule (the first in config order
  // names it, the others are listed), then kept rows off the grid.
  const qRules = rules.filter((r) => r.type !== 'validity' && r.type !== 'grid' && r.type !== 'gap' && r.action === 'quarantine');
  const quarSql = `CREATE TEMP TABLE ${quar} AS
    SELECT date, symbol, ts, 'validity' AS stage,
           CASE vrule_idx ${VALIDITY_RULE_NAMES.map((name, i) => `WHEN ${i} THEN ${sqlString(name)}`).join(' ')} END AS rule,
           vreason AS reason, CAST(NULL AS VARCHAR) AS other_rules
    FROM ${rows} WHERE vrule_idx IS NOT NULL
    ${qRules.length > 0
      ? `UNION ALL
    SELECT date, symbol, ts, 'dq', arg_min(name, rule_idx), arg_min(reason, rule_idx), nullif(array_to_string(list(name ORDER BY rule_idx)[2:], ','), '')
    FROM (SELECT *, CASE rule_idx ${qRules.map((r) => `WHEN ${r.index} THEN ${sqlString(r.name)}`).join(' ')} END AS name
          FROM ${fail} WHERE rule_idx IN (${qRules.map((r) => r.index).join(', ')}))
    GROUP BY date, symbol, ts`
      : ''}`;

  const kept = `(SELECT r.* FROM ${rows} r ANTI JOIN ${quar} q ON q.date = r.date AND q.symbol = r.symbol AND q.ts = r.ts WHERE r.vrule_idx IS NULL)`;
  const offGridSql = `INSERT INTO ${quar}
    SELECT date, symbol, ts, 'grid', 'off_grid', grid_reason, NULL FROM ${kept} k WHERE grid_reason IS NOT NULL`;

  const values = CURATED_MASK_COLUMNS.map(sqlIdent);
  const slots = `(SELECT y.symbol, s.date, g.ts, g.slot, k.ts IS NOT NULL AS obs, ${values.map((c) => `k.${c}`).join(', ')}
      FROM ${inputs.symbols} y
      JOIN ${inputs.sessions} s ON s.cal = y.cal
      JOIN ${grid} g ON g.cal = s.cal AND g.date = s.date AND g.ts <= s.cut_ms
      LEFT JOIN (SELECT * FROM ${kept} WHERE on_grid) k ON k.symbol = y.symbol AND k.date = s.date AND k.ts = g.ts)`;
  const fillSql = `CREATE TEMP TABLE ${fill} AS ${gapFillSql(cfg.gaps, slots)}`;

  const statsSql = `CREATE TEMP TABLE ${stats} AS
    SELECT y.symbol, s.date, coalesce(e.expected, 0) AS expected, coalesce(v.observed, 0) AS observed, v.last_ts, s.as_of_ms AS as_of
    FROM ${inputs.symbols} y JOIN ${inputs.sessions} s ON s.cal = y.cal
    LEFT JOIN (SELECT date, symbol, count(*) AS expected FROM ${fill} GROUP BY ALL) e ON e.symbol = y.symbol AND e.date = s.date
    LEFT JOIN (SELECT date, symbol, count(*) FILTER (WHERE on_grid) AS observed, max(ts) AS last_ts FROM ${valid} GROUP BY ALL) v
      ON v.symbol = y.symbol AND v.date = s.date`;

  const laterFails: string[] = [];
  cfg.rules.forEach((r, i) => {
    if (isEntityRule(r)) laterFails.push(`SELECT ${dqRule(i).index}, date, symbol, CAST(NULL AS BIGINT), reason FROM (${entityRuleFailuresSql(r, stats, freq)})`);
  });
  laterFails.push(`SELECT ${offGridIdx}, date, symbol, ts, reason FROM ${quar} WHERE stage = 'grid'`);
  laterFails.push(`SELECT ${maxGapIdx}, date, symbol, ts,
      date || ': ' || CAST(run_len AS VARCHAR) || ${sqlString(` missing ${cfg.gaps.frequency} bars from `)} || ${iso('ts')} || ${sqlString(` exceed max_gap_bars ${cfg.gaps.max_gap_bars}; left NULL`)}
    FROM ${fill} WHERE NOT obs AND slot = prev_obs + 1 AND run_len > ${cfg.gaps.max_gap_bars}`);
  const laterFailSql = `INSERT INTO ${fail} ${laterFails.join('\nUNION ALL ')}`;

  const perBar = rules.filter((r) => r.perBar).map((r) => r.index);
  const ledgerReason = `CASE WHEN rule_idx IN (${perBar.join(', ')}) THEN ${iso('ts')} || ': ' || reason ELSE reason END`;

  const curatedColumns = [
    'symbol',
    'CAST(epoch_ms(ts) AS TIMESTAMPTZ) AS ts',
    ...values,
    'is_imputed',
    'imputation',
    ...CURATED_MASK_COLUMNS.map((c) => `NOT obs AS ${sqlIdent(`${c}_imputed`)}`),
  ];
  const finite = (c: string): string => `CASE WHEN isfinite(r.${c}) THEN r.${c} END AS ${c}`;
  const quarantineColumns = [
    'r.source',
    'r.symbol',
    'r.con_id',
    'r.what_to_show',
    'CAST(epoch_ms(r.ts) AS TIMESTAMPTZ) AS ts',
    ...['open', 'high', 'low', 'close', 'volume', 'wap'].map(finite),
    'r.trade_count',
    'r.batch_id',
    'CAST(epoch_ms(r.ingestion_ts) AS TIMESTAMPTZ) AS ingestion_ts',
    'r.request_id',
    'q.stage',
    'q.rule',
    'q.reason',
    'q.other_rules',
  ];

  return {
    rules,
    compute: [gridSql, rowsSql, failSql, quarSql, offGridSql, fillSql, statsSql, laterFailSql],
    drop: [grid, rows, fail, quar, fill, stats].map((name) => `DROP TABLE IF EXISTS ${name}`),
    countsQuery: `SELECT r.date, sum(versions) AS raw_rows, count(*) AS deduped,
        count(*) FILTER (WHERE vrule_idx IS NOT NULL) AS invalid,
        count(*) FILTER (WHERE vrule_idx IS NULL) AS valid,
        count(*) FILTER (WHERE vrule_idx IS NULL AND incomplete AND q.ts IS NULL) AS incomplete,
        ${CURATED_MASK_COLUMNS.map((c) => `count(*) FILTER (WHERE vrule_idx IS NULL AND (${c} IS NULL${c === 'trade_count' ? '' : ` OR isnan(${c})`})) AS ${sqlIdent(`null_${c}`)}`).join(',\n        ')}
      FROM ${rows} r LEFT JOIN (SELECT date, symbol, ts FROM ${quar} WHERE stage = 'dq') q ON q.date = r.date AND q.symbol = r.symbol AND q.ts = r.ts
      GROUP BY r.date ORDER BY r.date`,
    quarantineCountsQuery: `SELECT date, stage, count(*) AS n FROM ${quar} GROUP BY ALL ORDER BY ALL`,
    ruleCountsQuery: `SELECT date, rule_idx, count(*) AS n FROM ${fail} GROUP BY ALL ORDER BY ALL`,
    reportsQuery: `${gapReportsSql(fill, cfg.gaps.max_gap_bars)} ORDER BY date, symbol`,
    failuresQuery: (limit, perRule) => `SELECT date, rule_idx, symbol, ${ledgerReason} AS reason FROM (
        SELECT *, row_number() OVER (PARTITION BY date ORDER BY rule_idx, symbol, ts NULLS FIRST) AS k,
                  row_number() OVER (PARTITION BY date, rule_idx ORDER BY symbol, ts NULLS FIRST) AS kr
        FROM ${fail}) WHERE k <= ${limit} OR kr <= ${perRule}
      ORDER BY date, rule_idx, symbol, ts NULLS FIRST`,
    curatedSelect: (date) => `SELECT ${curatedColumns.join(', ')} FROM ${fill} WHERE date = ${sqlString(date)}`,
    quarantineSelect: (date) => `SELECT ${quarantineColumns.join(', ')}
      FROM ${quar} q JOIN ${rows} r ON r.date = q.date AND r.symbol = q.symbol AND r.ts = q.ts WHERE q.date = ${sqlString(date)}`,
  };
}
