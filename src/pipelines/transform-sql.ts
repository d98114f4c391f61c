import type { TradingCalendar } from '../calendar/trading-calendar.js';
import { tradedUntil } from '../calendar/trading-intervals.js';
import { CURATED_MASK_COLUMNS, frequencyMs } from '../core/bars.js';
import { DataQualityError } from '../core/errors.js';
import type { GapReport } from '../data-quality/gaps.js';
import { isFinalRun, type InstrumentCutoff } from '../data-quality/intraday-cutoff.js';
import { JS_COMPAT_MACROS } from '../data-quality/js-compat-sql.js';
import type { DqOverallSeverity } from '../data-quality/metrics.js';
import type { Logger } from '../core/logger.js';
import type { CuratedStore } from '../storage/curated-store.js';
import type { Lake } from '../storage/lake.js';
import type { QuarantineStore } from '../storage/quarantine-store.js';
import type { RawStore } from '../storage/raw-store.js';
import {
  MAX_LEDGER_FAILURES,
  transformCounts,
  transformDqKey,
  transformTarget,
  transformGridMs,
  type DqFailureRecord,
  type TransformDeps,
  type TransformSummary,
} from './transform-pipeline.js';
import { compileTransformPlan, type PlannedRule, type TransformSqlPlan } from './transform-sql-plan.js';

/**
 * The transform as set-based SQL (issue 17): raw → curated for one or many session dates with
 * the same semantics as the JS reference (transform-pipeline.ts), but the rows never leave
 * DuckDB. This file is the thin I/O wrapper: it stages the calendars' sessions, runs the
 * statements compiled by transform-sql-plan.ts, reads back small summaries (counts per rule,
 * null rates, gap reports, the first failures) and publishes each date: quarantine and curated
 * partitions replaced atomically (other symbols' rows kept), one DQ ledger line, metrics; a
 * date whose `fail` rules failed throws DataQualityError and writes nothing.
 */

/** What the JS transform needs, with the stores' relation-level writes and the lake to run SQL on. */
export interface SqlTransformDeps extends Omit<TransformDeps, 'rawStore' | 'curatedStore' | 'quarantineStore'> {
  readonly lake: Pick<Lake, 'run' | 'query' | 'stage' | 'dropTables'>;
  /** `leaseDate` (when present and caching is on) serves a one-date pass from the rows cached on the connection. */
  readonly rawStore: Pick<RawStore, 'relationSql'> & Partial<Pick<RawStore, 'leaseDate'>>;
  readonly curatedStore: Pick<CuratedStore, 'writeCuratedRelation' | 'hasPartition' | 'partitionFile'>;
  readonly quarantineStore: Pick<QuarantineStore, 'replaceFromRelation'>;
}

/** Grid rows (symbols x bars) one pass computes at most; a longer range is cut into passes of whole sessions. */
export const DEFAULT_MAX_GRID_ROWS = 1_000_000;

let passCounter = 0;
/** Lakes whose connection has the JS-compatible macros (temporary: they live as long as it does). */
const withMacros = new WeakSet<object>();

interface DateCounts {
  raw_rows: number;
  deduped: number;
  invalid: number;
  valid: number;
  incomplete: number;
  nulls: Record<string, number>;
}

interface DateFailure {
  rule_idx: number;
  symbol: string | null;
  reason: string;
}

/** What one date of a pass found, read back from the engine (small). */
interface DateResult {
  open: string[];
  closed: string[];
  /** Every open instrument's run is the session's final one. */
  final: boolean;
  notArrived: number;
  cutoffs: Map<string, InstrumentCutoff>;
  counts: DateCounts;
  quarantined: { validity: number; dq: number; grid: number };
  ruleFailures: Map<number, number>;
  failures: DateFailure[];
  reports: GapReport[];
}

function compareKeys(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function iso(ms: number): string {
  return new Date(ms).toISOString();
}

function num(v: unknown): number {
  return typeof v === 'number' ? v : Number(v ?? 0);
}

/**
 * The universe of a run: requested symbols (default: every configured one), unique and sorted;
 * only the bar dataset's instruments when it lists them.
 */
export function transformUniverse(symbols: readonly string[] | undefined, calendars: SqlTransformDeps['calendars'], dataset?: SqlTransformDeps['dataset']): string[] {
  const inDataset = dataset?.instruments ? new Set(dataset.instruments) : null;
  return [...new Set(symbols && symbols.length > 0 ? symbols : calendars.symbols())].filter((s) => inDataset === null || inDataset.has(s)).sort(compareKeys);
}

/**
 * The transform of several session dates computed in one pass (one set of statements over all
 * their raw files), then published date by date in any order. Call dispose() when done.
 */
export class TransformPass {
  readonly dates: readonly string[];
  readonly #deps: SqlTransformDeps;
  readonly #requested: string[];
  readonly #plan: TransformSqlPlan;
  readonly #now: number;
  readonly #results: Map<string, DateResult>;
  #disposed = false;

  private constructor(deps: SqlTransformDeps, dates: readonly string[], requested: string[], plan: TransformSqlPlan, now: number, results: Map<string, DateResult>) {
    this.#deps = deps;
    this.dates = dates;
    this.#requested = requested;
    this.#plan = plan;
    this.#now = now;
    this.#results = results;
  }

  /** Runs every statement of the pass for `dates` (session dates, any order) and reads back the summaries. */
  static async compute(dates: readonly string[], symbols: readonly string[] | undefined, deps: SqlTransformDeps): Promise<TransformPass> {
    const freq = transformGridMs(deps);
    const graceMs = frequencyMs(deps.gaps.final_grace);
    const requested = transformUniverse(symbols, deps.calendars, deps.dataset);
    const daily = deps.dataset?.daily === true;
    const now = deps.clock.now();
    const calIds = new Map<TradingCalendar, number>();
    const symbolCal: number[] = requested.map((s) => {
      const cal = deps.calendars.calendarFor(s);
      let id = calIds.get(cal);
      if (id === undefined) calIds.set(cal, (id = calIds.size));
      return id;
    });
    const sessions = { cal: [] as number[], cal_name: [] as string[], date: [] as string[], day: [] as number[], open_ms: [] as number[], close_ms: [] as number[], cut_ms: [] as number[], as_of_ms: [] as number[], now_ms: [] as number[], final: [] as boolean[], n_full: [] as number[], n_cut: [] as number[] };
    const breaks = { cal: [] as number[], date: [] as string[], start_ms: [] as number[], end_ms: [] as number[] };
    const results = new Map<string, DateResult>();
    let maxSlots = 1;
    for (const [day, date] of dates.entries()) {
      const openCals = new Set<number>();
      for (const [cal, id] of calIds) {
        const session = cal.session(date);
        if (!session) continue;
        openCals.add(id);
        sessions.cal.push(id);
        sessions.cal_name.push(cal.name);
        sessions.date.push(date);
        sessions.day.push(day);
        sessions.open_ms.push(session.open);
        maxSlots = Math.max(maxSlots, Math.ceil((session.close - session.open) / freq));
        sessions.close_ms.push(session.close);
        // A daily bar (one per session, stamped at the open) is complete at the session's close.
        const cut = daily ? (session.close <= now ? session.open : session.open - 1) : now - freq;
        sessions.cut_ms.push(cut);
        const grid = cal.expectedBarStarts(session, freq);
        sessions.n_full.push(grid.length);
        sessions.n_cut.push(grid.filter((t) => t <= cut).length);
        // Staleness is judged where trading stopped: a session ending in CME's halt stops at 16:00 CT.
        sessions.as_of_ms.push(tradedUntil(session, Math.min(now, session.close)));
        sessions.now_ms.push(now);
        sessions.final.push(isFinalRun(session, now, graceMs));
        for (const b of session.breaks ?? []) {
          breaks.cal.push(id);
          breaks.date.push(date);
          breaks.start_ms.push(b.start);
          breaks.end_ms.push(b.end);
        }
      }
      results.set(date, {
        open: requested.filter((_, i) => openCals.has(symbolCal[i] as number)),
        closed: requested.filter((_, i) => !openCals.has(symbolCal[i] as number)),
        final: true,
        notArrived: 0,
        cutoffs: new Map(),
        counts: { raw_rows: 0, deduped: 0, invalid: 0, valid: 0, incomplete: 0, nulls: Object.fromEntries(CURATED_MASK_COLUMNS.map((c) => [c, 0])) },
        quarantined: { validity: 0, dq: 0, grid: 0 },
        ruleFailures: new Map(),
        failures: [],
        reports: [],
      });
    }

    const { lake } = deps;
    const staged: string[] = [];
    const prefix = `ibp_tx${++passCounter}`;
    const sorted = [...dates].sort();
    const symbolsRel = await stage(
      lake,
      staged,
      [{ name: 'symbol', type: 'VARCHAR' }, { name: 'cal', type: 'BIGINT' }, { name: 'sid', type: 'BIGINT' }],
      { symbol: requested, cal: symbolCal, sid: requested.map((_, i) => i) },
      requested.length,
    );
    const sessionsRel = await stage(
      lake,
      staged,
      [
        { name: 'cal', type: 'BIGINT' },
        { name: 'cal_name', type: 'VARCHAR' },
        { name: 'date', type: 'VARCHAR' },
        { name: 'day', type: 'BIGINT' },
        ...(['open_ms', 'close_ms', 'cut_ms', 'as_of_ms', 'now_ms'] as const).map((name) => ({ name, type: 'BIGINT' as const })),
        { name: 'final', type: 'BOOLEAN' },
        { name: 'n_full', type: 'BIGINT' },
        { name: 'n_cut', type: 'BIGINT' },
      ],
      sessions,
      sessions.cal.length,
    );
    const breaksRel = await stage(
      lake,
      staged,
      [{ name: 'cal', type: 'BIGINT' }, { name: 'date', type: 'VARCHAR' }, { name: 'start_ms', type: 'BIGINT' }, { name: 'end_ms', type: 'BIGINT' }],
      breaks,
      breaks.cal.length,
    );
    // One date (the live chain's intraday run, every minute): its rows from the connection's
    // cache, which reads only the files committed since the previous run; the same rows as relationSql.
    const lease = dates.length === 1 && sorted[0] !== undefined ? ((await deps.rawStore.leaseDate?.(sorted[0], deps.barSize, deps.dataset?.series)) ?? null) : null;
    const plan = compileTransformPlan(
      { rules: deps.dqRules[transformDqKey(deps)] ?? [], gaps: deps.gaps, barMs: freq, maxSlots },
      {
        raw: lease?.sql ?? deps.rawStore.relationSql({ start: sorted[0] ?? '1970-01-01', end: sorted.at(-1) ?? '1970-01-01', barSize: deps.barSize, series: deps.dataset?.series }),
        symbols: symbolsRel,
        sessions: sessionsRel,
        breaks: breaksRel,
      },
      prefix,
      dates,
    );
    try {
      if (!withMacros.has(lake)) {
        for (const m of JS_COMPAT_MACROS) await lake.run(m);
        withMacros.add(lake);
      }
      const inserted = new Map<string, number>();
      for (const step of plan.compute) {
        if (step.onlyIfRows !== undefined && (inserted.get(step.onlyIfRows) ?? 0) === 0) continue;
        const none = step.unless !== undefined && (inserted.get(step.unless.counted) ?? 0) === 0;
        const n = await lake.run(none && step.unless ? step.unless.sql : step.sql);
        if (step.counts !== undefined) inserted.set(step.counts, n);
      }
      await readResults(lake, plan, results);
    } catch (err) {
      await lake.run(plan.drop.join(';\n')).catch(() => undefined);
      throw err;
    } finally {
      lease?.release();
      await lake.dropTables(staged);
    }
    return new TransformPass(deps, dates, requested, plan, now, results);
  }

  has(date: string): boolean {
    return this.#results.has(date);
  }

  /**
   * Publishes one date of the pass: quarantine and curated partitions (unless a `fail` rule
   * failed), the DQ ledger line and metrics, logs. Throws DataQualityError when refused.
   */
  async publish(date: string, log: Logger = this.#deps.logger): Promise<TransformSummary> {
    if (this.#disposed) throw new Error('transform pass already disposed');
    const r = this.#results.get(date);
    if (!r) throw new RangeError(`date ${date} is not part of this transform pass`);
    const deps = this.#deps;
    const dataset = transformTarget(deps);
    const dqKey = transformDqKey(deps);
    const logger = log.child({ component: 'transform', date, dataset });
    const plan = this.#plan;

    const outcomes = plan.rules.map((rule) => ({ rule, failures: r.ruleFailures.get(rule.index) ?? 0 }));
    let severity: DqOverallSeverity = 'ok';
    const failingRules: string[] = [];
    for (const o of outcomes) {
      if (o.failures === 0) continue;
      if (o.rule.severity === 'error') severity = 'error';
      else if (severity === 'ok') severity = 'warn';
      if (o.rule.action === 'fail') failingRules.push(o.rule.name);
    }
    const publish = failingRules.length === 0;
    const firstOf = (rule: PlannedRule): DateFailure[] => r.failures.filter((f) => f.rule_idx === rule.index);

    const quarantined = r.quarantined.validity + r.quarantined.dq + r.quarantined.grid;
    const { counts, gapTotals } = transformCounts(
      {
        raw_rows: r.counts.raw_rows,
        superseded: r.counts.raw_rows - r.counts.deduped,
        invalid: r.counts.invalid,
        dq_quarantined: r.quarantined.dq,
        off_grid: r.quarantined.grid,
        quarantined,
        incomplete: r.counts.incomplete,
        not_arrived: r.notArrived,
      },
      r.reports,
    );

    for (const o of outcomes) {
      if (o.failures === 0) continue;
      const level = o.rule.severity === 'error' ? 'error' : 'warn';
      logger[level]({ rule: o.rule.name, type: o.rule.type, action: o.rule.action, failures: o.failures, first: firstOf(o.rule).slice(0, 3).map((f) => f.reason) }, 'dq rule failed');
    }

    let curatedFile: string | null = null;
    let quarantineFile: string | null = null;
    if (publish) {
      quarantineFile = await deps.quarantineStore.replaceFromRelation(dqKey, date, this.#requested, plan.quarantineSelect(date), quarantined > 0);
      if (gapTotals.expected > 0 || deps.curatedStore.hasPartition(dataset, date)) {
        await deps.curatedStore.writeCuratedRelation(plan.curatedSelect(date), dataset, date, this.#requested, { ordered: true });
        counts.curated_rows = gapTotals.expected;
        curatedFile = deps.curatedStore.partitionFile(dataset, date);
      }
    }

    const finishedAt = deps.clock.now();
    const failuresTotal = outcomes.reduce((n, o) => n + o.failures, 0);
    const failures: DqFailureRecord[] = r.failures.slice(0, MAX_LEDGER_FAILURES).map((f) => {
      const rule = plan.rules[f.rule_idx] as PlannedRule;
      return { rule: rule.name, severity: rule.severity, action: rule.action, symbol: f.symbol, reason: f.reason };
    });
    const ruleMetrics = outcomes.map((o) => ({ name: o.rule.name, type: o.rule.type, severity: o.rule.severity, action: o.rule.action, failures: o.failures }));
    const nullRates = Object.fromEntries(CURATED_MASK_COLUMNS.map((c) => [c, r.counts.valid === 0 ? 0 : (r.counts.nulls[c] ?? 0) / r.counts.valid]));
    const outliers = outcomes.filter((o) => o.rule.type === 'outlier').reduce((n, o) => n + o.failures, 0);
    deps.dqLedger.append({
      run_at: finishedAt,
      dataset: dqKey,
      target: dataset,
      date,
      symbols: r.open,
      as_of: this.#now,
      final: r.final,
      rows: r.counts.valid,
      severity,
      published: publish,
      failing_rules: [...failingRules],
      rules: ruleMetrics,
      null_rates: nullRates,
      quarantined,
      outliers,
      gaps: gapTotals,
      sessions: r.reports.map((x) => ({
        symbol: x.symbol,
        date: x.date,
        expected: x.expected,
        observed: x.observed,
        imputed: x.imputed,
        unfilled: x.unfilled,
        longest_gap: x.longestGap,
        over_limit_gaps: x.overLimit.length,
      })),
      failures_total: failuresTotal,
      failures,
    });
    deps.metrics?.record({
      dataset: dqKey,
      metrics: { rows: r.counts.valid, nullRates, rules: ruleMetrics, quarantinedRows: quarantined, outliers },
      severity,
      published: publish,
      finishedAt,
      gaps: gapTotals,
    });

    const summary: TransformSummary = {
      date,
      dataset,
      symbols: r.open,
      closed: r.closed,
      asOf: this.#now,
      final: r.final,
      cutoffs: r.cutoffs,
      counts,
      severity,
      published: publish,
      failingRules,
      reports: r.reports,
      curatedFile,
      quarantineFile,
    };
    if (!publish) {
      const lines = outcomes
        .filter((o) => failingRules.includes(o.rule.name))
        .map((o) => {
          const first = firstOf(o.rule)[0];
          return `${o.rule.name}: ${o.failures} failure(s), e.g. ${first?.symbol ?? ''} ${first?.reason ?? ''}`.trim();
        });
      logger.error({ counts, severity, failing_rules: failingRules }, 'transform refused to publish');
      throw new DataQualityError(`${dqKey} ${date}: DQ rule(s) with action fail failed; nothing published\n${lines.join('\n')}`, {
        details: { date, dataset, failing_rules: failingRules, counts },
      });
    }
    logger.info({ symbols: r.open.length, closed: r.closed.length, counts, severity, as_of: iso(this.#now), final: r.final }, 'transform finished');
    return summary;
  }

  /** Drops the pass's temporary tables. */
  async dispose(): Promise<void> {
    if (this.#disposed) return;
    this.#disposed = true;
    // One round trip for all of them.
    await this.#deps.lake.run(this.#plan.drop.join(';\n'));
  }
}

async function stage(lake: SqlTransformDeps['lake'], staged: string[], columns: Parameters<Lake['stage']>[0], data: Parameters<Lake['stage']>[1], n: number): Promise<string> {
  const name = await lake.stage(columns, data, n);
  staged.push(name);
  return name;
}

async function readResults(lake: SqlTransformDeps['lake'], plan: TransformSqlPlan, results: Map<string, DateResult>): Promise<void> {
  const at = (date: unknown): DateResult => {
    const r = results.get(String(date));
    if (!r) throw new Error(`transform: unexpected date ${String(date)} in the results`);
    return r;
  };
  // One round trip for the five summaries, each a JSON list of its rows.
  type Lists = 'counts' | 'cutoffs' | 'failureCounts' | 'failures' | 'reports';
  const [lists] = await lake.query<Record<Lists, string | null>>(plan.resultsQuery(MAX_LEDGER_FAILURES, 3));
  const rowsOf = (k: Lists): Record<string, unknown>[] => JSON.parse(lists?.[k] ?? '[]') as Record<string, unknown>[];
  for (const row of rowsOf('counts')) {
    const r = at(row.date);
    r.counts = {
      raw_rows: num(row.raw_rows),
      deduped: num(row.deduped),
      invalid: num(row.invalid),
      valid: num(row.valid),
      incomplete: num(row.incomplete),
      nulls: Object.fromEntries(CURATED_MASK_COLUMNS.map((c) => [c, num(row[`null_${c}`])])),
    };
  }
  // A date is final when every open instrument's run is (the JS reference: `every`, true when none).
  for (const row of rowsOf('cutoffs')) {
    const r = at(row.date);
    r.final &&= row.final === true;
    r.notArrived += num(row.not_arrived);
    r.cutoffs.set(String(row.symbol), { final: row.final === true, lastBarStart: row.last_bar_start === null ? null : num(row.last_bar_start) });
  }
  for (const row of rowsOf('failureCounts')) {
    const r = at(row.date);
    if (row.stage === null) r.ruleFailures.set(num(row.rule_idx), num(row.n));
    else r.quarantined[row.stage as 'validity' | 'dq' | 'grid'] = num(row.n);
  }
  for (const row of rowsOf('failures')) {
    at(row.date).failures.push({ rule_idx: num(row.rule_idx), symbol: (row.symbol as string | null) ?? null, reason: String(row.reason) });
  }
  for (const row of rowsOf('reports')) {
    at(row.date).reports.push({
      symbol: String(row.symbol),
      date: String(row.date),
      expected: num(row.expected),
      observed: num(row.observed),
      missing: num(row.missing),
      imputed: num(row.imputed),
      unfilled: num(row.unfilled),
      gaps: num(row.gaps),
      longestGap: num(row.longest_gap),
      overLimit: ((row.over_limit ?? []) as { start: number; bars: number }[]).map((g) => ({ start: Number(g.start), bars: Number(g.bars) })),
    });
  }
}

/** Raw → curated for one session date through SQL; same contract as runTransformTwsBars. */
export async function runTransformSql(date: string, symbols: readonly string[] | undefined, deps: SqlTransformDeps): Promise<TransformSummary> {
  const pass = await TransformPass.compute([date], symbols, deps);
  try {
    return await pass.publish(date);
  } finally {
    await pass.dispose();
  }
}

/**
 * A range of session dates published one by one in order (each its own job run), computed in
 * passes of as many whole sessions as fit {@link DEFAULT_MAX_GRID_ROWS}: a 250-session rebuild
 * is a handful of passes, not 250 round trips through the whole pipeline.
 */
export class TransformRange {
  readonly #deps: SqlTransformDeps;
  readonly #dates: readonly string[];
  readonly #symbols: readonly string[] | undefined;
  readonly #maxGridRows: number;
  #pass: TransformPass | null = null;
  #passes = 0;

  constructor(dates: readonly string[], symbols: readonly string[] | undefined, deps: SqlTransformDeps, options: { maxGridRows?: number } = {}) {
    this.#deps = deps;
    this.#dates = dates;
    this.#symbols = symbols;
    this.#maxGridRows = options.maxGridRows ?? DEFAULT_MAX_GRID_ROWS;
  }

  /** Publishes `date` (one of the range), computing the pass it belongs to first when needed; logs go to `logger`. */
  async run(date: string, logger?: Logger): Promise<TransformSummary> {
    if (!this.#pass?.has(date)) {
      await this.#pass?.dispose();
      this.#pass = null;
      this.#pass = await TransformPass.compute(this.#passFrom(date), this.#symbols, this.#deps);
      this.#passes++;
    }
    return this.#pass.publish(date, logger);
  }

  /** How many passes (sets of statements over the raw files) the range has computed so far. */
  get passes(): number {
    return this.#passes;
  }

  /** The dates of the pass that starts at `date`: the following dates while their grids fit. */
  #passFrom(date: string): string[] {
    const start = this.#dates.indexOf(date);
    if (start < 0) return [date];
    const freq = frequencyMs(this.#deps.gaps.frequency);
    const symbols = transformUniverse(this.#symbols, this.#deps.calendars, this.#deps.dataset);
    const out: string[] = [];
    let rows = 0;
    for (const d of this.#dates.slice(start)) {
      let n = 0;
      for (const s of symbols) {
        const session = this.#deps.calendars.calendarFor(s).session(d);
        if (session) n += Math.ceil((session.close - session.open) / freq);
      }
      if (out.length > 0 && rows + n > this.#maxGridRows) break;
      out.push(d);
      rows += n;
    }
    return out;
  }

  async close(): Promise<void> {
    await this.#pass?.dispose();
    this.#pass = null;
  }
}
