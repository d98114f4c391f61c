import { Counter, Gauge, type Registry } from 'prom-client';
import type { DqRuleRecord, GapTotals } from '../storage/state-ledgers.js';
import type { DqAction, DqSeverity } from './dq-config.js';
import { isMissing, type DqRow } from './rules.js';

/** Failure count of one rule in one validation run (the DQ ledger's rule record, with config's severity and action). */
export interface DqRuleMetrics extends DqRuleRecord {
  readonly severity: DqSeverity;
  readonly action: DqAction;
}

/** The measurable outcome of one validation run (what the state ledger and Prometheus get). */
export interface DqMetrics {
  /** Rows validated. */
  readonly rows: number;
  /** Fraction of rows (0..1) where the column is null, undefined or NaN; 0 when there are no rows. */
  readonly nullRates: Readonly<Record<string, number>>;
  /** One entry per configured rule, in config order, failing or not. */
  readonly rules: readonly DqRuleMetrics[];
  /** Distinct rows removed by quarantine rules. */
  readonly quarantinedRows: number;
  /** Failures of `outlier` rules. */
  readonly outliers: number;
}

/** Gap-engine totals of a run (see gaps.ts GapReport). */
export type { GapTotals } from '../storage/state-ledgers.js';

export type DqOverallSeverity = 'ok' | DqSeverity;

/**
 * Null rate per column. Columns default to every key seen in the rows, in first-seen order, so
 * a column absent from some rows counts as null there.
 */
export function computeNullRates(rows: readonly DqRow[], columns?: readonly string[]): Record<string, number> {
  const cols = columns ?? [...new Set(rows.flatMap((r) => Object.keys(r)))];
  const out: Record<string, number> = {};
  for (const c of cols) {
    let nulls = 0;
    for (const r of rows) if (isMissing((r as Record<string, unknown>)[c])) nulls++;
    out[c] = rows.length === 0 ? 0 : nulls / rows.length;
  }
  return out;
}

const SEVERITY_VALUE: Record<DqOverallSeverity, number> = { ok: 0, warn: 1, error: 2 };

/** One run to export: what was validated, how it ended, when (epoch ms, from the job's Clock). */
export interface DqRunRecord {
  readonly dataset: string;
  readonly metrics: DqMetrics;
  readonly severity: DqOverallSeverity;
  readonly published: boolean;
  readonly finishedAt: number;
  readonly gaps?: GapTotals;
}

function gauge(registry: Registry, name: string, help: string, labelNames: string[]): Gauge<string> {
  const existing = registry.getSingleMetric(name);
  if (existing instanceof Gauge) return existing as Gauge<string>;
  return new Gauge({ name, help, labelNames, registers: [registry] });
}

function counter(registry: Registry, name: string, help: string, labelNames: string[]): Counter<string> {
  const existing = registry.getSingleMetric(name);
  if (existing instanceof Counter) return existing as Counter<string>;
  return new Counter({ name, help, labelNames, registers: [registry] });
}

/**
 * Exports DQ runs as Prometheus metrics on the registry it is given (never the global one).
 * Gauges hold the last run per dataset; counters accumulate over the process's life. Labels
 * are bounded (dataset, rule, column): no dates or symbols.
 */
export class DqMetricsExporter {
  readonly #rows: Gauge<string>;
  readonly #ruleFailures: Gauge<string>;
  readonly #ruleFailuresTotal: Counter<string>;
  readonly #nullRate: Gauge<string>;
  readonly #quarantinedTotal: Counter<string>;
  readonly #outliers: Gauge<string>;
  readonly #severity: Gauge<string>;
  readonly #runsTotal: Counter<string>;
  readonly #lastRun: Gauge<string>;
  readonly #gapBars: Gauge<string>;
  readonly #overLimitGaps: Gauge<string>;

  constructor(registry: Registry) {
    this.#rows = gauge(registry, 'ibpipe_dq_rows', 'Rows validated in the last DQ run', ['dataset']);
    this.#ruleFailures = gauge(registry, 'ibpipe_dq_rule_failures', 'Failures per rule in the last DQ run', ['dataset', 'rule', 'severity', 'action']);
    this.#ruleFailuresTotal = counter(registry, 'ibpipe_dq_rule_failures_total', 'Failures per rule over all DQ runs', ['dataset', 'rule']);
    this.#nullRate = gauge(registry, 'ibpipe_dq_null_rate', 'Fraction of null values per column in the last DQ run', ['dataset', 'column']);
    this.#quarantinedTotal = counter(registry, 'ibpipe_dq_quarantined_rows_total', 'Rows sent to quarantine', ['dataset']);
    this.#outliers = gauge(registry, 'ibpipe_dq_outliers', 'Outliers flagged in the last DQ run', ['dataset']);
    this.#severity = gauge(registry, 'ibpipe_dq_severity', 'Overall severity of the last DQ run (0 ok, 1 warn, 2 error)', ['dataset']);
    this.#runsTotal = counter(registry, 'ibpipe_dq_runs_total', 'DQ runs by outcome', ['dataset', 'outcome']);
    this.#lastRun = gauge(registry, 'ibpipe_dq_last_run_timestamp_seconds', 'End of the last DQ run (Unix seconds)', ['dataset']);
    this.#gapBars = gauge(registry, 'ibpipe_gap_bars', 'Bars of the last gap fill by kind (expected, observed, imputed, unfilled)', ['dataset', 'kind']);
    this.#overLimitGaps = gauge(registry, 'ibpipe_gap_over_limit_gaps', 'Gaps longer than max_gap_bars in the last gap fill', ['dataset']);
  }

  record(run: DqRunRecord): void {
    const dataset = run.dataset;
    this.#rows.set({ dataset }, run.metrics.rows);
    for (const r of run.metrics.rules) {
      this.#ruleFailures.set({ dataset, rule: r.name, severity: r.severity, action: r.action }, r.failures);
      this.#ruleFailuresTotal.inc({ dataset, rule: r.name }, r.failures);
    }
    for (const [column, rate] of Object.entries(run.metrics.nullRates)) this.#nullRate.set({ dataset, column }, rate);
    this.#quarantinedTotal.inc({ dataset }, run.metrics.quarantinedRows);
    this.#outliers.set({ dataset }, run.metrics.outliers);
    this.#severity.set({ dataset }, SEVERITY_VALUE[run.severity]);
    this.#runsTotal.inc({ dataset, outcome: run.published ? 'published' : 'refused' });
    this.#lastRun.set({ dataset }, run.finishedAt / 1000);
    if (run.gaps) {
      for (const kind of ['expected', 'observed', 'imputed', 'unfilled'] as const) this.#gapBars.set({ dataset, kind }, run.gaps[kind]);
      this.#overLimitGaps.set({ dataset }, run.gaps.overLimitGaps);
    }
  }
}
