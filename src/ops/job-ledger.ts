import { randomUUID } from 'node:crypto';
import type { Clock } from '../core/clock.js';
import { IbpipeError } from '../core/errors.js';
import type { JobParams } from '../core/job.js';
import type { Lake } from '../storage/lake.js';
import type { JsonlLedger } from '../storage/state-store.js';
import { openStateLedger, type JobRunRecord, type JobRunStatus, type JobTrigger } from '../storage/state-ledgers.js';

export type { JobParams } from '../core/job.js';
export type { JobRunRecord, JobRunStatus, JobTrigger } from '../storage/state-ledgers.js';

/**
 * Every job run, start and end, in `state/job_runs.jsonl`. A run is one `running` line then one
 * terminal line with the same run_id; a run left `running` by a crash is found at start-up.
 */
export class JobLedger {
  readonly #ledger: JsonlLedger<JobRunRecord>;
  readonly #clock: Clock;

  constructor(lake: Lake, clock: Clock) {
    this.#ledger = openStateLedger(lake, 'job_runs');
    this.#clock = clock;
  }

  start(job: string, kind: string, params: JobParams, trigger: JobTrigger, attempt: number, scheduledFor: number | null): JobRunRecord {
    const rec: JobRunRecord = {
      run_id: randomUUID(),
      job,
      kind,
      params,
      status: 'running',
      trigger,
      attempt,
      scheduled_for: scheduledFor,
      started_at: this.#clock.now(),
      ended_at: null,
      duration_ms: null,
      counts: {},
      error: null,
    };
    this.#ledger.append(rec);
    return rec;
  }

  finish(run: JobRunRecord, status: Exclude<JobRunStatus, 'running'>, counts: Record<string, number> = {}, error?: unknown, reason?: string): JobRunRecord {
    const ended = this.#clock.now();
    const rec: JobRunRecord = {
      ...run,
      status,
      ended_at: ended,
      duration_ms: ended - run.started_at,
      counts,
      error: error === undefined ? null : describeError(error),
      ...(reason ? { reason } : {}),
    };
    this.#ledger.append(rec);
    return rec;
  }

  /** Records a run that was decided against (overlap, not a trading day, dependency missing). */
  skip(job: string, kind: string, params: JobParams, trigger: JobTrigger, scheduledFor: number | null, reason: string): JobRunRecord {
    return this.finish(this.start(job, kind, params, trigger, 0, scheduledFor), 'skipped', {}, undefined, reason);
  }

  /** Latest record of each run, in start order. */
  runs(): JobRunRecord[] {
    const byId = new Map<string, JobRunRecord>();
    for (const r of this.#ledger.readAll()) byId.set(r.run_id, r);
    return [...byId.values()].sort((a, b) => a.started_at - b.started_at);
  }

  /** Runs a crash left in `running`. */
  interrupted(): JobRunRecord[] {
    return this.runs().filter((r) => r.status === 'running');
  }

  lastRun(job: string): JobRunRecord | undefined {
    return this.runs().filter((r) => r.job === job && r.status !== 'skipped').at(-1);
  }

  /** True when `job` has a successful run for the session date. */
  succeededFor(job: string, date: string): boolean {
    return this.runs().some((r) => r.job === job && r.status === 'ok' && (r.params.date === date || (r.params.start !== undefined && r.params.end !== undefined && r.params.start <= date && date <= r.params.end)));
  }

  /** Latest fire time recorded for a scheduled job (any outcome). */
  lastScheduledFor(job: string): number | null {
    let last: number | null = null;
    for (const r of this.runs()) if (r.job === job && r.scheduled_for !== null && (last === null || r.scheduled_for > last)) last = r.scheduled_for;
    return last;
  }
}

export function describeError(err: unknown): { code: string; message: string; retryable: boolean } {
  if (err instanceof IbpipeError) return { code: err.code, message: err.message, retryable: err.retryable };
  if (err instanceof Error) return { code: 'UNEXPECTED', message: err.message, retryable: false };
  return { code: 'UNEXPECTED', message: String(err), retryable: false };
}
