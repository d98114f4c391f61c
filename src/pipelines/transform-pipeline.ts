import type { Session, TradingCalendar } from '../calendar/trading-calendar.js';
import { tradedUntil } from '../calendar/trading-intervals.js';
import { BAR_SIZE_TOKENS, CURATED_MASK_COLUMNS, barSizeMs, frequencyMs, type BarSize } from '../core/bars.js';
import type { Clock } from '../core/clock.js';
import { ConfigError, DataQualityError } from '../core/errors.js';
import type { DqRulesConfig, GapsConfig } from '../data-quality/dq-config.js';
import { fillGaps, overLimitOutcome, type GapReport, type ObservedBar } from '../data-quality/gaps.js';
import { instrumentCutoffs, withinCutoff, type InstrumentCutoff } from '../data-quality/intraday-cutoff.js';
import type { DqMetricsExporter, DqOverallSeverity, GapTotals } from '../data-quality/metrics.js';
import type { ExpectedSession, RuleFailure } from '../data-quality/rules.js';
import { summarizeOutcomes, validate, type RuleOutcome, type ValidationResult } from '../data-quality/validator.js';
import type { Logger } from '../core/logger.js';
import type { BarDataset } from './bar-datasets.js';
import type { CuratedStore } from '../storage/curated-store.js';
import type { QuarantineRow, QuarantineStore } from '../storage/quarantine-store.js';
import type { RawBarRow } from '../storage/tables/raw-bars.js';
import type { RawStore } from '../storage/raw-store.js';
import type { DqFailureRecord, DqResultRecord } from '../storage/state-ledgers.js';
import type { JsonlLedger } from '../storage/state-store.js';

export type { DqFailureRecord, DqResultRecord } from '../storage/state-ledgers.js';

/** The raw dataset this transform reads; its DQ rules are `dq_rules.tws_bars`. */
export const TRANSFORM_SOURCE_DATASET = 'tws_bars';

/** Invalid-record checks applied to every raw row before any configured rule. */
export const VALIDITY_RULES = ['valid_ts', 'finite_price', 'positive_price', 'non_negative_volume'] as const;

export interface TransformDeps {
  readonly rawStore: Pick<RawStore, 'readTwsBars'>;
  readonly curatedStore: Pick<CuratedStore, 'writeCuratedBars' | 'hasPartition' | 'partitionFile'>;
  readonly quarantineStore: Pick<QuarantineStore, 'replace'>;
  /** Ledger of DQ results (`state/dq_results.jsonl`). */
  readonly dqLedger: JsonlLedger<DqResultRecord>;
  /** Calendar of each configured symbol; `symbols()` is the default universe. */
  readonly calendars: { calendarFor(symbol: string): TradingCalendar; symbols(): string[] };
  readonly clock: Clock;
  readonly logger: Logger;
  readonly dqRules: DqRulesConfig;
  readonly gaps: GapsConfig;
  /** Bar size of the raw bars read (`tws.historical_bar_size`). */
  readonly barSize: BarSize;
  readonly metrics?: DqMetricsExporter;
  /**
   * The bar dataset transformed (pipelines/bar-datasets.ts); `dqRules`, `gaps` and `barSize` are
   * then its own. Absent: the classic dataset (`dq_rules.tws_bars`, curated `bars_<gaps.frequency>`).
   */
  readonly dataset?: TransformDataset;
}

/** What the transform needs to know of a bar dataset beyond its rules, gaps and bar size. */
export type TransformDataset = Pick<BarDataset, 'name' | 'dqKey' | 'series' | 'instruments' | 'daily'>;

/** Quarantine folder, DQ ledger `dataset`, metrics label and `dq_rules` key of a transform. */
export function transformDqKey(deps: Pick<TransformDeps, 'dataset'>): string {
  return deps.dataset?.dqKey ?? TRANSFORM_SOURCE_DATASET;
}

/** The curated dataset a transform writes. */
export function transformTarget(deps: Pick<TransformDeps, 'dataset' | 'gaps'>): string {
  return deps.dataset?.name ?? curatedDatasetFor(deps.gaps);
}

export const MAX_LEDGER_FAILURES = 500;

export interface TransformCounts {
  /** Raw rows read for the date, every version. */
  raw_rows: number;
  /** Older versions of a (symbol, ts) dropped by the dedup. */
  superseded: number;
  /** Rows failing the validity checks. */
  invalid: number;
  /** Rows removed by quarantine DQ rules. */
  dq_quarantined: number;
  /** Rows outside the sessions or off the frequency grid. */
  off_grid: number;
  quarantined: number;
  /** Raw rows of bars not complete at as-of or after the cutoff (intraday run), left for a later run. */
  incomplete: number;
  /**
   * Grid bars complete at as-of but after their instrument's newest committed raw bar (intraday
   * run): not curated yet, as their data may still be on its way.
   */
  not_arrived: number;
  expected: number;
  observed: number;
  imputed: number;
  unfilled: number;
  over_limit_gaps: number;
  curated_rows: number;
}

export interface TransformSummary {
  date: string;
  dataset: string;
  symbols: string[];
  /** Requested symbols whose exchange has no session that date. */
  closed: string[];
  asOf: number;
  /** The session's final transform (every open symbol past close + gaps.final_grace). */
  final: boolean;
  /** How far each open symbol was curated. */
  cutoffs: ReadonlyMap<string, InstrumentCutoff>;
  counts: TransformCounts;
  severity: DqOverallSeverity;
  published: boolean;
  failingRules: string[];
  reports: GapReport[];
  curatedFile: string | null;
  quarantineFile: string | null;
}

/** The rows a run set aside or left, by stage: the counts that do not come from the gap reports. */
export type TransformRowCounts = Pick<TransformCounts, 'raw_rows' | 'superseded' | 'invalid' | 'dq_quarantined' | 'off_grid' | 'quarantined' | 'incomplete' | 'not_arrived'>;

/** A run's counts and gap totals from its row counts and gap reports (`curated_rows` 0 until written). */
export function transformCounts(rows: TransformRowCounts, reports: readonly GapReport[]): { counts: TransformCounts; gapTotals: GapTotals } {
  const gapTotals: GapTotals = reports.reduce(
    (t, r) => ({
      expected: t.expected + r.expected,
      observed: t.observed + r.observed,
      imputed: t.imputed + r.imputed,
      unfilled: t.unfilled + r.unfilled,
      overLimitGaps: t.overLimitGaps + r.overLimit.length,
    }),
    { expected: 0, observed: 0, imputed: 0, unfilled: 0, overLimitGaps: 0 },
  );
  const counts: TransformCounts = {
    ...rows,
    expected: gapTotals.expected,
    observed: gapTotals.observed,
    imputed: gapTotals.imputed,
    unfilled: gapTotals.unfilled,
    over_limit_gaps: gapTotals.overLimitGaps,
    curated_rows: 0,
  };
  return { counts, gapTotals };
}

type Normalised = RawBarRow;

function compareKeys(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** One row per (symbol, ts): the latest ingestion wins, then the greatest batch id. Sorted by (symbol, ts). */
function dedupLatest(rows: readonly RawBarRow[]): RawBarRow[] {
  const best = new Map<string, RawBarRow>();
  for (const r of rows) {
    const key = `${r.symbol}\u0000${r.ts}`;
    const cur = best.get(key);
    if (!cur || r.ingestion_ts > cur.ingestion_ts || (r.ingestion_ts === cur.ingestion_ts && r.batch_id > cur.batch_id)) best.set(key, r);
  }
  return [...best.values()].sort((a, b) => compareKeys(a.symbol, b.symbol) || a.ts - b.ts);
}

/** IB reports an unknown WAP or trade count as -1: those become NULL. */
function normalise(r: RawBarRow): Normalised {
  const num = (v: unknown): number | null => (v === null || v === undefined ? null : Number(v));
  const wap = num(r.wap);
  const count = num(r.trade_count);
  return {
    ...r,
    con_id: num(r.con_id),
    ts: Number(r.ts),
    open: num(r.open) as number,
    high: num(r.high) as number,
    low: num(r.low) as number,
    close: num(r.close) as number,
    volume: num(r.volume) as number,
    wap: wap !== null && Number.isFinite(wap) && wap > 0 ? wap : null,
    trade_count: count !== null && Number.isFinite(count) && count >= 0 ? count : null,
    ingestion_ts: Number(r.ingestion_ts),
  };
}

/** The first validity check a row fails, or null. */
function invalidity(r: Normalised): { rule: (typeof VALIDITY_RULES)[number]; reason: string } | null {
  if (!Number.isSafeInteger(r.ts) || r.ts <= 0) return { rule: 'valid_ts', reason: `ts ${String(r.ts)} is not a valid epoch-ms instant` };
  for (const k of ['open', 'high', 'low', 'close'] as const) {
    const v = r[k] as number | null;
    if (v === null || !Number.isFinite(v)) return { rule: 'finite_price', reason: `${k} ${String(v)} is not a finite number` };
  }
  for (const k of ['open', 'high', 'low', 'close'] as const) {
    if (!((r[k] ?? NaN) > 0)) return { rule: 'positive_price', reason: `${k} ${r[k]} is not positive` };
  }
  const v = r.volume as number | null;
  if (v === null || !Number.isFinite(v)) return { rule: 'non_negative_volume', reason: `volume ${String(v)} is not a finite number` };
  if (v < 0) return { rule: 'non_negative_volume', reason: `volume ${v} is negative` };
  return null;
}

function quarantineRow(r: Normalised, stage: string, rule: string, reason: string, otherRules: readonly string[] = []): QuarantineRow {
  return {
    source: r.source,
    symbol: r.symbol,
    con_id: r.con_id,
    what_to_show: r.what_to_show,
    ts: r.ts,
    open: r.open,
    high: r.high,
    low: r.low,
    close: r.close,
    volume: r.volume,
    wap: r.wap,
    trade_count: r.trade_count,
    batch_id: r.batch_id,
    ingestion_ts: r.ingestion_ts,
    request_id: r.request_id,
    stage,
    rule,
    reason,
    other_rules: otherRules.length > 0 ? otherRules.join(',') : null,
  };
}

function toObserved(r: Normalised): ObservedBar {
  return { symbol: r.symbol, ts: r.ts, open: r.open, high: r.high, low: r.low, close: r.close, volume: r.volume, wap: r.wap, trade_count: r.trade_count };
}

function iso(ms: number): string {
  return new Date(ms).toISOString();
}

/** The grid step of a transform, ms; ConfigError unless it is the raw bar size (no resampling). */
export function transformGridMs(deps: Pick<TransformDeps, 'gaps' | 'barSize'>): number {
  const freq = frequencyMs(deps.gaps.frequency);
  if (freq !== barSizeMs(deps.barSize)) {
    throw new ConfigError(`gaps.frequency ${deps.gaps.frequency} differs from the raw bar size ${deps.barSize}; the transform does not resample`, [
      `gaps.frequency: must equal tws.historical_bar_size (${BAR_SIZE_TOKENS[deps.barSize]})`,
    ]);
  }
  return freq;
}

/** The curated dataset a transform writes for a gap frequency, e.g. `bars_1min`. */
export function curatedDatasetFor(gaps: Pick<GapsConfig, 'frequency'>): string {
  return `bars_${gaps.frequency}`;
}

/**
 * The reference implementation, row by row in JS (the `transform` job runs the set-based SQL of
 * transform-sql.ts; test/pipelines/transform-differential.test.ts holds the two equal).
 * Raw → curated for one session date (DESIGN §4: the trading-session date of each symbol's
 * calendar). Reads the date's raw partition, keeps the latest version of each bar, normalises
 * IB's -1 sentinels, sets invalid records aside, runs the `dq_rules.tws_bars` rules, fills gaps
 * on the calendar grid, and replaces the curated partition for these symbols. How far the grid
 * goes (intraday-cutoff.ts): until the clock passes the session's close plus `gaps.final_grace`,
 * each symbol only up to its newest committed raw bar (bars after it may still be on their way;
 * a symbol without raw rows gets no rows yet), and only bars complete at the clock's now; then
 * the whole grid. A failing `error`+`fail` rule (or over-limit gap judged so) throws
 * DataQualityError before anything is written to curated or quarantine; the DQ result is still
 * recorded in state. Re-running with the same raw data writes identical files: nothing in them
 * depends on the run time.
 */
export async function runTransformTwsBars(date: string, symbols: readonly string[] | undefined, deps: TransformDeps): Promise<TransformSummary> {
  if (deps.dataset?.daily) {
    // Daily bars end at the session's close, not at ts + 1 day: only the SQL transform knows that.
    throw new ConfigError(`${deps.dataset.name}: the JS reference transform covers fixed-length bars only; daily datasets run through transform-sql`, [`${deps.dataset.name}: daily dataset`]);
  }
  const freq = transformGridMs(deps);
  const dataset = transformTarget(deps);
  const dqKey = transformDqKey(deps);
  const logger = deps.logger.child({ component: 'transform', date, dataset });
  const inDataset = deps.dataset?.instruments ? new Set(deps.dataset.instruments) : null;
  const requested = [...new Set(symbols && symbols.length > 0 ? symbols : deps.calendars.symbols())].filter((s) => inDataset === null || inDataset.has(s)).sort(compareKeys);
  const now = deps.clock.now();

  // Symbols whose exchange trades that date.
  const open: string[] = [];
  const closed: string[] = [];
  const sessions = new Map<string, Session>();
  for (const s of requested) {
    const session = deps.calendars.calendarFor(s).session(date);
    if (!session) {
      closed.push(s);
      continue;
    }
    open.push(s);
    sessions.set(s, session);
  }

  const raw = open.length > 0 ? await deps.rawStore.readTwsBars({ symbols: open, start: date, end: date, barSize: deps.barSize, series: deps.dataset?.series }) : [];
  const deduped = dedupLatest(raw).map(normalise);

  // How far each symbol is curated, and what the calendar expects from it up to there.
  const newestRaw = new Map<string, number>();
  for (const r of deduped) if (Number.isFinite(r.ts) && r.ts > (newestRaw.get(r.symbol) ?? -Infinity)) newestRaw.set(r.symbol, r.ts);
  const cutoffs = instrumentCutoffs(sessions, now, frequencyMs(deps.gaps.final_grace), newestRaw);
  const expected = new Map<string, ExpectedSession[]>();
  const asOfByEntity = new Map<string, number>();
  let notArrived = 0;
  for (const [s, session] of sessions) {
    const cutoff = cutoffs.get(s) as InstrumentCutoff;
    const due = deps.calendars.calendarFor(s).expectedBarStarts(session, freq).filter((t) => t + freq <= now);
    const starts = due.filter((t) => withinCutoff(cutoff, t, freq, now));
    notArrived += due.length - starts.length;
    expected.set(s, [{ date, starts }]);
    // Staleness is judged where trading stopped: a session ending in CME's halt stops at 16:00 CT.
    asOfByEntity.set(s, tradedUntil(session, Math.min(now, session.close)));
  }
  const final = open.every((s) => cutoffs.get(s)?.final === true);

  const quarantine: QuarantineRow[] = [];
  const validityFailures = new Map<string, RuleFailure[]>(VALIDITY_RULES.map((r) => [r, []]));
  const valid: Normalised[] = [];
  for (const r of deduped) {
    const bad = invalidity(r);
    if (!bad) {
      valid.push(r);
      continue;
    }
    quarantine.push(quarantineRow(r, 'validity', bad.rule, bad.reason));
    validityFailures.get(bad.rule)?.push({ row: null, entity: r.symbol, reason: `${Number.isFinite(r.ts) ? iso(r.ts) : String(r.ts)}: ${bad.reason}` });
  }
  const invalidCount = quarantine.length;

  const rules = deps.dqRules[dqKey] ?? [];
  const dq = validate(valid, rules, { expected, asOfByEntity, asOf: now, barMs: freq, columns: [...CURATED_MASK_COLUMNS] });
  const removed = new Set<number>();
  for (const q of dq.quarantine) {
    const r = valid[q.row] as Normalised;
    removed.add(q.row);
    quarantine.push(quarantineRow(r, 'dq', q.rule, q.reason, q.otherRules));
  }
  const kept = valid.filter((_, i) => !removed.has(i));

  const filled = fillGaps(kept.map(toObserved), {
    config: deps.gaps,
    calendarFor: (s) => deps.calendars.calendarFor(s),
    symbols: open,
    startDate: date,
    endDate: date,
    asOf: now,
    cutoffs,
  });
  for (const o of filled.offGrid) quarantine.push(quarantineRow(kept[o.index] as Normalised, 'grid', 'off_grid', o.reason));

  // Validity checks and gap limits are rules too: one result holds every outcome of the run.
  const validityOutcomes: RuleOutcome[] = VALIDITY_RULES.map((name) => ({ name, type: 'validity', severity: 'error', action: 'quarantine', failures: validityFailures.get(name) ?? [] }));
  const gridOutcome: RuleOutcome = {
    name: 'off_grid',
    type: 'grid',
    severity: 'warn',
    action: 'quarantine',
    failures: filled.offGrid.map((o) => ({ row: null, entity: (kept[o.index] as Normalised).symbol, reason: o.reason })),
  };
  const combined = summarizeOutcomes(
    [...validityOutcomes, ...dq.outcomes.map((o) => ({ ...o, failures: o.failures.map((f) => locate(f, valid)) })), gridOutcome, overLimitOutcome(filled.reports, deps.gaps)],
    dq.metrics.rows,
    dq.metrics.nullRates,
  );
  // Failures were re-labelled by bar, so count the quarantined rows from what was set aside.
  const result: ValidationResult = { ...combined, metrics: { ...combined.metrics, quarantinedRows: quarantine.length } };

  const { counts, gapTotals } = transformCounts(
    {
      raw_rows: raw.length,
      superseded: raw.length - deduped.length,
      invalid: invalidCount,
      dq_quarantined: dq.quarantine.length,
      off_grid: filled.offGrid.length,
      quarantined: quarantine.length,
      incomplete: filled.incomplete.length,
      not_arrived: notArrived,
    },
    filled.reports,
  );

  for (const o of result.outcomes) {
    if (o.failures.length === 0) continue;
    const level = o.severity === 'error' ? 'error' : 'warn';
    logger[level]({ rule: o.name, type: o.type, action: o.action, failures: o.failures.length, first: o.failures.slice(0, 3).map((f) => f.reason) }, 'dq rule failed');
  }

  let curatedFile: string | null = null;
  let quarantineFile: string | null = null;
  if (result.publish) {
    quarantineFile = await deps.quarantineStore.replace(dqKey, date, requested, quarantine);
    if (filled.rows.length > 0 || deps.curatedStore.hasPartition(dataset, date)) {
      counts.curated_rows = await deps.curatedStore.writeCuratedBars(filled.rows, dataset, date, requested);
      curatedFile = deps.curatedStore.partitionFile(dataset, date);
    }
  }

  const finishedAt = deps.clock.now();
  recordResult(deps, { date, dataset, symbols: open, asOf: now, final, finishedAt, result, reports: filled.reports, gapTotals });

  const summary: TransformSummary = {
    date,
    dataset,
    symbols: open,
    closed,
    asOf: now,
    final,
    cutoffs,
    counts,
    severity: result.severity,
    published: result.publish,
    failingRules: [...result.failingRules],
    reports: filled.reports,
    curatedFile,
    quarantineFile,
  };
  if (!result.publish) {
    const failing = result.outcomes.filter((o) => result.failingRules.includes(o.name));
    const lines = failing.map((o) => `${o.name}: ${o.failures.length} failure(s), e.g. ${o.failures[0]?.entity ?? ''} ${o.failures[0]?.reason ?? ''}`.trim());
    logger.error({ counts, severity: result.severity, failing_rules: result.failingRules }, 'transform refused to publish');
    throw new DataQualityError(`${dqKey} ${date}: DQ rule(s) with action fail failed; nothing published\n${lines.join('\n')}`, {
      details: { date, dataset, failing_rules: result.failingRules, counts },
    });
  }
  logger.info({ symbols: open.length, closed: closed.length, counts, severity: result.severity, as_of: iso(now), final }, 'transform finished');
  return summary;
}

/** Row-indexed failures of the configured rules, re-labelled with the bar they are about. */
function locate(f: RuleFailure, rows: readonly Normalised[]): RuleFailure {
  if (f.row === null) return f;
  const r = rows[f.row];
  return r ? { row: null, entity: r.symbol, reason: `${iso(r.ts)}: ${f.reason}` } : f;
}

function recordResult(
  deps: TransformDeps,
  run: { date: string; dataset: string; symbols: string[]; asOf: number; final: boolean; finishedAt: number; result: ValidationResult; reports: GapReport[]; gapTotals: GapTotals },
): void {
  const { result } = run;
  const failures: DqFailureRecord[] = result.failed.slice(0, MAX_LEDGER_FAILURES).map((f) => ({
    rule: f.rule,
    severity: f.severity,
    action: f.action,
    symbol: f.entity,
    reason: f.reason,
  }));
  deps.dqLedger.append({
    run_at: run.finishedAt,
    dataset: transformDqKey(deps),
    target: run.dataset,
    date: run.date,
    symbols: run.symbols,
    as_of: run.asOf,
    final: run.final,
    rows: result.metrics.rows,
    severity: result.severity,
    published: result.publish,
    failing_rules: [...result.failingRules],
    rules: [...result.metrics.rules],
    null_rates: { ...result.metrics.nullRates },
    quarantined: result.metrics.quarantinedRows,
    outliers: result.metrics.outliers,
    gaps: run.gapTotals,
    sessions: run.reports.map((r) => ({
      symbol: r.symbol,
      date: r.date,
      expected: r.expected,
      observed: r.observed,
      imputed: r.imputed,
      unfilled: r.unfilled,
      longest_gap: r.longestGap,
      over_limit_gaps: r.overLimit.length,
    })),
    failures_total: result.failed.length,
    failures,
  });
  deps.metrics?.record({
    dataset: transformDqKey(deps),
    metrics: result.metrics,
    severity: result.severity,
    published: result.publish,
    finishedAt: run.finishedAt,
    gaps: run.gapTotals,
  });
}
