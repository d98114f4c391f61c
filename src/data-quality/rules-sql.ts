import { frequencyMs } from '../core/bars.js';
import { sqlIdent, sqlNumber, sqlString } from '../core/sql.js';
import type { DqRule } from './dq-config.js';
import { JS_SQL } from './js-compat-sql.js';

/**
 * The DQ rules of rules.ts compiled to SQL: pure functions from a rule to the text of a
 * SELECT that lists its failures, with the same judgements and reasons as the JS checks.
 *
 * Row-judged rules read a relation of rows with at least `gid` (a number identifying the
 * (date, symbol) pair), `date` (session date), `symbol` and `ts` (bar start, epoch ms BIGINT) plus
 * the raw columns by name (see {@link RULE_COLUMNS}); input order is `(symbol, ts)` within a date,
 * as the JS transform hands rows to the checks. They return `(gid, date, symbol, ts, reason)`. A column a rule names that the rows do not have
 * reads as missing, as `row[field]` is `undefined` in JS. Entity rules (`bar_count`,
 * `staleness`) read one row per (date, symbol) of {@link EntityStatsColumns} and return
 * `(gid, date, symbol, reason)`. Every date is judged on its own, as one JS run per date.
 */

/** How a column of the rows reads in JS: a number (DOUBLE or BIGINT in SQL) or a string. */
export type RuleColumnKind = 'double' | 'bigint' | 'string';

/** The columns rules can name: a raw row after dedup and normalisation (instants as epoch ms). */
export const RULE_COLUMNS: Readonly<Record<string, RuleColumnKind>> = {
  source: 'string',
  symbol: 'string',
  con_id: 'bigint',
  bar_size: 'string',
  what_to_show: 'string',
  ts: 'bigint',
  open: 'double',
  high: 'double',
  low: 'double',
  close: 'double',
  volume: 'double',
  wap: 'double',
  trade_count: 'bigint',
  batch_id: 'string',
  ingestion_ts: 'bigint',
  request_id: 'string',
};

type RuleOf<T extends DqRule['type']> = Extract<DqRule, { type: T }>;
export type RowDqRule = Exclude<DqRule, { type: 'bar_count' | 'staleness' }>;
export type EntityDqRule = Extract<DqRule, { type: 'bar_count' | 'staleness' }>;

/** The columns of the rows a rule reads (whether the rows have them or not). */
export function ruleColumnsRead(rule: DqRule): string[] {
  switch (rule.type) {
    case 'range':
    case 'enum':
    case 'outlier':
      return [rule.field];
    case 'not_null':
      return [...rule.fields];
    case 'monotonic_time':
      return [rule.entity, rule.time];
    case 'unique':
      return [...rule.keys];
    case 'ohlc_consistency':
      return ['open', 'high', 'low', 'close'];
    case 'bar_count':
    case 'staleness':
      return [];
  }
}

export function isEntityRule(rule: DqRule): rule is EntityDqRule {
  return rule.type === 'bar_count' || rule.type === 'staleness';
}

/** A column as a rule reads it: its SQL, and how JS would see the value. */
interface Col {
  readonly kind: RuleColumnKind | 'missing';
  /** The value (NULL for a missing column). */
  readonly sql: string;
  /** As a JS number (DOUBLE, NaN read as NULL: both are "missing"); null for strings. */
  readonly num: string | null;
  /** True where JS's isMissing holds. */
  readonly missing: string;
  /** `String(v)` (entities) / `show(v)` (values) in JS. */
  readonly text: string;
  readonly show: string;
}

function col(name: string): Col {
  const kind = RULE_COLUMNS[name];
  if (kind === undefined) return { kind: 'missing', sql: 'NULL', num: null, missing: 'true', text: 'NULL', show: 'NULL' };
  const id = sqlIdent(name);
  if (kind === 'string') return { kind, sql: id, num: null, missing: `${id} IS NULL`, text: id, show: `${JS_SQL.json}(${id})` };
  const num = kind === 'double' ? `CASE WHEN NOT isnan(${id}) THEN ${id} END` : `CAST(${id} AS DOUBLE)`;
  const text = `${JS_SQL.num}(${id})`;
  return { kind, sql: id, num, missing: kind === 'double' ? `(${id} IS NULL OR isnan(${id}))` : `${id} IS NULL`, text, show: text };
}

/** `show(v)` of a config value, as JS prints it in a reason. */
function showValue(v: string | number): string {
  return typeof v === 'string' ? JSON.stringify(v) : String(v);
}

const FAIL_COLUMNS = 'gid, date, symbol, ts';

/**
 * The failing rows gathered into a relation of their own before their reasons are formatted:
 * the formatting macros (lambdas) cost about as much per input chunk as per row, so formatting
 * a few rows still spread over the chunks of every row they were filtered from costs tens of ms.
 */
function gathered(select: string): string {
  return `(WITH f AS MATERIALIZED (${select}) SELECT * FROM f)`;
}

function rangeSql(rule: RuleOf<'range'>, rows: string): string | null {
  const c = col(rule.field);
  const field = sqlString(rule.field);
  if (c.kind === 'missing') return null;
  if (c.kind === 'string') return `SELECT ${FAIL_COLUMNS}, ${field} || ' ' || ${c.show} || ' is not a number' AS reason FROM ${rows} WHERE ${c.sql} IS NOT NULL`;
  // One formatting call (costly to bind), then what is wrong.
  const cases: string[] = [];
  if (rule.min !== undefined) cases.push(`WHEN x < ${sqlNumber(rule.min)} THEN ${sqlString(` is below min ${rule.min}`)}`);
  if (rule.max !== undefined) cases.push(`WHEN x > ${sqlNumber(rule.max)} THEN ${sqlString(` is above max ${rule.max}`)}`);
  const outside = [rule.min !== undefined ? `x < ${sqlNumber(rule.min)}` : null, rule.max !== undefined ? `x > ${sqlNumber(rule.max)}` : null]
    .filter((s) => s !== null)
    .join(' OR ');
  return `SELECT ${FAIL_COLUMNS}, ${field} || ' ' || ${JS_SQL.num}(x) || CASE ${cases.join(' ')} END AS reason
    FROM ${gathered(`SELECT ${FAIL_COLUMNS}, x FROM (SELECT ${FAIL_COLUMNS}, ${c.num} AS x FROM ${rows}) WHERE x IS NOT NULL AND (${outside})`)}`;
}

function enumSql(rule: RuleOf<'enum'>, rows: string): string | null {
  const c = col(rule.field);
  if (c.kind === 'missing') return null;
  const suffix = sqlString(` is not one of ${rule.values.map(showValue).join(', ')}`);
  // JS compares with SameValueZero: a number never equals a string.
  const allowed = c.kind === 'string'
    ? rule.values.filter((v): v is string => typeof v === 'string').map(sqlString)
    : rule.values.filter((v): v is number => typeof v === 'number').map(sqlNumber);
  const value = c.kind === 'string' ? c.sql : (c.num as string);
  const outside = allowed.length > 0 ? `${value} NOT IN (${allowed.join(', ')})` : 'true';
  return `SELECT ${FAIL_COLUMNS}, ${sqlString(rule.field)} || ' ' || ${c.show} || ${suffix} AS reason
    FROM ${gathered(`SELECT * FROM ${rows} WHERE NOT ${c.missing} AND ${outside}`)}`;
}

function notNullSql(rule: RuleOf<'not_null'>, rows: string): string {
  const parts = rule.fields.map((f) => `CASE WHEN ${col(f).missing} THEN ${sqlString(f)} END`);
  return `SELECT ${FAIL_COLUMNS}, array_to_string(m, ', ') || CASE WHEN len(m) > 1 THEN ' are null' ELSE ' is null' END AS reason
    FROM (SELECT ${FAIL_COLUMNS}, list_filter([${parts.join(', ')}], f -> f IS NOT NULL) AS m FROM ${rows}) WHERE len(m) > 0`;
}

function ohlcSql(rows: string): string {
  // Each price is formatted once per failing row, by one formatting call over the four (a
  // formatting call is costly to bind).
  const checks: [string, string][] = [
    ['low <= high', `'low ' || jl || ' > high ' || jh`],
    ['open <= high', `'open ' || jo || ' > high ' || jh`],
    ['open >= low', `'open ' || jo || ' < low ' || jl`],
    ['close <= high', `'close ' || jc || ' > high ' || jh`],
    ['close >= low', `'close ' || jc || ' < low ' || jl`],
  ];
  const present = ['open', 'high', 'low', 'close'].map((c) => `${c} IS NOT NULL AND NOT isnan(${c})`).join(' AND ');
  return `SELECT ${FAIL_COLUMNS}, concat_ws('; ', ${checks.map(([ok, text]) => `CASE WHEN NOT (${ok}) THEN ${text} END`).join(', ')}) AS reason
    FROM (SELECT *, j[1] AS jo, j[2] AS jh, j[3] AS jl, j[4] AS jc FROM (
          SELECT ${FAIL_COLUMNS}, open, high, low, close, list_transform([open, high, low, close], v -> ${JS_SQL.num}(v)) AS j
          FROM ${gathered(`SELECT ${FAIL_COLUMNS}, open, high, low, close FROM ${rows} WHERE ${present} AND NOT (${checks.map(([ok]) => ok).join(' AND ')})`)}))`;
}

function monotonicSql(rule: RuleOf<'monotonic_time'>, rows: string): string {
  const e = col(rule.entity);
  const t = col(rule.time);
  const entity = e.kind === 'missing' ? 'NULL' : e.sql;
  const time = t.num ?? 'CAST(NULL AS DOUBLE)';
  const word = rule.strict ? 'after' : 'at or after';
  const broken = rule.strict ? 't <= prev' : 't < prev';
  return `SELECT ${FAIL_COLUMNS},
      CASE WHEN t IS NULL THEN ${sqlString(`${rule.time} is missing`)}
           ELSE ${sqlString(`${rule.time} `)} || ${JS_SQL.isoNum}(t) || ${sqlString(` is not ${word} `)} || ${JS_SQL.isoNum}(prev) || ' seen earlier for ' || coalesce(entity_text, 'null') END AS reason
    FROM ${gathered(`SELECT * FROM (
      SELECT ${FAIL_COLUMNS}, ${time} AS t, ${e.kind === 'missing' ? 'NULL' : e.text} AS entity_text,
             max(${time}) OVER (PARTITION BY date, ${entity} ORDER BY symbol, ts ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) AS prev
      FROM ${rows})
    WHERE t IS NULL OR (prev IS NOT NULL AND ${broken})`)}`;
}

function uniqueSql(rule: RuleOf<'unique'>, rows: string): string {
  // JSON.stringify identity: NaN and null are the same key.
  const keys = rule.keys.map((k) => {
    const c = col(k);
    return c.kind === 'double' ? (c.num as string) : c.sql;
  });
  const suffix = sqlString(` on (${rule.keys.join(', ')})`);
  return `SELECT ${FAIL_COLUMNS}, 'duplicate of row ' || CAST(first_row AS VARCHAR) || ${suffix} AS reason
    FROM (
      SELECT ${FAIL_COLUMNS}, row_index, min(row_index) OVER (PARTITION BY date, ${keys.join(', ')}) AS first_row
      FROM (SELECT *, row_number() OVER (PARTITION BY date ORDER BY symbol, ts) - 1 AS row_index FROM ${rows}))
    WHERE row_index > first_row`;
}

/** An outlier rule's value as the JS check uses it (a positive finite number, else NULL: skipped), or null when the field never is one. */
function outlierValueSql(rule: RuleOf<'outlier'>): string | null {
  const c = col(rule.field);
  return c.num === null ? null : `CASE WHEN isfinite(${c.num}) AND ${c.num} > 0 THEN ${c.num} END`;
}

/** An outlier rule's two passes: the cheap one, and the exact one over the rows it found in doubt. */
export interface OutlierPasses {
  /**
   * `SELECT gid, ts`: the rows whose verdict could be in doubt. No formatting or Math.log macros:
   * cheap to plan, and usually empty.
   */
  readonly doubtful: string;
  /**
   * The failures `(gid, date, symbol, ts, reason)` judged exactly among `doubtful` (a relation with
   * at least its columns): the returns are recomputed for those rows' instruments only.
   */
  exact(doubtful: string): string;
}

/** The values of `rows` the outlier rule reads, numbered per instrument in time order, with the previous one. */
function outlierValuesSql(value: string, rows: string): string {
  return `SELECT gid, ts, x, lag(x) OVER p AS px, row_number() OVER p - 1 AS rn
      FROM (SELECT gid, ts, ${value} AS x FROM ${rows}) WHERE x IS NOT NULL
      WINDOW p AS (PARTITION BY gid ORDER BY ts)`;
}

/**
 * Outliers as checkOutliers judges them, bit for bit, or null when the rule's field never holds a
 * number. A cheap pass (DuckDB's ln, running sums) finds the rows whose verdict could be in doubt
 * — |z| within 1e-4 of the threshold or above it, or a window flat to 1e-8 — and only those are
 * judged again with the JS arithmetic: returns through Math.log's own algorithm, left-to-right
 * sums over the `window` previous returns, the mean, then the squares. Every failing row goes
 * through that exact pass, so its reason is the JS text too. `names`, when given, is a small
 * relation `(gid, date, symbol)` with one row per gid.
 */
export function outlierPasses(rule: RuleOf<'outlier'>, rows: string, names?: string): OutlierPasses | null {
  const value = outlierValueSql(rule);
  if (value === null) return null;
  const w = rule.window;
  const th = sqlNumber(rule.threshold);
  const jsR = (x: string, px: string): string => `${JS_SQL.log}(${x} / ${px})`;
  // The windows sort only (gid, ts, x): names come back for the few failing rows at the end,
  // from the small names relation when there is one (a join with the rows would hash them all).
  const named = names === undefined
    ? `FROM exact e JOIN ${rows} o ON o.gid = e.gid AND o.ts = e.ts`
    : `FROM exact e JOIN ${names} o ON o.gid = e.gid`;
  // The cheap pass sorts the values once, by (gid, ts), and reads them in that order with
  // streaming windows (no partition, no second sort); a row's return needs the row before in
  // the same instrument. The mean of the w previous returns telescopes: their sum is
  // ln x[k-1] - ln x[k-1-w] up to 1e-12 (each ln within an ulp, |ln x| <= 710 for a finite
  // positive x). Their sum of squares is a difference of running sums over all rows, within
  // 2 * k * u * (running sum) after k rows (u = 2^-53, with room to spare). The variance is taken
  // at its lowest and |r - m| at its highest that these errors allow, so the rows found are a
  // superset of those the sums taken window by window would find, which contain every row JS
  // could call an outlier (|z| within 1e-4 of the threshold or above, or a window flat to 1e-8).
  const ordered = `(SELECT gid, ts, x FROM (SELECT gid, ts, ${value} AS x FROM ${rows}) WHERE x IS NOT NULL ORDER BY gid, ts)`;
  const doubtful = `WITH a AS (
      SELECT gid, ts, CASE WHEN lag(gid) OVER () = gid THEN ln(x / lag(x) OVER ()) END AS r, lag(gid, ${w + 1}) OVER () = gid AS deep,
             (lag(ln(x)) OVER () - lag(ln(x), ${w + 1}) OVER ()) / ${w} AS m, row_number() OVER () AS k
      FROM ${ordered}
    ), b AS (
      SELECT *, sum(coalesce(r * r, 0)) OVER (ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS c2 FROM a
    ), c AS (
      SELECT gid, ts, r, m, lag(c2) OVER () - lag(c2, ${w + 1}) OVER () AS s2, 4.5e-16 * k * c2 AS es, deep FROM b
    ), v AS (
      SELECT *, greatest((s2 - es - ${w} * (abs(m) + 1e-12) * (abs(m) + 1e-12)) / ${w - 1}, 0) AS vlow FROM c WHERE deep
    )
    SELECT gid, ts FROM v
    WHERE vlow <= 1e-8 * ((s2 + es) / ${w}) OR abs(r - m) + 1e-12 >= ${th} * sqrt(vlow) * (1 - 1e-4)`;
  // An instrument's values are numbered over all its rows: the previous returns of a doubtful
  // row are recomputed over every row of its instrument (and only its instrument's).
  const exact = (d: string): string => `WITH u AS MATERIALIZED (${outlierValuesSql(value, `(SELECT * FROM ${rows} WHERE gid IN (SELECT gid FROM ${d}))`)}
    ), doubtful AS (SELECT u.* FROM u SEMI JOIN ${d} d ON d.gid = u.gid AND d.ts = u.ts
    ), exact AS (
      SELECT *, (r - mean) / sd AS z FROM (
        SELECT *, sqrt(list_reduce(list_transform(l, b -> (b - mean) * (b - mean)), (a, b) -> a + b) / ${w - 1}) AS sd FROM (
          SELECT *, list_reduce(l, (a, b) -> a + b) / ${w} AS mean FROM (
            SELECT k.gid, k.ts, ${jsR('k.x', 'k.px')} AS r, list(${jsR('u.x', 'u.px')} ORDER BY u.rn) AS l
            FROM (SELECT *, unnest(range(1, ${w + 1})) AS back FROM doubtful) k JOIN u ON u.gid = k.gid AND u.rn = k.rn - k.back
            GROUP BY k.gid, k.ts, k.x, k.px)))
    )
    SELECT e.gid, o.date, o.symbol, e.ts,
      ${sqlString(`${rule.field} return `)} || ${JS_SQL.precision4}(e.r) || ' is ' || ${JS_SQL.fixed1}(e.z) || ${sqlString(` sd from the mean of the previous ${w} returns`)} AS reason
    ${named}
    WHERE e.sd > 0 AND abs(e.z) > ${th}`;
  return { doubtful, exact };
}

/** Both passes of the outlier rule in one statement. */
function outlierSql(rule: RuleOf<'outlier'>, rows: string, names: string | undefined): string | null {
  const passes = outlierPasses(rule, rows, names);
  return passes === null ? null : `WITH d AS MATERIALIZED (${passes.doubtful}) ${passes.exact('d')}`;
}

/**
 * The failures of a row-judged rule as `SELECT gid, date, symbol, ts, reason` over `rows`, or null
 * when the rule cannot fail on them (e.g. a range over a column the rows do not have). `names`,
 * when given, is a small relation `(gid, date, symbol)` with one row per gid of the rows.
 */
export function rowRuleFailuresSql(rule: RowDqRule, rows: string, names?: string): string | null {
  switch (rule.type) {
    case 'range':
      return rangeSql(rule, rows);
    case 'enum':
      return enumSql(rule, rows);
    case 'not_null':
      return notNullSql(rule, rows);
    case 'ohlc_consistency':
      return ohlcSql(rows);
    case 'monotonic_time':
      return monotonicSql(rule, rows);
    case 'unique':
      return uniqueSql(rule, rows);
    case 'outlier':
      return outlierSql(rule, rows, names);
  }
}

/**
 * Columns of the per-(date, symbol) relation entity rules read, one row per instrument with a
 * session that date: `expected` grid bars (cut as the run cuts them), `observed` rows on those
 * bars, `last_ts` the newest row's bar start (NULL without rows), `as_of` the instant staleness
 * is judged at.
 */
export interface EntityStatsColumns {
  readonly gid: number;
  readonly date: string;
  readonly symbol: string;
  readonly expected: number;
  readonly observed: number;
  readonly last_ts: number | null;
  readonly as_of: number;
}

/** The failures of `bar_count` / `staleness` as `SELECT gid, date, symbol, reason` over `stats`; `barMs` is the bar length. */
export function entityRuleFailuresSql(rule: EntityDqRule, stats: string, barMs: number): string {
  if (rule.type === 'bar_count') {
    const allowed = 'fraction' in rule.tolerance ? `CAST(floor(${sqlNumber(rule.tolerance.fraction)} * expected) AS BIGINT)` : String(rule.tolerance.bars);
    return `SELECT gid, date, symbol,
        date || ': ' || CAST(observed AS VARCHAR) || ' of ' || CAST(expected AS VARCHAR) || ' expected bars (' || CAST(expected - observed AS VARCHAR) || ' missing, tolerance ' || CAST(allowed AS VARCHAR) || ')' AS reason
      FROM (SELECT *, ${allowed} AS allowed FROM ${stats}) WHERE expected - observed > allowed`;
  }
  const maxAge = frequencyMs(rule.max_age);
  return `SELECT gid, date, symbol,
      CASE WHEN last_ts IS NULL THEN 'no bars at all as of ' || as_of_text
           ELSE 'last bar ' || ${JS_SQL.iso}(last_ts) || ' is ' || CAST(CAST(floor(CAST(as_of - (last_ts + ${barMs}) AS DOUBLE) / 1000 + 0.5) AS BIGINT) AS VARCHAR) || ' s old at ' || as_of_text || ${sqlString(` (max ${rule.max_age})`)} END AS reason
    FROM (SELECT *, ${JS_SQL.iso}(as_of) AS as_of_text FROM ${stats}
          WHERE (last_ts IS NOT NULL OR expected > 0) AND (last_ts IS NULL OR as_of - (last_ts + ${barMs}) > ${maxAge}))`;
}
