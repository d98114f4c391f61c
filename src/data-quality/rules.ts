import type { DqRule } from './dq-config.js';
import { frequencyMs } from '../core/bars.js';

/**
 * The DQ rule checks: each a pure function from rows to the failures it finds. Rows are plain
 * objects read by column name; a check never mutates or reorders them, and reports rows by
 * their index in the input.
 */

/** A row as the checks see it: any object whose columns are read by name. */
export type DqRow = object;

/** One failure of one rule. */
export interface RuleFailure {
  /** Index of the failing row in the input, or null when an entity or a session fails. */
  readonly row: number | null;
  /** Entity (symbol) the failure belongs to, when known. */
  readonly entity: string | null;
  readonly reason: string;
}

/** Bar starts one entity should have in one session (already cut at `asOf` for a partial one). */
export interface ExpectedSession {
  readonly date: string;
  readonly starts: readonly number[];
}

/** What rules that look beyond single rows need to know. */
export interface RuleContext {
  /** Entity column; default `symbol`. */
  readonly entityColumn?: string;
  /** Bar-start time column (epoch ms); default `ts`. */
  readonly timeColumn?: string;
  /** Expected bars per entity and session (bar_count; staleness checks these entities too). */
  readonly expected?: ReadonlyMap<string, readonly ExpectedSession[]>;
  /** Instant the data is judged at (staleness). */
  readonly asOf?: number;
  /** Per-entity judging instant (e.g. its session close for a past session); overrides asOf. */
  readonly asOfByEntity?: ReadonlyMap<string, number>;
  /** Bar length in ms: a bar is available at `ts + barMs` (staleness); default 1 min. */
  readonly barMs?: number;
}

type RuleOf<T extends DqRule['type']> = Extract<DqRule, { type: T }>;

function get(row: DqRow, column: string): unknown {
  return (row as Record<string, unknown>)[column];
}

/** Null, undefined and NaN are all "missing", as in pandas. */
export function isMissing(v: unknown): boolean {
  return v === null || v === undefined || (typeof v === 'number' && Number.isNaN(v));
}

function asNumber(v: unknown): number | undefined {
  if (typeof v === 'number') return v;
  if (typeof v === 'bigint') return Number(v);
  if (v instanceof Date) return v.getTime();
  return undefined;
}

function entityOf(row: DqRow, ctx: RuleContext): string | null {
  const v = get(row, ctx.entityColumn ?? 'symbol');
  return v === null || v === undefined ? null : String(v);
}

function iso(ms: number): string {
  return Number.isFinite(ms) && Math.abs(ms) < 8.64e15 ? new Date(ms).toISOString() : String(ms);
}

function show(v: unknown): string {
  return typeof v === 'string' ? JSON.stringify(v) : String(v);
}

export function checkRange(rule: RuleOf<'range'>, rows: readonly DqRow[], ctx: RuleContext): RuleFailure[] {
  const out: RuleFailure[] = [];
  rows.forEach((row, i) => {
    const raw = get(row, rule.field);
    if (isMissing(raw)) return;
    const v = asNumber(raw);
    if (v === undefined) {
      out.push({ row: i, entity: entityOf(row, ctx), reason: `${rule.field} ${show(raw)} is not a number` });
    } else if (rule.min !== undefined && !(v >= rule.min)) {
      out.push({ row: i, entity: entityOf(row, ctx), reason: `${rule.field} ${v} is below min ${rule.min}` });
    } else if (rule.max !== undefined && !(v <= rule.max)) {
      out.push({ row: i, entity: entityOf(row, ctx), reason: `${rule.field} ${v} is above max ${rule.max}` });
    }
  });
  return out;
}

export function checkEnum(rule: RuleOf<'enum'>, rows: readonly DqRow[], ctx: RuleContext): RuleFailure[] {
  const allowed = new Set<unknown>(rule.values);
  const out: RuleFailure[] = [];
  rows.forEach((row, i) => {
    const v = get(row, rule.field);
    if (isMissing(v) || allowed.has(v)) return;
    out.push({ row: i, entity: entityOf(row, ctx), reason: `${rule.field} ${show(v)} is not one of ${rule.values.map(show).join(', ')}` });
  });
  return out;
}

export function checkNotNull(rule: RuleOf<'not_null'>, rows: readonly DqRow[], ctx: RuleContext): RuleFailure[] {
  const out: RuleFailure[] = [];
  rows.forEach((row, i) => {
    const missing = rule.fields.filter((f) => isMissing(get(row, f)));
    if (missing.length > 0) out.push({ row: i, entity: entityOf(row, ctx), reason: `${missing.join(', ')} ${missing.length > 1 ? 'are' : 'is'} null` });
  });
  return out;
}

/** Rows whose time does not advance past the latest time seen so far for their entity (input order). */
export function checkMonotonicTime(rule: RuleOf<'monotonic_time'>, rows: readonly DqRow[], _ctx: RuleContext): RuleFailure[] {
  const latest = new Map<string | null, number>();
  const out: RuleFailure[] = [];
  rows.forEach((row, i) => {
    const entity = (() => {
      const v = get(row, rule.entity);
      return v === null || v === undefined ? null : String(v);
    })();
    const t = asNumber(get(row, rule.time));
    if (t === undefined || Number.isNaN(t)) {
      out.push({ row: i, entity, reason: `${rule.time} is missing` });
      return;
    }
    const prev = latest.get(entity);
    if (prev !== undefined && (t < prev || (rule.strict && t === prev))) {
      out.push({ row: i, entity, reason: `${rule.time} ${iso(t)} is not ${rule.strict ? 'after' : 'at or after'} ${iso(prev)} seen earlier for ${entity ?? 'null'}` });
      return;
    }
    latest.set(entity, t);
  });
  return out;
}

/** Every repeat of a key after its first occurrence fails (the first row of a key is kept). */
export function checkUnique(rule: RuleOf<'unique'>, rows: readonly DqRow[], ctx: RuleContext): RuleFailure[] {
  const first = new Map<string, number>();
  const out: RuleFailure[] = [];
  rows.forEach((row, i) => {
    const key = JSON.stringify(rule.keys.map((k) => {
      const v = get(row, k);
      return typeof v === 'bigint' ? v.toString() : v instanceof Date ? v.getTime() : (v ?? null);
    }));
    const prev = first.get(key);
    if (prev === undefined) first.set(key, i);
    else out.push({ row: i, entity: entityOf(row, ctx), reason: `duplicate of row ${prev} on (${rule.keys.join(', ')})` });
  });
  return out;
}

/** low <= open, close <= high and low <= high; rows with a missing price are left to not_null. */
export function checkOhlcConsistency(_rule: RuleOf<'ohlc_consistency'>, rows: readonly DqRow[], ctx: RuleContext): RuleFailure[] {
  const out: RuleFailure[] = [];
  rows.forEach((row, i) => {
    const [o, h, l, c] = (['open', 'high', 'low', 'close'] as const).map((k) => asNumber(get(row, k)));
    if (o === undefined || h === undefined || l === undefined || c === undefined) return;
    if ([o, h, l, c].some(Number.isNaN)) return;
    const broken: string[] = [];
    if (!(l <= h)) broken.push(`low ${l} > high ${h}`);
    if (!(o <= h)) broken.push(`open ${o} > high ${h}`);
    if (!(o >= l)) broken.push(`open ${o} < low ${l}`);
    if (!(c <= h)) broken.push(`close ${c} > high ${h}`);
    if (!(c >= l)) broken.push(`close ${c} < low ${l}`);
    if (broken.length > 0) out.push({ row: i, entity: entityOf(row, ctx), reason: broken.join('; ') });
  });
  return out;
}

/** Observed bars on the expected grid per entity and session, against the calendar's count. */
export function checkBarCount(rule: RuleOf<'bar_count'>, rows: readonly DqRow[], ctx: RuleContext): RuleFailure[] {
  if (!ctx.expected) throw new RangeError('bar_count needs the expected sessions per entity in the rule context');
  const timeCol = ctx.timeColumn ?? 'ts';
  const times = new Map<string, Set<number>>();
  for (const row of rows) {
    const e = entityOf(row, ctx);
    const t = asNumber(get(row, timeCol));
    if (e === null || t === undefined) continue;
    let set = times.get(e);
    if (!set) times.set(e, (set = new Set()));
    set.add(t);
  }
  const out: RuleFailure[] = [];
  for (const [entity, sessions] of [...ctx.expected].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
    const seen = times.get(entity) ?? new Set<number>();
    for (const s of sessions) {
      const expected = s.starts.length;
      const observed = s.starts.reduce((n, t) => n + (seen.has(t) ? 1 : 0), 0);
      const allowed = 'fraction' in rule.tolerance ? Math.floor(rule.tolerance.fraction * expected) : rule.tolerance.bars;
      if (expected - observed > allowed) {
        out.push({
          row: null,
          entity,
          reason: `${s.date}: ${observed} of ${expected} expected bars (${expected - observed} missing, tolerance ${allowed})`,
        });
      }
    }
  }
  return out;
}

/** The last bar of each entity must have become available no longer than `max_age` before `asOf`. */
export function checkStaleness(rule: RuleOf<'staleness'>, rows: readonly DqRow[], ctx: RuleContext): RuleFailure[] {
  if (ctx.asOf === undefined && ctx.asOfByEntity === undefined) throw new RangeError('staleness needs asOf in the rule context');
  const barMs = ctx.barMs ?? 60_000;
  const maxAge = frequencyMs(rule.max_age);
  const timeCol = ctx.timeColumn ?? 'ts';
  const last = new Map<string, number>();
  for (const row of rows) {
    const e = entityOf(row, ctx);
    const t = asNumber(get(row, timeCol));
    if (e === null || t === undefined || Number.isNaN(t)) continue;
    last.set(e, Math.max(last.get(e) ?? -Infinity, t));
  }
  const entities = new Set(last.keys());
  // Entities the calendar expects bars from (a session already under way) must have some.
  for (const [e, sessions] of ctx.expected ?? []) if (sessions.some((s) => s.starts.length > 0)) entities.add(e);
  const out: RuleFailure[] = [];
  for (const e of [...entities].sort()) {
    const asOf = ctx.asOfByEntity?.get(e) ?? ctx.asOf;
    if (asOf === undefined) continue;
    const t = last.get(e);
    if (t === undefined) {
      out.push({ row: null, entity: e, reason: `no bars at all as of ${iso(asOf)}` });
      continue;
    }
    const age = asOf - (t + barMs);
    if (age > maxAge) out.push({ row: null, entity: e, reason: `last bar ${iso(t)} is ${Math.round(age / 1000)} s old at ${iso(asOf)} (max ${rule.max_age})` });
  }
  return out;
}

/**
 * Log returns of `field` between consecutive rows of an entity (time order); a return whose
 * z-score against the previous `window` returns (mean, sample standard deviation) exceeds
 * `threshold` in absolute value flags the row it ends on. Rows without a positive finite value
 * are skipped; a flat window (standard deviation 0) judges nothing. A lone spike flags both
 * the spike bar and, usually, the bar after it (the return back).
 */
export function checkOutliers(rule: RuleOf<'outlier'>, rows: readonly DqRow[], ctx: RuleContext): RuleFailure[] {
  const timeCol = ctx.timeColumn ?? 'ts';
  const byEntity = new Map<string | null, number[]>();
  rows.forEach((row, i) => {
    const e = entityOf(row, ctx);
    let list = byEntity.get(e);
    if (!list) byEntity.set(e, (list = []));
    list.push(i);
  });
  const out: RuleFailure[] = [];
  for (const [entity, idx] of byEntity) {
    const usable = idx
      .map((i) => ({ i, t: asNumber(get(rows[i] as DqRow, timeCol)), v: asNumber(get(rows[i] as DqRow, rule.field)) }))
      .filter((r): r is { i: number; t: number; v: number } => r.t !== undefined && r.v !== undefined && Number.isFinite(r.v) && r.v > 0)
      .sort((a, b) => a.t - b.t || a.i - b.i);
    const returns: number[] = [];
    for (let k = 1; k < usable.length; k++) {
      const cur = usable[k] as { i: number; v: number };
      const r = Math.log(cur.v / (usable[k - 1] as { v: number }).v);
      if (returns.length >= rule.window) {
        const win = returns.slice(returns.length - rule.window);
        const mean = win.reduce((a, b) => a + b, 0) / win.length;
        const sd = Math.sqrt(win.reduce((a, b) => a + (b - mean) ** 2, 0) / (win.length - 1));
        if (sd > 0) {
          const z = (r - mean) / sd;
          if (Math.abs(z) > rule.threshold) {
            out.push({ row: cur.i, entity, reason: `${rule.field} return ${r.toPrecision(4)} is ${z.toFixed(1)} sd from the mean of the previous ${rule.window} returns` });
          }
        }
      }
      returns.push(r);
    }
  }
  return out.sort((a, b) => (a.row ?? 0) - (b.row ?? 0));
}

/** Runs one rule over the rows. */
export function evaluateRule(rule: DqRule, rows: readonly DqRow[], ctx: RuleContext = {}): RuleFailure[] {
  switch (rule.type) {
    case 'range':
      return checkRange(rule, rows, ctx);
    case 'enum':
      return checkEnum(rule, rows, ctx);
    case 'not_null':
      return checkNotNull(rule, rows, ctx);
    case 'monotonic_time':
      return checkMonotonicTime(rule, rows, ctx);
    case 'unique':
      return checkUnique(rule, rows, ctx);
    case 'ohlc_consistency':
      return checkOhlcConsistency(rule, rows, ctx);
    case 'bar_count':
      return checkBarCount(rule, rows, ctx);
    case 'staleness':
      return checkStaleness(rule, rows, ctx);
    case 'outlier':
      return checkOutliers(rule, rows, ctx);
  }
}
