import { Cron } from 'croner';
import type { TradingCalendar } from '../calendar/trading-calendar.js';
import type { Clock, TimerHandle } from '../core/clock.js';
import { isRetryable } from '../core/errors.js';
import { backoffDelay, exponentialBackoff } from '../core/retry.js';
import type { JobLedger, JobParams, JobTrigger } from './job-ledger.js';
import type { Logger } from '../core/logger.js';
import type { JobConfig } from './ops-config.js';
import type { ExecutedRun } from './orchestrator-adapter.js';

export interface SchedulerDeps {
  readonly jobs: readonly JobConfig[];
  readonly clock: Clock;
  readonly ledger: JobLedger;
  readonly logger: Logger;
  /** The trading calendar that decides trading days and the session date of a fire time. */
  readonly calendar: TradingCalendar;
  /** Runs one job (the orchestrator adapter in production). */
  execute(job: JobConfig, params: JobParams, trigger: JobTrigger, attempt: number, scheduledFor: number | null, signal: AbortSignal): Promise<ExecutedRun>;
}

interface Armed {
  cron: Cron;
  timer?: TimerHandle;
  next: number | null;
}

/** A queued run that has not started yet: later triggers of the same kind update its params instead of queueing more. */
interface PendingRun {
  params: JobParams;
}

/**
 * Cron scheduling on the Clock (so an accelerated clock accelerates the schedule): croner only
 * computes fire times; timers come from the Clock. Runs of one job never overlap, nor do those of
 * jobs chained by `after` (each chain has one queue), dependencies are per session date, retryable failures are retried with
 * exponential backoff, and at start-up interrupted runs are re-run and missed fire times caught up.
 */
export class Scheduler {
  readonly #deps: SchedulerDeps;
  readonly #armed = new Map<string, Armed>();
  readonly #queues = new Map<string, Promise<unknown>>();
  readonly #running = new Set<string>();
  /** Queued, not yet started live and dependency runs, by job (and date): bursts coalesce into one run. */
  readonly #pending = new Map<string, PendingRun>();
  readonly #timers = new Set<TimerHandle>();
  readonly #abort = new AbortController();
  #stopping = false;

  constructor(deps: SchedulerDeps) {
    this.#deps = deps;
  }

  get signal(): AbortSignal {
    return this.#abort.signal;
  }

  /** Recovers interrupted runs, catches up missed fire times, then arms every schedule. */
  async start(): Promise<void> {
    const { ledger, clock, logger } = this.#deps;
    for (const run of ledger.interrupted()) {
      ledger.finish(run, 'abandoned', {}, undefined, 'daemon stopped before the run ended');
      const job = this.#job(run.job);
      if (job?.enabled) {
        logger.warn({ job: run.job, run_id: run.run_id, params: run.params }, 're-running a job interrupted by a crash');
        this.#enqueue(job, run.params, 'recovery', 1, run.scheduled_for);
      }
    }
    const now = clock.now();
    for (const job of this.#deps.jobs) {
      if (!job.enabled || !job.schedule) continue;
      const cron = new Cron(job.schedule, { timezone: job.timezone, paused: true });
      this.#armed.set(job.name, { cron, next: null });
      if (job.catch_up) {
        const last = ledger.lastScheduledFor(job.name);
        if (last !== null) {
          const missed: number[] = [];
          let t = cron.nextRun(new Date(last))?.getTime() ?? null;
          while (t !== null && t <= now) {
            missed.push(t);
            t = cron.nextRun(new Date(t))?.getTime() ?? null;
          }
          for (const fire of missed.slice(-job.catch_up_max_runs)) this.#fire(job, fire, 'catch_up');
        }
      }
      this.#arm(job);
    }
  }

  /** Next fire time of each scheduled job (epoch ms), for the dashboard and /healthz. */
  nextRuns(): { job: string; next: number | null }[] {
    return [...this.#armed.entries()].map(([job, a]) => ({ job, next: a.next }));
  }

  running(): string[] {
    return [...this.#running];
  }

  /**
   * Runs `jobName` now (after its queued runs) with `params`, e.g. from the daemon's live chain.
   * Triggers that arrive while an earlier one still waits in the queue replace its params rather
   * than queue another run, so a slow job runs once per backlog, on the newest params.
   */
  trigger(jobName: string, params: JobParams, trigger: JobTrigger = 'live'): void {
    const job = this.#job(jobName);
    if (!job?.enabled) return;
    this.#enqueueCoalesced(`${job.name}|${trigger}`, job, params, trigger);
  }

  /**
   * Stops arming and retrying, signals running jobs to abandon cleanly (they write nothing
   * partial: every partition write is atomic) and waits for them.
   */
  async stop(): Promise<void> {
    this.#stopping = true;
    for (const a of this.#armed.values()) {
      this.#deps.clock.clearTimeout(a.timer);
      a.cron.stop();
    }
    for (const t of this.#timers) this.#deps.clock.clearTimeout(t);
    this.#abort.abort(new Error('scheduler stopping'));
    await Promise.allSettled([...this.#queues.values()]);
  }

  /** Waits until every queued and running job has finished (tests, `demo --once`). */
  async idle(): Promise<void> {
    for (;;) {
      const pending = [...this.#queues.values()];
      await Promise.allSettled(pending);
      if ([...this.#queues.values()].every((p) => pending.includes(p))) return;
    }
  }

  #job(name: string): JobConfig | undefined {
    return this.#deps.jobs.find((j) => j.name === name);
  }

  #arm(job: JobConfig): void {
    const armed = this.#armed.get(job.name);
    if (!armed || this.#stopping) return;
    const now = this.#deps.clock.now();
    const next = armed.cron.nextRun(new Date(now))?.getTime() ?? null;
    armed.next = next;
    if (next === null) return;
    armed.timer = this.#deps.clock.setTimeout(() => {
      this.#fire(job, next, 'schedule');
      this.#arm(job);
    }, next - now);
  }

  #paramsFor(job: JobConfig, fireTime: number): JobParams {
    return { ...(job.params as JobParams), date: this.#deps.calendar.sessionDateOf(fireTime), at: fireTime };
  }

  #fire(job: JobConfig, fireTime: number, trigger: JobTrigger): void {
    const params = this.#paramsFor(job, fireTime);
    if (job.trading_days_only && !this.#deps.calendar.session(params.date as string)) {
      this.#deps.logger.debug({ job: job.name, date: params.date }, 'not a trading day; skipped');
      return;
    }
    this.#enqueue(job, params, trigger, 1, fireTime);
  }

  #enqueue(job: JobConfig, params: JobParams | (() => JobParams), trigger: JobTrigger, attempt: number, scheduledFor: number | null): void {
    if (this.#stopping) return;
    const key = this.#queueKey(job);
    const prev = this.#queues.get(key) ?? Promise.resolve();
    const next = prev.then(() => this.#runOne(job, typeof params === 'function' ? params() : params, trigger, attempt, scheduledFor));
    const tracked = next.finally(() => {
      if (this.#queues.get(key) === tracked) this.#queues.delete(key);
    });
    this.#queues.set(key, tracked);
  }

  /**
   * The queue a job's runs wait in: the first job up its `after` chain. A chain (transform →
   * features → score) runs one job at a time, so a job never rewrites a partition while the next
   * one in its chain is reading it (a file replaced under a running DuckDB read can be read half
   * old, half new).
   */
  #queueKey(job: JobConfig): string {
    let current = job;
    const seen = new Set<string>([job.name]);
    for (;;) {
      const dep = current.after[0] === undefined ? undefined : this.#job(current.after[0]);
      if (!dep || seen.has(dep.name)) return current.name;
      seen.add(dep.name);
      current = dep;
    }
  }

  /** Queues one run for `key` unless one is already waiting, whose params are then replaced. */
  #enqueueCoalesced(key: string, job: JobConfig, params: JobParams, trigger: JobTrigger): void {
    if (this.#stopping) return;
    const waiting = this.#pending.get(key);
    if (waiting) {
      waiting.params = params;
      return;
    }
    const slot: PendingRun = { params };
    this.#pending.set(key, slot);
    this.#enqueue(
      job,
      () => {
        this.#pending.delete(key);
        return slot.params;
      },
      trigger,
      1,
      null,
    );
  }

  #later(ms: number, fn: () => void): void {
    const handle = this.#deps.clock.setTimeout(() => {
      this.#timers.delete(handle);
      fn();
    }, ms);
    this.#timers.add(handle);
  }

  async #runOne(job: JobConfig, params: JobParams, trigger: JobTrigger, attempt: number, scheduledFor: number | null): Promise<void> {
    if (this.#stopping) return;
    const { ledger, logger } = this.#deps;
    const kind = job.job ?? job.name;
    const date = params.date;
    const missing = date ? job.after.filter((dep) => !ledger.succeededFor(dep, date)) : [];
    if (missing.length > 0) {
      // Dependencies may still be running or retrying: look again later, then give up visibly.
      if (attempt < job.retry.max_attempts) {
        this.#later(job.retry.backoff_ms, () => this.#enqueue(job, params, trigger, attempt + 1, scheduledFor));
      } else {
        ledger.skip(job.name, kind, params, trigger, scheduledFor, `dependencies not satisfied for ${date}: ${missing.join(', ')}`);
      }
      return;
    }
    this.#running.add(job.name);
    let result: ExecutedRun;
    try {
      result = await this.#deps.execute(job, params, trigger, attempt, scheduledFor, this.#abort.signal);
    } finally {
      this.#running.delete(job.name);
    }
    if (result.record.status === 'ok') {
      if (date) this.#triggerDependents(job.name, date);
      return;
    }
    if (isRetryable(result.error) && attempt < job.retry.max_attempts && !this.#stopping) {
      const delay = backoffDelay(attempt, exponentialBackoff(job.retry.backoff_ms));
      logger.warn({ job: job.name, attempt, delay_ms: delay }, 'retryable failure; retrying with backoff');
      this.#later(delay, () => this.#enqueue(job, params, 'retry', attempt + 1, scheduledFor));
    }
  }

  #triggerDependents(done: string, date: string): void {
    for (const job of this.#deps.jobs) {
      if (!job.enabled || job.schedule || !job.after.includes(done)) continue;
      if (job.after.every((dep) => this.#deps.ledger.succeededFor(dep, date))) {
        this.#enqueueCoalesced(`${job.name}|dependency|${date}`, job, { ...(job.params as JobParams), date }, 'dependency');
      }
    }
  }
}
