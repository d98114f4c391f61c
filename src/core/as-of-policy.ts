import { InputError } from './errors.js';
import { sqlIdent } from './sql.js';

/**
 * The one definition of an as-of match, used wherever "the row known at time t" matters: the
 * alignment job's as-of joins, the feature store's inference lookup, the dataset builder.
 *
 * A left row at time `t` matches the right row (with equal keys) whose time `r` is
 * - `backward`: the largest `r <= t` (`r < t` without exact matches): the last row known at t;
 * - `forward`: the smallest `r >= t` (`r > t` without exact matches);
 * - `nearest`: whichever of those two is closer; a tie goes to the backward row (it was known
 *   earlier), as in pandas `merge_asof`.
 * With a tolerance, a match farther than `toleranceMs` (|t − r| > toleranceMs) is no match.
 * Only `backward` over availability times (`available_ts <= t`) is point-in-time safe; the
 * other directions look ahead by design (labels, reference data published in advance).
 * It lives in core because storage (inference lookups), pipelines and training all use it; the
 * config form is parsed in `src/pipelines/alignment-config.ts`.
 */
export interface AsOfPolicy {
  readonly direction: AsOfDirection;
  /** Largest |t − r| in ms that still matches (inclusive); null = unbounded. */
  readonly toleranceMs: number | null;
  /** Whether a right row at exactly t matches (pandas `allow_exact_matches`). */
  readonly allowExactMatches: boolean;
}

export const AS_OF_DIRECTIONS = ['backward', 'forward', 'nearest'] as const;
export type AsOfDirection = (typeof AS_OF_DIRECTIONS)[number];

/** Builds a validated policy; defaults: backward, unbounded, exact matches allowed. */
export function asOfPolicy(opts: { direction?: AsOfDirection; toleranceMs?: number | null; allowExactMatches?: boolean } = {}): AsOfPolicy {
  const direction = opts.direction ?? 'backward';
  if (!(AS_OF_DIRECTIONS as readonly string[]).includes(direction)) {
    throw new InputError(`as-of direction must be one of ${AS_OF_DIRECTIONS.join(', ')}, got ${JSON.stringify(direction)}`);
  }
  const toleranceMs = opts.toleranceMs ?? null;
  if (toleranceMs !== null && !(Number.isFinite(toleranceMs) && toleranceMs >= 0)) {
    throw new InputError(`as-of tolerance must be a non-negative number of ms, got ${String(toleranceMs)}`);
  }
  return Object.freeze({ direction, toleranceMs, allowExactMatches: opts.allowExactMatches ?? true });
}

/** Point-in-time lookup: the last row available at t, however old. */
export const POINT_IN_TIME: AsOfPolicy = asOfPolicy();

/** True when a match at distance |t − r| = distanceMs is inside the policy's tolerance. */
export function withinTolerance(policy: AsOfPolicy, distanceMs: number): boolean {
  return policy.toleranceMs === null || Math.abs(distanceMs) <= policy.toleranceMs;
}

/**
 * The index in `times` (ascending) of the row `t` matches under `policy`, or -1. Among equal
 * times, backward takes the last and forward the first. The in-memory twin of {@link asOfJoinSql}.
 */
export function asOfIndex(times: ArrayLike<number>, t: number, policy: AsOfPolicy): number {
  const n = times.length;
  // First index whose time is > t (upper bound) and >= t (lower bound).
  let lo = 0;
  let hi = n;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if ((times[mid] as number) <= t) lo = mid + 1;
    else hi = mid;
  }
  const upper = lo;
  lo = 0;
  hi = upper;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if ((times[mid] as number) < t) lo = mid + 1;
    else hi = mid;
  }
  const lower = lo;
  const back = policy.allowExactMatches ? upper - 1 : lower - 1;
  const fwd = policy.allowExactMatches ? lower : upper;
  const b = back >= 0 ? back : -1;
  const f = fwd < n ? fwd : -1;
  let pick: number;
  if (policy.direction === 'backward') pick = b;
  else if (policy.direction === 'forward') pick = f;
  else if (b < 0) pick = f;
  else if (f < 0) pick = b;
  else pick = t - (times[b] as number) <= (times[f] as number) - t ? b : f;
  if (pick < 0) return -1;
  return withinTolerance(policy, t - (times[pick] as number)) ? pick : -1;
}

/** One side of an as-of join: a relation (table name or parenthesised subquery) and its time. */
export interface AsOfSide {
  /** A table, view or `(SELECT …)`. */
  readonly relation: string;
  /** SQL expression over the relation's columns giving epoch ms, e.g. `epoch_ms(ts) + 60000`. */
  readonly time: string;
  /** Key columns, matched pairwise with the other side's (may be empty: match on time only). */
  readonly keys: readonly string[];
}

export interface AsOfJoinSpec {
  readonly left: AsOfSide;
  /** Must hold at most one row per (keys, time); a duplicate would duplicate left rows. */
  readonly right: AsOfSide;
  /** Right columns to bring over, renamed. */
  readonly columns: readonly { readonly column: string; readonly as: string }[];
  /** Optional output column with the matched right time (epoch ms), NULL when unmatched. */
  readonly matchedTimeAs?: string;
  readonly policy: AsOfPolicy;
}

/**
 * SQL for a left as-of join: every left row once, with the matched right row's columns (NULL
 * when there is no match within the policy). DuckDB's ASOF JOIN finds the candidates: backward
 * and forward in one join (a candidate beyond the tolerance matches nothing); `nearest` takes
 * both and picks, and the tolerance is applied to the chosen one. Left columns are kept as they
 * are (all of them); the caller keeps output names distinct.
 */
export function asOfJoinSql(spec: AsOfJoinSpec): string {
  const { left, right, policy } = spec;
  if (left.keys.length !== right.keys.length) throw new InputError('as-of join: left and right need the same number of keys');
  const lk = left.keys.map((k, i) => `${sqlIdent(k)} AS __k${i}`);
  const rk = right.keys.map((k, i) => `${sqlIdent(k)} AS __k${i}`);
  const keyNames = left.keys.map((_, i) => `__k${i}`);
  const keyEq = (a: string, b: string): string[] => keyNames.map((k) => `${a}.${k} = ${b}.${k}`);
  const using = ['__lt', ...keyNames].join(', ');
  if (policy.direction !== 'nearest') return directAsOfJoinSql(spec, lk, rk, keyNames);
  // Nearest: both candidates per distinct (keys, time) of the left, the closer one (ties: the
  // backward one), then its row.
  const candidate = (name: string, time: string, op: string): string =>
    `${name} AS (SELECT __q.*, __r.__rt AS ${time} FROM __q ASOF LEFT JOIN __r ON ${[...keyEq('__q', '__r'), `__q.__lt ${op} __r.__rt`].join(' AND ')})`;
  const candidates = [candidate('__b', '__bt', policy.allowExactMatches ? '>=' : '>'), candidate('__f', '__ft', policy.allowExactMatches ? '<=' : '<')];
  const chosen = `CASE WHEN __bt IS NULL THEN __ft WHEN __ft IS NULL THEN __bt WHEN __lt - __bt <= __ft - __lt THEN __bt ELSE __ft END`;
  const from = `__b JOIN __f USING (${using})`;
  const tol = policy.toleranceMs === null ? '' : ` WHERE abs(__lt - __mt) <= ${policy.toleranceMs}`;
  const rightCols = spec.columns.map((c) => `__r.${sqlIdent(c.column)} AS ${sqlIdent(c.as)}`);
  if (spec.matchedTimeAs) rightCols.push(`__m.__mt AS ${sqlIdent(spec.matchedTimeAs)}`);
  const matchJoin = [...keyEq('__l', '__m'), '__l.__lt = __m.__lt'].join(' AND ');
  const rightJoin = [...keyNames.map((k) => `__r.${k} = __m.${k}`), '__r.__rt = __m.__mt'].join(' AND ');
  return `(WITH
__l AS MATERIALIZED (SELECT *, ${[...lk, `CAST((${left.time}) AS BIGINT) AS __lt`].join(', ')} FROM ${left.relation}),
__r AS MATERIALIZED (SELECT *, ${[...rk, `CAST((${right.time}) AS BIGINT) AS __rt`].join(', ')} FROM ${right.relation}),
__q AS (SELECT DISTINCT ${using} FROM __l),
${candidates.join(',\n')},
__m AS (SELECT * FROM (SELECT ${using}, ${chosen} AS __mt FROM ${from})${tol})
SELECT __l.* EXCLUDE (${using})${rightCols.length ? `, ${rightCols.join(', ')}` : ''}
FROM __l LEFT JOIN __m ON ${matchJoin} LEFT JOIN __r ON ${rightJoin})`;
}

/**
 * Backward and forward as one ASOF LEFT JOIN: each left row meets its candidate directly, and
 * a candidate beyond the tolerance leaves the right columns NULL (the contract's one right row
 * per (keys, time) makes this the same as asOfJoinSql's general form, in one pass).
 */
function directAsOfJoinSql(spec: AsOfJoinSpec, lk: readonly string[], rk: readonly string[], keyNames: readonly string[]): string {
  const { left, right, policy } = spec;
  const op = policy.direction === 'backward' ? (policy.allowExactMatches ? '>=' : '>') : policy.allowExactMatches ? '<=' : '<';
  const on = [...keyNames.map((k) => `__l.${k} = __r.${k}`), `__l.__lt ${op} __r.__rt`].join(' AND ');
  const within = policy.toleranceMs === null ? null : `abs(__l.__lt - __r.__rt) <= ${policy.toleranceMs}`;
  const pick = (expr: string): string => (within === null ? expr : `CASE WHEN ${within} THEN ${expr} END`);
  const rightCols = spec.columns.map((c) => `${pick(`__r.${sqlIdent(c.column)}`)} AS ${sqlIdent(c.as)}`);
  if (spec.matchedTimeAs) rightCols.push(`${pick('__r.__rt')} AS ${sqlIdent(spec.matchedTimeAs)}`);
  const wanted = [...new Set(spec.columns.map((c) => sqlIdent(c.column)))];
  return `(WITH
__l AS (SELECT *, ${[...lk, `CAST((${left.time}) AS BIGINT) AS __lt`].join(', ')} FROM ${left.relation}),
__r AS (SELECT ${[...wanted, ...rk, `CAST((${right.time}) AS BIGINT) AS __rt`].join(', ')} FROM ${right.relation})
SELECT __l.* EXCLUDE (${['__lt', ...keyNames].join(', ')})${rightCols.length ? `, ${rightCols.join(', ')}` : ''}
FROM __l ASOF LEFT JOIN __r ON ${on})`;
}

/**
 * SQL for the row each key matches at one instant `t` (epoch ms): the single-instant form of
 * {@link asOfJoinSql}, e.g. "the latest feature row per symbol available at t". Returns the
 * relation's columns for keys that have a match; keys without one are absent.
 */
export function asOfPointSql(spec: { relation: string; time: string; keys: readonly string[]; t: number; policy: AsOfPolicy }): string {
  const { policy } = spec;
  if (!Number.isFinite(spec.t)) throw new InputError(`as-of instant must be a finite epoch-ms number, got ${String(spec.t)}`);
  const t = Math.trunc(spec.t);
  const time = `(${spec.time})`;
  const where: string[] = [];
  let order: string;
  if (policy.direction === 'backward') {
    where.push(`${time} ${policy.allowExactMatches ? '<=' : '<'} ${t}`);
    order = `${time} DESC`;
  } else if (policy.direction === 'forward') {
    where.push(`${time} ${policy.allowExactMatches ? '>=' : '>'} ${t}`);
    order = `${time} ASC`;
  } else {
    if (!policy.allowExactMatches) where.push(`${time} <> ${t}`);
    order = `abs(${time} - ${t}) ASC, ${time} ASC`;
  }
  if (policy.toleranceMs !== null) where.push(`abs(${time} - ${t}) <= ${policy.toleranceMs}`);
  const partition = spec.keys.length ? `PARTITION BY ${spec.keys.map(sqlIdent).join(', ')} ` : '';
  return `(SELECT * FROM ${spec.relation} WHERE ${where.length ? where.join(' AND ') : 'true'} QUALIFY row_number() OVER (${partition}ORDER BY ${order}) = 1)`;
}
