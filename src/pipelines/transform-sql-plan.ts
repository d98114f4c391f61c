import { CURATED_MASK_COLUMNS } from '../core/bars.js';
import { sqlIdent, sqlString } from '../core/sql.js';
import { ruleName, type DqAction, type DqRule, type DqSeverity, type GapsConfig } from '../data-quality/dq-config.js';
import { gapImputedSql, gapReportsSql, gapRunNeighboursSql, gapRunsSql, gapSlotsSql, type GapSqlInputs } from '../data-quality/gaps-sql.js';
import { JS_SQL } from '../data-quality/js-compat-sql.js';
import { entityRuleFailuresSql, isEntityRule, outlierPasses, rowRuleFailuresSql, ruleColumnsRead } from '../data-quality/rules-sql.js';

/**
 * The set-based transform as SQL text compiled from the config (pure: no I/O). The I/O wrapper
 * (transform-sql.ts) stages three small relations from the calendars, runs {@link
 * TransformSqlPlan.compute} in order, reads the summaries and writes each date's curated and
 * quarantine partition from {@link TransformSqlPlan.curatedSelect} / `quarantineSelect`.
 *
 * Staged inputs (names in {@link TransformSqlInputs}):
 * - `symbols (symbol VARCHAR, cal BIGINT, sid BIGINT)`: the instruments of the run, their
 *   calendar and a small distinct number (< 2^20);
 * - `sessions (cal BIGINT, cal_name VARCHAR, date VARCHAR, day BIGINT, open_ms, close_ms, cut_ms,
 *   as_of_ms, now_ms BIGINT, final BOOLEAN, n_full, n_cut BIGINT)`: each calendar's session of each
 *   date (`day` numbers the dates); bars start at most at `cut_ms` (complete at the run's now);
 *   staleness is judged at `as_of_ms`; `final` when the run is past the close plus
 *   `gaps.final_grace` (intraday-cutoff.ts); `n_full` grid bars (the calendar's expected bar
 *   starts, breaks left out), `n_cut` of them start at most at `cut_ms`;
 * - `breaks (cal BIGINT, date VARCHAR, start_ms, end_ms BIGINT)`: pauses inside sessions.
 * Instants are epoch ms (BIGINT) throughout, TIMESTAMPTZ again only in the written files; a
 * (date, symbol) pair is keyed by one number, `gid = day * 2^20 + sid`, for cheap joins and sorts.
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
  /** Most grid slots of any staged session (bounds the per-grid bitmaps). */
  readonly maxSlots: number;
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

/** One round trip of the plan's computation. */
export interface TransformSqlStep {
  /** One statement, or several separated by `;` (the count is the last one's). */
  readonly sql: string;
  /** Names the rows the step's last statement inserts, for later steps' {@link onlyIfRows}. */
  readonly counts?: string;
  /** The step is skipped (neither planned nor run) when the step that counts this name inserted no rows. */
  readonly onlyIfRows?: string;
  /** When the step that counts `counted` inserted no rows, `sql` (cheaper, for that case) runs instead. */
  readonly unless?: { readonly counted: string; readonly sql: string };
}

export interface TransformSqlPlan {
  readonly rules: readonly PlannedRule[];
  /** Steps that build the temporary tables, in order. */
  readonly compute: readonly TransformSqlStep[];
  /** Drops every temporary table of the plan. */
  readonly drop: readonly string[];
  /**
   * What JS reads back, in one row of JSON lists (VARCHAR), each in its order:
   * - `counts`, per date: `raw_rows, deduped, invalid, valid, incomplete` and `null_<column>` counts over valid rows;
   * - `cutoffs`, per date and open instrument: `final` (its run is the session's final one),
   *   `last_bar_start` (the cutoff of an intraday run; NULL when final or without raw rows) and
   *   `not_arrived` (grid bars complete at now but after the cutoff);
   * - `failureCounts`, per date: quarantined rows per stage (`date, stage, NULL, n`) and failures per rule (`date, NULL, rule_idx, n`);
   * - `failures`, per date: the first `limit` failures in outcome order plus the first `perRule` of each rule (`date, rule_idx, symbol, reason`);
   * - `reports`: the gap reports, by date and symbol.
   */
  resultsQuery(limit: number, perRule: number): string;
  /** The curated rows of one date: CURATED_BARS' columns, in `(symbol, ts)` order (an ORDER BY of its own). */
  curatedSelect(date: string): string;
  /** The quarantine rows of one date (QUARANTINE's columns). */
  quarantineSelect(date: string): string;
}

const MAX_SAFE = '9007199254740991';

/**
 * Epoch ms → TIMESTAMPTZ. to_timestamp(seconds) rounds to the microsecond, so it is exact for
 * whole ms, and an order of magnitude cheaper than casting a TIMESTAMP (which goes through the
 * session's time zone).
 */
function instant(ms: string): string {
  return `to_timestamp(CAST(${ms} AS DOUBLE) / 1000)`;
}
/** gid = day * GID_SPAN + sid. */
const GID_SPAN = 1_048_576;

/**
 * Compiles the transform of `dates` (the staged sessions' `day` is the index in this list);
 * temporary tables are named `<prefix>_…`.
 */
export function compileTransformPlan(cfg: TransformSqlConfig, inputs: TransformSqlInputs, prefix: string, dates: readonly string[]): TransformSqlPlan {
  if (!/^[a-z][a-z0-9_]{0,40}$/.test(prefix)) throw new RangeError(`bad temporary table prefix ${prefix}`);
  const freq = cfg.barMs;
  const t = (name: string): string => `${prefix}_${name}`;
  const grid = t('grid');
  const sess = inputs.sessions;
  const rows = t('rows');
  const dups = t('dups');
  const fail = t('fail');
  const doubt = t('doubt');
  const quar = t('quar');
  const gids = t('gids');
  const qout = t('qout');
  const gslots = t('gslots');
  const neighbours = t('neighbours');
  const runs = t('runs');
  const imputed = t('imputed');
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

  // The calendar grid: each calendar's bar starts of each session (breaks left out), with their slot index.
  const gridSql = `CREATE TEMP TABLE ${grid} AS
    SELECT cal, day, ts, row_number() OVER (PARTITION BY cal, day ORDER BY ts) - 1 AS slot
    FROM (SELECT s.cal, s.day, s.date, unnest(range(s.open_ms, s.close_ms, ${freq})) AS ts FROM ${inputs.sessions} s) g
    WHERE NOT EXISTS (SELECT 1 FROM ${inputs.breaks} b WHERE b.cal = g.cal AND b.date = g.date AND g.ts >= b.start_ms AND g.ts < b.end_ms)`;
  // The raw rows of the run's instruments on their session dates.
  // The session's bounds ride along (s_*) so that later steps need not join the sessions again.
  const rawRows = `(SELECT r.*, y.cal, s.day * ${GID_SPAN} + y.sid AS gid, s.day AS s_day, s.open_ms AS s_open, s.close_ms AS s_close, s.cut_ms AS s_cut, s.now_ms AS s_now
      FROM ${inputs.raw} r
      JOIN ${inputs.symbols} y ON y.symbol = r.symbol
      JOIN ${sess} s ON s.cal = y.cal AND s.date = r.date)`;

  // Whether a bar (start `ts`, its grid `slot` or NULL) is on its session's grid as the run cuts it,
  // or else still incomplete at now: for the rows as they are read, and for quarantined rows again.
  const barFlags = (slot: string, ts: string, s: { cut: string; open: string; close: string; now: string }): { onGrid: string; incomplete: string } => {
    const onGrid = `(${slot} IS NOT NULL AND ${ts} <= ${s.cut})`;
    return { onGrid, incomplete: `NOT ${onGrid} AND ${ts} >= ${s.open} AND ${ts} < ${s.close} AND ${ts} + ${freq} > ${s.now}` };
  };
  const prices = ['open', 'high', 'low', 'close'];
  const validityIdx = `CASE
      WHEN ts <= 0 OR ts > ${MAX_SAFE} THEN 0
      WHEN ${prices.map((c) => `${c} IS NULL OR NOT isfinite(${c})`).join(' OR ')} THEN 1
      WHEN ${prices.map((c) => `NOT (${c} > 0)`).join(' OR ')} THEN 2
      WHEN volume IS NULL OR NOT isfinite(volume) OR volume < 0 THEN 3 END`;
  // Why a row is invalid, for invalid rows only: field, value (one number to format: a
  // formatting call is costly to bind) and what is wrong, in the order the checks are tried.
  const firstBad = (pick: (c: string, kind: 'finite' | 'positive' | 'volume_finite' | 'volume_negative' | 'ts') => string): string => `CASE
      WHEN ts <= 0 OR ts > ${MAX_SAFE} THEN ${pick('ts', 'ts')}
      ${prices.map((c) => `WHEN ${c} IS NULL OR NOT isfinite(${c}) THEN ${pick(c, 'finite')}`).join('\n      ')}
      ${prices.map((c) => `WHEN NOT (${c} > 0) THEN ${pick(c, 'positive')}`).join('\n      ')}
      WHEN volume IS NULL OR NOT isfinite(volume) THEN ${pick('volume', 'volume_finite')}
      ELSE ${pick('volume', 'volume_negative')} END`;
  const suffix = { ts: ' is not a valid epoch-ms instant', finite: ' is not a finite number', positive: ' is not positive', volume_finite: ' is not a finite number', volume_negative: ' is negative' };
  // One CASE picks field, value and text together; the value is formatted by one call.
  const vreason = `list_transform([${firstBad((c, k) => `{'f': ${sqlString(c)}, 'v': CAST(${c} AS DOUBLE), 's': ${sqlString(suffix[k])}}`)}], b -> b.f || ' ' || ${JS_SQL.num}(b.v) || b.s)[1]`;
  const iso = (c: string): string => `${JS_SQL.iso}(${c})`;

  // One row per (date, symbol, ts): the latest ingestion wins, then the greatest batch id. Hash
  // based: only keys that have several versions go through a window. Only the columns the
  // transform and its rules read are kept; quarantined rows get the others back from the raw
  // files (a quarantine row keeps every column).
  const wide = ['source', 'con_id', 'what_to_show', 'bar_size', 'request_id', 'batch_id', 'ingestion_ts'];
  const extra = wide.filter((c) => cfg.rules.some((r) => ruleColumnsRead(r).includes(c)));
  const extraSql = extra.map((c) => (c === 'ingestion_ts' ? 'epoch_ms(ingestion_ts) AS ingestion_ts' : c));
  // An INSERT, for its count: without keys of several versions (the usual case), the rows step
  // reads the raw files once, with no dedup at all.
  const dupsSql = `CREATE TEMP TABLE ${dups} (gid BIGINT, ts BIGINT, versions BIGINT);
    INSERT INTO ${dups} SELECT gid, coalesce(epoch_ms(ts), 0) AS ts, count(*) AS versions FROM ${rawRows} GROUP BY gid, coalesce(epoch_ms(ts), 0) HAVING count(*) > 1`;
  // `r` is read twice (rows without other versions; the few keys with several) rather than
  // materialized: a second scan of the raw file costs less than copying every row once more.
  const rowFlags = barFlags('g.slot', 'l.ts', { cut: 'l.s_cut', open: 'l.s_open', close: 'l.s_close', now: 'l.s_now' });
  const rowsOf = (latest: string): string => `CREATE TEMP TABLE ${rows} AS
    WITH r AS NOT MATERIALIZED (
      SELECT gid, cal AS s_cal, coalesce(epoch_ms(ts), 0) AS ts, open, high, low, close, volume,
             CASE WHEN isfinite(wap) AND wap > 0 THEN wap END AS wap,
             CASE WHEN trade_count >= 0 THEN trade_count END AS trade_count,
             ${extraSql.map((c) => `${c}, `).join('')}batch_id AS dedup_batch, ingestion_ts AS dedup_ingestion,
             s_day, s_open, s_close, s_cut, s_now
      FROM ${rawRows}
    ), latest AS (${latest}), x AS (
      SELECT l.* EXCLUDE (s_cal, s_day, s_open, s_close, s_cut, s_now), g.slot, ${rowFlags.onGrid} AS on_grid, ${rowFlags.incomplete} AS incomplete
      FROM (SELECT * EXCLUDE (dedup_batch, dedup_ingestion), CAST(${validityIdx} AS INTEGER) AS vrule_idx FROM latest) l
      LEFT JOIN ${grid} g ON g.cal = l.s_cal AND g.day = l.s_day AND g.ts = l.ts
    )
    SELECT * FROM x`;
  const rowsStep: TransformSqlStep = {
    sql: rowsOf(`
      SELECT * FROM r ANTI JOIN ${dups} d ON d.gid = r.gid AND d.ts = r.ts
      UNION ALL
      SELECT * FROM (SELECT r.* FROM r SEMI JOIN ${dups} d ON d.gid = r.gid AND d.ts = r.ts)
      QUALIFY row_number() OVER (PARTITION BY gid, ts ORDER BY dedup_ingestion DESC, dedup_batch DESC) = 1
    `),
    unless: { counted: dups, sql: rowsOf('SELECT * FROM r') },
  };

  // The rows table holds no text: names (date, symbol) cost more to materialize than all the
  // numbers. They come back from the grids' table (one row per gid) by a join, which the few
  // statements that need them run after their filters.
  const named = (rel: string): string => `(SELECT x.*, n.date, n.symbol FROM ${rel} x JOIN ${gids} n ON n.gid = x.gid)`;
  const valid = `(SELECT * FROM ${rows} WHERE vrule_idx IS NULL)`;
  // The invalid rows gathered before their reasons are formatted (the formatting macros cost
  // per input chunk: see rules-sql.ts).
  const failParts = [`SELECT vrule_idx AS rule_idx, gid, date, symbol, ts, ${vreason} AS reason
    FROM (WITH f AS MATERIALIZED (SELECT * FROM ${named(`(SELECT * FROM ${rows} WHERE vrule_idx IS NOT NULL)`)}) SELECT * FROM f)`];
  // Outlier rules in two steps: the cheap pass lists the rows in doubt among the failures (rule
  // index -1 - i, moved to a table of their own right after), and the exact pass (Math.log and the
  // formatting macros, tens of ms to plan) runs only when there are any, usually not.
  const exactParts: string[] = [];
  cfg.rules.forEach((r, i) => {
    if (isEntityRule(r)) return;
    const idx = dqRule(i).index;
    if (r.type === 'outlier') {
      const passes = outlierPasses(r, valid, gids);
      if (passes === null) return;
      failParts.push(`SELECT ${-1 - idx}, gid, NULL, NULL, ts, NULL FROM (${passes.doubtful})`);
      exactParts.push(`SELECT ${idx}, gid, date, symbol, ts, reason FROM (${passes.exact(`(SELECT gid, ts FROM ${doubt} WHERE rule_idx = ${-1 - idx})`)})`);
      return;
    }
    const sql = rowRuleFailuresSql(r, named(valid), gids);
    if (sql !== null) failParts.push(`SELECT ${idx} AS rule_idx, gid, date, symbol, ts, reason FROM (${sql})`);
  });
  const failSql = `CREATE TEMP TABLE ${fail} AS
    SELECT CAST(rule_idx AS INTEGER) AS rule_idx, gid, date, symbol, CAST(ts AS BIGINT) AS ts, reason FROM (${failParts.join('\nUNION ALL ')})`;
  const outlierSteps: TransformSqlStep[] =
    exactParts.length === 0
      ? []
      : [
          // The DELETE's count is the number of rows in doubt.
          { sql: `CREATE TEMP TABLE ${doubt} AS SELECT rule_idx, gid, ts FROM ${fail} WHERE rule_idx < 0; DELETE FROM ${fail} WHERE rule_idx < 0`, counts: doubt },
          { sql: `INSERT INTO ${fail} ${exactParts.join('\nUNION ALL ')}`, onlyIfRows: doubt },
        ];

  // Quarantine: invalid rows, then rows failing a quarantine rule (the first in config order
  // names it, the others are listed), then (same statement) kept rows off the grid.
  const qRules = rules.filter((r) => r.type !== 'validity' && r.type !== 'grid' && r.type !== 'gap' && r.action === 'quarantine');
  const quarRules = `SELECT gid, date, symbol, ts, 'validity' AS stage,
           CASE rule_idx ${VALIDITY_RULE_NAMES.map((name, i) => `WHEN ${i} THEN ${sqlString(name)}`).join(' ')} END AS rule,
           reason, CAST(NULL AS VARCHAR) AS other_rules
    FROM ${fail} WHERE rule_idx < ${VALIDITY_RULE_NAMES.length}
    ${qRules.length > 0
      ? `UNION ALL
    SELECT gid, any_value(date), any_value(symbol), ts, 'dq', arg_min(name, rule_idx), arg_min(reason, rule_idx), nullif(array_to_string(list(name ORDER BY rule_idx)[2:], ','), '')
    FROM (SELECT *, CASE rule_idx ${qRules.map((r) => `WHEN ${r.index} THEN ${sqlString(r.name)}`).join(' ')} END AS name
          FROM ${fail} WHERE rule_idx IN (${qRules.map((r) => r.index).join(', ')}))
    GROUP BY gid, ts`
      : ''}`;
  const keptOf = (q: string): string => `(SELECT r.* FROM ${rows} r ANTI JOIN ${q} q ON q.gid = r.gid AND q.ts = r.ts WHERE r.vrule_idx IS NULL)`;
  const kept = keptOf(quar);
  // A quarantined row's on_grid and incomplete flags (as the rows table has them), from its grid's
  // session: the counts leave out the quarantined rows without another scan of the rows.
  const quarFlags = barFlags('g.slot', 'q.ts', { cut: 'e.cut_ms', open: 'e.open_ms', close: 'e.close_ms', now: 'e.now_ms' });
  const quarSql = `CREATE TEMP TABLE ${quar} AS
    WITH ruled AS MATERIALIZED (${quarRules})
    SELECT q.*, ${quarFlags.onGrid} AS on_grid, ${quarFlags.incomplete} AS incomplete
    FROM ruled q JOIN ${gids} e ON e.gid = q.gid LEFT JOIN ${grid} g ON g.cal = e.cal AND g.day = e.day AND g.ts = q.ts
    UNION ALL
    SELECT k.gid, n.date, n.symbol, k.ts, 'grid', 'off_grid', ${iso('k.ts')} || CASE
        WHEN NOT (k.ts >= s.open_ms AND k.ts < s.close_ms) THEN ' is outside the ' || s.cal_name || ' sessions ' || n.date || '..' || n.date
        WHEN EXISTS (SELECT 1 FROM ${inputs.breaks} b WHERE b.cal = s.cal AND b.date = n.date AND b.start_ms <= k.ts AND k.ts < b.end_ms) THEN ' falls in a trading break of ' || s.cal_name || ' session ' || n.date
        ELSE ${sqlString(` is not on the ${cfg.gaps.frequency} grid of session `)} || n.date END, NULL, false, false
    FROM (SELECT * FROM ${keptOf('ruled')} WHERE NOT on_grid AND NOT incomplete) k JOIN ${gids} n ON n.gid = k.gid JOIN ${sess} s ON s.cal = n.cal AND s.day = n.day`;

  // The raw columns the rows table leaves out, for the quarantined rows only: the version kept.
  const qwideSql = `SELECT r.gid, coalesce(epoch_ms(r.ts), 0) AS ts, r.source, r.con_id, r.what_to_show, r.request_id, r.batch_id, epoch_ms(r.ingestion_ts) AS ingestion_ts
    FROM ${rawRows} r SEMI JOIN ${quar} q ON q.gid = r.gid AND q.ts = coalesce(epoch_ms(r.ts), 0)
    QUALIFY row_number() OVER (PARTITION BY r.gid, coalesce(epoch_ms(r.ts), 0) ORDER BY r.ingestion_ts DESC, r.batch_id DESC) = 1`;

  // The grid: observed bars (kept rows on it), the slots without one, the extent of each grid.
  const values = CURATED_MASK_COLUMNS.map(sqlIdent);
  // Observed bars: the kept rows on the grid. A view, not a table: copying two million rows
  // costs more than filtering them again for each of the few statements that read them.
  const obsRel = `(SELECT gid, slot, ts, ${values.join(', ')} FROM ${kept} WHERE on_grid)`;
  const gridGid = `s.day * ${GID_SPAN} + y.sid`;
  // Everything later steps count per grid over the rows, in the one scan that finds each grid's
  // newest bar: the entity rules' stats, the run's counts, the observed bars of the gap reports.
  const rowStatsSql = `SELECT gid, max(ts) AS newest,
      count(*) AS deduped,
      count(*) FILTER (WHERE vrule_idx IS NOT NULL) AS invalid,
      count(*) FILTER (WHERE vrule_idx IS NULL) AS valid,
      count(*) FILTER (WHERE vrule_idx IS NULL AND incomplete) AS incomplete,
      count(*) FILTER (WHERE vrule_idx IS NULL AND on_grid) AS valid_on_grid,
      max(ts) FILTER (WHERE vrule_idx IS NULL) AS last_valid_ts,
      ${CURATED_MASK_COLUMNS.map((c) => `count(*) FILTER (WHERE vrule_idx IS NULL AND (${c} IS NULL${c === 'trade_count' ? '' : ` OR isnan(${c})`})) AS ${sqlIdent(`null_${c}`)}`).join(',\n      ')}
    FROM ${rows} GROUP BY gid`;
  // How far each instrument's grid goes (intraday-cutoff.ts): a final run (past the close plus
  // gaps.final_grace) the whole grid of bars complete at now; before, only up to the newest
  // committed raw bar (any version, valid or not), none without raw rows. Rows never lie past
  // that bar, so which rows are on the grid (cut at now) does not change.
  const gidsSql = `CREATE TEMP TABLE ${gids} AS
    WITH g AS (
      SELECT ${gridGid} AS gid, y.symbol, s.date, s.cal, s.day, s.final, s.n_cut, s.n_full, s.open_ms, s.close_ms, s.cut_ms, s.now_ms, w.* EXCLUDE (gid),
             CASE WHEN s.final THEN s.cut_ms WHEN w.newest IS NULL THEN NULL ELSE least(s.cut_ms, w.newest) END AS cut_g
      FROM ${inputs.symbols} y JOIN ${sess} s ON s.cal = y.cal
      LEFT JOIN (${rowStatsSql}) w ON w.gid = ${gridGid}
    )
    SELECT g.*, coalesce(gr.slot + 1, 0) AS n_slots
    FROM g ASOF LEFT JOIN ${grid} gr ON gr.cal = g.cal AND gr.day = g.day AND g.cut_g >= gr.ts`;
  // The grid slots without an observed bar: each grid's observed slots as a bitmap (one row per
  // grid) rather than a hash table of every observed bar.
  const missing = `(SELECT e.gid, e.date, e.symbol, g.slot, g.ts
      FROM ${gids} e JOIN ${grid} g ON g.cal = e.cal AND g.day = e.day AND g.slot < e.n_slots
      LEFT JOIN (SELECT gid, bitstring_agg(slot, 0, ${Math.max(1, cfg.maxSlots - 1)}) AS seen FROM ${obsRel} GROUP BY gid) o ON o.gid = e.gid
      WHERE o.seen IS NULL OR get_bit(o.seen, CAST(g.slot AS INTEGER)) = 0)`;
  // Observed bars per grid: the valid ones on it less those a DQ rule quarantined.
  const observedCounts = `(SELECT e.gid, e.valid_on_grid - coalesce(q.n, 0) AS n FROM ${gids} e
      LEFT JOIN (SELECT gid, count(*) AS n FROM ${quar} WHERE stage = 'dq' AND on_grid GROUP BY gid) q ON q.gid = e.gid WHERE e.valid_on_grid IS NOT NULL)`;
  const gaps: GapSqlInputs = { observed: obsRel, observedCounts, missing, extent: gids, grid };
  // The gap steps in one statement (each is small; a statement of its own costs more than its
  // work): the runs are the imputed rows grouped by run, read back as such by the reports.
  const imputedSql = `CREATE TEMP TABLE ${imputed} AS
    WITH ${gslots} AS MATERIALIZED (${gapSlotsSql(gaps)}),
    ${neighbours} AS MATERIALIZED (${gapRunNeighboursSql(cfg.gaps, gaps, gslots)}),
    ${runs} AS MATERIALIZED (${gapRunsSql(cfg.gaps, gaps, neighbours, freq)})
    ${gapImputedSql(cfg.gaps, gslots, runs, freq)}`;
  const runsOf = `(SELECT gid, any_value(date) AS date, any_value(symbol) AS symbol, grp, min(slot) AS s0, count(*) AS len, min(ts) AS start_ts FROM ${imputed} GROUP BY gid, grp)`;

  // Per-instrument stats for the entity rules (bar_count, staleness), computed in their statement.
  const statsSql = `SELECT e.gid, e.symbol, e.date, e.n_slots AS expected, coalesce(e.valid_on_grid, 0) AS observed, e.last_valid_ts AS last_ts, s.as_of_ms AS as_of
    FROM ${gids} e JOIN ${sess} s ON s.cal = e.cal AND s.day = e.day`;

  const laterFails: string[] = [];
  cfg.rules.forEach((r, i) => {
    if (isEntityRule(r)) laterFails.push(`SELECT ${dqRule(i).index}, gid, date, symbol, CAST(NULL AS BIGINT), reason FROM (${entityRuleFailuresSql(r, stats, freq)})`);
  });
  laterFails.push(`SELECT ${offGridIdx}, gid, date, symbol, ts, reason FROM ${quar} WHERE stage = 'grid'`);
  laterFails.push(`SELECT ${maxGapIdx}, gid, date, symbol, start_ts,
      date || ': ' || CAST(len AS VARCHAR) || ${sqlString(` missing ${cfg.gaps.frequency} bars from `)} || ${iso('start_ts')} || ${sqlString(` exceed max_gap_bars ${cfg.gaps.max_gap_bars}; left NULL`)}
    FROM ${runsOf} WHERE len > ${cfg.gaps.max_gap_bars}`);
  // The failures found last (entity rules, off-grid rows, over-long gaps) are computed where they
  // are read, with the others: no statement of their own.
  const laterSql = `${cfg.rules.some(isEntityRule) ? `WITH ${stats} AS MATERIALIZED (${statsSql}) ` : ''}${laterFails.join('\nUNION ALL ')}`;
  const later = t('later');
  const allFails = `(SELECT * FROM ${fail} UNION ALL SELECT * FROM ${later})`;

  const perBar = rules.filter((r) => r.perBar).map((r) => r.index);
  const ledgerReason = `CASE WHEN rule_idx IN (${perBar.join(', ')}) THEN ${iso('ts')} || ': ' || reason ELSE reason END`;

  // A gid's date: the pass's dates are few (a CASE over the day number costs less than a join).
  function dateOfGid(g: string): string {
    return `CASE ${g} // ${GID_SPAN} ${dates.map((d, i) => `WHEN ${i} THEN ${sqlString(d)}`).join(' ')} END`;
  }
  // One date's rows of a table keyed by gid: an integer range, cheap to scan for every date of a pass.
  const dayOf = (date: string): string => {
    const day = dates.indexOf(date);
    if (day < 0) throw new RangeError(`date ${date} is not part of this transform pass`);
    return `gid BETWEEN ${day * GID_SPAN} AND ${(day + 1) * GID_SPAN - 1}`;
  };
  // The curated rows sorted by (gid, ts), integers (within a date, gid follows the symbols' order:
  // sid numbers them sorted), and only then given their instants and masks: the sort moves the
  // fewest columns.
  const curatedOrdered = (date: string): string => `SELECT symbol, ${instant('ts')} AS ts, ${instant('available_ms')} AS available_ts, ${values.join(', ')},
      imp AS is_imputed, imputation, ${CURATED_MASK_COLUMNS.map((c) => `imp AS ${sqlIdent(`${c}_imputed`)}`).join(', ')}
    FROM (SELECT symbol, gid, ts, ts + ${freq} AS available_ms, ${values.join(', ')}, false AS imp, CAST(NULL AS VARCHAR) AS imputation
          FROM ${named(obsRel)} WHERE ${dayOf(date)}
          UNION ALL SELECT symbol, gid, ts, available_ts, ${values.join(', ')}, true, imputation FROM ${imputed} WHERE ${dayOf(date)}
          ORDER BY gid, ts)`;
  const finite = (c: string): string => `CASE WHEN isfinite(r.${c}) THEN r.${c} END AS ${c}`;
  const quarantineColumns = [
    'w.source',
    'q.symbol',
    'w.con_id',
    'w.what_to_show',
    `${instant('r.ts')} AS ts`,
    ...['open', 'high', 'low', 'close', 'volume', 'wap'].map(finite),
    'r.trade_count',
    'w.batch_id',
    `${instant('w.ingestion_ts')} AS ingestion_ts`,
    'w.request_id',
    'q.stage',
    'q.rule',
    'q.reason',
    'q.other_rules',
  ];

  // Every quarantine row of the pass, with all its columns (few rows; read once per date).
  const qoutSql = `CREATE TEMP TABLE ${qout} AS WITH qwide AS (${qwideSql})
    SELECT ${quarantineColumns.join(', ')}, q.date
    FROM ${quar} q JOIN ${rows} r ON r.gid = q.gid AND r.ts = q.ts
    LEFT JOIN qwide w ON w.gid = q.gid AND w.ts = q.ts`;

  // Sums of the per-grid counts; the superseded versions and the few incomplete rows a DQ rule
  // quarantined are counted apart.
  const countsQuery = `SELECT c.* EXCLUDE (incomplete), c.deduped + coalesce(n.superseded, 0) AS raw_rows, c.incomplete - coalesce(qi.n, 0) AS incomplete
      FROM (SELECT date, ${['deduped', 'invalid', 'valid', 'incomplete', ...CURATED_MASK_COLUMNS.map((c) => `null_${c}`)].map((c) => `sum(${sqlIdent(c)}) AS ${sqlIdent(c)}`).join(', ')}
            FROM ${gids} WHERE deduped IS NOT NULL GROUP BY date) c
      LEFT JOIN (SELECT ${dateOfGid('gid')} AS date, sum(versions - 1) AS superseded FROM ${dups} GROUP BY ALL) n ON n.date = c.date
      LEFT JOIN (SELECT date, count(*) AS n FROM ${quar} WHERE stage = 'dq' AND incomplete GROUP BY date) qi ON qi.date = c.date
      ORDER BY c.date`;
  const cutoffsQuery = `SELECT date, symbol, final, CASE WHEN NOT final THEN newest END AS last_bar_start, n_cut - n_slots AS not_arrived FROM ${gids} ORDER BY date, symbol`;
  const failureCountsQuery = `SELECT date, stage, CAST(NULL AS INTEGER) AS rule_idx, count(*) AS n FROM ${quar} GROUP BY ALL
      UNION ALL SELECT date, NULL, rule_idx, count(*) FROM ${allFails} GROUP BY ALL`;
  const reportsQuery = `${gapReportsSql(cfg.gaps, gaps, runsOf, imputed)} ORDER BY date, symbol`;
  const failuresQuery = (limit: number, perRule: number): string => `SELECT date, rule_idx, symbol, ${ledgerReason} AS reason FROM (
        SELECT *, row_number() OVER (PARTITION BY date ORDER BY rule_idx, symbol, ts NULLS FIRST) AS k,
                  row_number() OVER (PARTITION BY date, rule_idx ORDER BY symbol, ts NULLS FIRST) AS kr
        FROM ${allFails}) WHERE k <= ${limit} OR kr <= ${perRule}
      ORDER BY date, rule_idx, symbol, ts NULLS FIRST`;

  return {
    rules,
    compute: [
      { sql: gridSql },
      { sql: dupsSql, counts: dups },
      rowsStep,
      { sql: gidsSql },
      { sql: failSql },
      ...outlierSteps,
      ...[quarSql, imputedSql, qoutSql].map((sql) => ({ sql })),
    ],
    drop: [grid, dups, rows, fail, doubt, quar, gids, imputed, qout].map((name) => `DROP TABLE IF EXISTS ${name}`),
    resultsQuery: (limit, perRule) => {
      const lists = { counts: countsQuery, cutoffs: cutoffsQuery, failureCounts: failureCountsQuery, failures: failuresQuery(limit, perRule), reports: reportsQuery };
      return `WITH ${later} AS MATERIALIZED (${laterSql})
        SELECT ${Object.entries(lists)
          .map(([k, q]) => `(SELECT CAST(to_json(list(x ORDER BY x.ibp_ord)) AS VARCHAR) FROM (SELECT row_number() OVER () AS ibp_ord, * FROM (${q})) x) AS ${k}`)
          .join(',\n          ')}`;
    },
    curatedSelect: curatedOrdered,
    quarantineSelect: (date) => `SELECT * EXCLUDE (date) FROM ${qout} WHERE date = ${sqlString(date)}`,
  };
}

