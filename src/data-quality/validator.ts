import { ruleName, type DqAction, type DqRule, type DqSeverity } from './dq-config.js';
import { computeNullRates, type DqMetrics, type DqOverallSeverity } from './metrics.js';
import { evaluateRule, type DqRow, type RuleContext, type RuleFailure } from './rules.js';

/** Everything one rule found in one run. */
export interface RuleOutcome {
  readonly name: string;
  readonly type: string;
  readonly severity: DqSeverity;
  readonly action: DqAction;
  readonly failures: readonly RuleFailure[];
}

/** One failure, flattened with its rule: what the state ledger and the run summary list. */
export interface FailedRecord extends RuleFailure {
  readonly rule: string;
  readonly type: string;
  readonly severity: DqSeverity;
  readonly action: DqAction;
}

/** A row that quarantine rules remove; `rule` is the first failing quarantine rule in config order. */
export interface QuarantineEntry {
  readonly row: number;
  readonly rule: string;
  readonly reason: string;
  /** Other quarantine rules the row also failed. */
  readonly otherRules: readonly string[];
}

export interface ValidationResult {
  /** One per rule, config order, failing or not. */
  readonly outcomes: readonly RuleOutcome[];
  /** Every failure of every rule, in rule order then row order. */
  readonly failed: readonly FailedRecord[];
  readonly metrics: DqMetrics;
  /** Highest severity among rules that failed; `ok` when none did. */
  readonly severity: DqOverallSeverity;
  /** Rows to move to quarantine, ascending by row index; the rest continue. */
  readonly quarantine: readonly QuarantineEntry[];
  /** Rules with action `fail` that failed: when non-empty the job must not publish. */
  readonly failingRules: readonly string[];
  readonly publish: boolean;
}

export interface ValidateContext extends RuleContext {
  /** Columns to report null rates for; default every column seen in the rows. */
  readonly columns?: readonly string[];
}

/**
 * Folds rule outcomes into a result: severity, the quarantine set and the fail decision.
 * `rows` and `nullRates` describe the data the outcomes were judged on.
 */
export function summarizeOutcomes(outcomes: readonly RuleOutcome[], rows: number, nullRates: Readonly<Record<string, number>>): ValidationResult {
  const failed: FailedRecord[] = [];
  const quarantine = new Map<number, { rule: string; reason: string; otherRules: string[] }>();
  let severity: DqOverallSeverity = 'ok';
  const failingRules: string[] = [];
  for (const o of outcomes) {
    if (o.failures.length === 0) continue;
    if (o.severity === 'error') severity = 'error';
    else if (severity === 'ok') severity = 'warn';
    if (o.action === 'fail') failingRules.push(o.name);
    for (const f of o.failures) {
      failed.push({ ...f, rule: o.name, type: o.type, severity: o.severity, action: o.action });
      if (o.action !== 'quarantine' || f.row === null) continue;
      const q = quarantine.get(f.row);
      if (!q) quarantine.set(f.row, { rule: o.name, reason: f.reason, otherRules: [] });
      else if (q.rule !== o.name && !q.otherRules.includes(o.name)) q.otherRules.push(o.name);
    }
  }
  const metrics: DqMetrics = {
    rows,
    nullRates,
    rules: outcomes.map((o) => ({ name: o.name, type: o.type, severity: o.severity, action: o.action, failures: o.failures.length })),
    quarantinedRows: quarantine.size,
    outliers: outcomes.filter((o) => o.type === 'outlier').reduce((n, o) => n + o.failures.length, 0),
  };
  return {
    outcomes,
    failed,
    metrics,
    severity,
    quarantine: [...quarantine].sort(([a], [b]) => a - b).map(([row, q]) => ({ row, ...q })),
    failingRules,
    publish: failingRules.length === 0,
  };
}

/**
 * Runs every rule over every row (a row failing several rules is reported by each) and decides
 * what happens: quarantine rules pick rows to set aside, `fail` rules stop publication, `log`
 * rules only report. Pure: rows are not modified.
 */
export function validate(rows: readonly DqRow[], rules: readonly DqRule[], ctx: ValidateContext = {}): ValidationResult {
  const outcomes = rules.map((rule): RuleOutcome => ({
    name: ruleName(rule),
    type: rule.type,
    severity: rule.severity,
    action: rule.action,
    failures: evaluateRule(rule, rows, ctx),
  }));
  return summarizeOutcomes(outcomes, rows.length, computeNullRates(rows, ctx.columns));
}

/** The result with one more outcome folded in (e.g. the gap engine's over-limit gaps). */
export function withOutcome(result: ValidationResult, outcome: RuleOutcome): ValidationResult {
  return summarizeOutcomes([...result.outcomes, outcome], result.metrics.rows, result.metrics.nullRates);
}
