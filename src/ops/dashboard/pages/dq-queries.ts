import type { DqResultRecord } from '../../../pipelines/transform-pipeline.js';
import { checkDate, latestPerScope, type DashboardContext } from '../dashboard-context.js';

// The data-quality pages: failures per rule per date, and one date's results.

export interface DqOverview {
  readonly dates: string[];
  readonly rules: { name: string; type: string; severity: string; action: string }[];
  /** failures[rule][i] for dates[i] (null: rule not evaluated that date). */
  readonly failures: Record<string, (number | null)[]>;
  readonly latest: DqResultRecord | null;
  readonly runs: number;
}

export interface DqDateView {
  readonly date: string;
  readonly records: DqResultRecord[];
}

/** Failures per rule per session date (latest run per scope), over the last `days` dates with results. */
export function dqOverview(ctx: DashboardContext, days = 30): DqOverview {
  const all = ctx.dqLedger.readAll();
  const byDate = new Map<string, DqResultRecord[]>();
  for (const r of all) {
    let list = byDate.get(r.date);
    if (!list) byDate.set(r.date, (list = []));
    list.push(r);
  }
  const dates = [...byDate.keys()].sort().slice(-Math.max(1, Math.min(250, days)));
  const rules = new Map<string, { name: string; type: string; severity: string; action: string }>();
  const failures: Record<string, (number | null)[]> = {};
  dates.forEach((date, i) => {
    for (const rec of latestPerScope(byDate.get(date) ?? [])) {
      for (const m of rec.rules) {
        if (!rules.has(m.name)) rules.set(m.name, { name: m.name, type: m.type, severity: m.severity, action: m.action });
        const row = (failures[m.name] ??= new Array<number | null>(dates.length).fill(null));
        row[i] = (row[i] ?? 0) + m.failures;
      }
    }
  });
  let latest: DqResultRecord | null = null;
  for (const r of all) if (!latest || r.run_at >= latest.run_at) latest = r;
  return { dates, rules: [...rules.values()], failures, latest, runs: all.length };
}

/** The latest DQ results of one session date. */
export function dqDate(ctx: DashboardContext, date: string): DqDateView {
  checkDate(date);
  return { date, records: latestPerScope(ctx.dqLedger.readAll().filter((r) => r.date === date)) };
}
