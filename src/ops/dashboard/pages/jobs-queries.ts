import { Cron } from 'croner';
import type { BackfillLedgerRecord, BackfillStatus } from '../../../data-sources/tws/backfill-ledger.js';
import type { JobRunRecord } from '../../job-ledger.js';
import { compare, type DashboardContext } from '../dashboard-context.js';

// The jobs page: per job its schedule and recent outcomes, recent runs, the backfill ledger.

type Mutable<T> = { -readonly [K in keyof T]: T[K] };

export interface JobSummary {
  readonly name: string;
  readonly kind: string;
  readonly schedule: string | null;
  readonly timezone: string | null;
  readonly enabled: boolean;
  readonly configured: boolean;
  readonly last: JobRunRecord | null;
  readonly lastOk: JobRunRecord | null;
  readonly next: number | null;
  /** `scheduler`: the running daemon's armed timer; `schedule`: computed from the cron expression. */
  readonly nextSource: 'scheduler' | 'schedule' | null;
  readonly okRuns: number;
  readonly failedRuns: number;
  readonly meanDurationMs: number | null;
  readonly running: boolean;
}

export interface BackfillRow {
  readonly instrument: string;
  readonly windows: number;
  readonly byStatus: Record<BackfillStatus, number>;
  readonly bars: number;
  readonly firstDate: string | null;
  readonly lastDate: string | null;
  readonly lastRecordedAt: number | null;
  readonly headTs: number | null;
  readonly lastError: string | null;
}

/** Recent runs, newest first. */
export function recentRuns(ctx: DashboardContext, limit = 50): JobRunRecord[] {
  return ctx.jobLedger.runs().slice(-limit).reverse();
}

/** One line per job: configured jobs first, then jobs seen only in the ledger (manual runs). */
export function jobSummaries(ctx: DashboardContext): JobSummary[] {
  const runs = ctx.jobLedger.runs();
  const now = ctx.now();
  const armed = new Map((ctx.daemon?.scheduler.nextRuns() ?? []).map((n) => [n.job, n.next]));
  const running = new Set(ctx.daemon?.scheduler.running() ?? []);
  const names = [...ctx.src.settings.jobs.map((j) => j.name), ...runs.map((r) => r.job)];
  const out: JobSummary[] = [];
  for (const name of [...new Set(names)]) {
    const cfg = ctx.src.settings.jobs.find((j) => j.name === name);
    const mine = runs.filter((r) => r.job === name && r.status !== 'skipped');
    const recent = mine.slice(-20);
    const okDurations = recent.filter((r) => r.status === 'ok' && r.duration_ms !== null).map((r) => r.duration_ms as number);
    let next: number | null = null;
    let nextSource: JobSummary['nextSource'] = null;
    if (ctx.daemon && armed.has(name)) {
      next = armed.get(name) ?? null;
      nextSource = 'scheduler';
    } else if (cfg?.schedule && cfg.enabled) {
      const cron = new Cron(cfg.schedule, { timezone: cfg.timezone, paused: true });
      next = cron.nextRun(new Date(now))?.getTime() ?? null;
      cron.stop();
      nextSource = 'schedule';
    }
    out.push({
      name,
      kind: cfg?.job ?? cfg?.name ?? mine.at(-1)?.kind ?? name,
      schedule: cfg?.schedule ?? (cfg && cfg.after.length > 0 ? `after ${cfg.after.join(', ')}` : null),
      timezone: cfg?.schedule ? cfg.timezone : null,
      enabled: cfg?.enabled ?? false,
      configured: cfg !== undefined,
      last: mine.at(-1) ?? null,
      lastOk: [...mine].reverse().find((r) => r.status === 'ok') ?? null,
      next,
      nextSource,
      okRuns: recent.filter((r) => r.status === 'ok').length,
      failedRuns: recent.filter((r) => r.status === 'failed' || r.status === 'abandoned').length,
      meanDurationMs: okDurations.length > 0 ? okDurations.reduce((a, b) => a + b, 0) / okDurations.length : null,
      running: running.has(name) || mine.at(-1)?.status === 'running',
    });
  }
  return out;
}

/** Backfill ledger per instrument: the latest outcome of every window it recorded. */
export function backfillRows(ctx: DashboardContext): BackfillRow[] {
  const windows = new Map<string, Extract<BackfillLedgerRecord, { type: 'window' }>>();
  const heads = new Map<string, number | null>();
  for (const r of ctx.backfillLedger.readAll()) {
    if (r.type === 'head') heads.set(r.instrument, r.head_ts);
    else windows.set([r.instrument, r.bar_size, r.what_to_show, r.use_rth ? 1 : 0, r.window_start, r.window_end].join('|'), r);
  }
  const by = new Map<string, Mutable<BackfillRow>>();
  for (const w of windows.values()) {
    let row = by.get(w.instrument);
    if (!row) {
      row = { instrument: w.instrument, windows: 0, byStatus: { ok: 0, 'no-data': 0, pacing: 0, error: 0, timeout: 0 }, bars: 0, firstDate: null, lastDate: null, lastRecordedAt: null, headTs: heads.get(w.instrument) ?? null, lastError: null };
      by.set(w.instrument, row);
    }
    row.windows++;
    row.byStatus[w.status]++;
    row.bars += w.bars ?? 0;
    row.lastRecordedAt = Math.max(row.lastRecordedAt ?? 0, w.recorded_at);
    if (w.status === 'ok' || w.status === 'no-data') {
      if (row.firstDate === null || w.session_date < row.firstDate) row.firstDate = w.session_date;
      if (row.lastDate === null || w.session_date > row.lastDate) row.lastDate = w.session_date;
    } else if (w.error) row.lastError = `${w.session_date}: ${w.error}`;
  }
  return [...by.values()].sort((a, b) => compare(a.instrument, b.instrument));
}
