import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { getCalendar } from '../../src/calendar/calendar-registry.js';
import { ManualClock } from '../../src/core/clock.js';
import { TimeoutError, InputError } from '../../src/core/errors.js';
import { JobLedger, type JobParams, type JobTrigger } from '../../src/ops/job-ledger.js';
import { silentLogger } from '../../src/ops/logging-setup.js';
import { jobsConfigSchema, type JobConfig } from '../../src/ops/ops-config.js';
import type { ExecutedRun } from '../../src/ops/orchestrator-adapter.js';
import { Scheduler } from '../../src/ops/scheduler.js';
import { openTempLake, type TempLake } from '../support/temp-lake.js';

let t: TempLake;
let clock: ManualClock;
let ledger: JobLedger;
const calls: { job: string; params: JobParams; trigger: JobTrigger; attempt: number; at: number }[] = [];
let behaviour: (job: string, attempt: number, signal: AbortSignal) => Promise<void>;

beforeEach(async () => {
  t = await openTempLake();
  clock = new ManualClock(Date.parse('2024-11-25T12:00:00Z'));
  ledger = new JobLedger(t.lake, clock);
  calls.length = 0;
  behaviour = async () => undefined;
});
afterEach(async () => {
  await t.cleanup();
});

function scheduler(jobs: unknown[]): Scheduler {
  const parsed = jobsConfigSchema.parse(jobs);
  return new Scheduler({
    jobs: parsed,
    clock,
    ledger,
    logger: silentLogger(),
    calendar: getCalendar('XNYS'),
    async execute(job: JobConfig, params, trigger, attempt, scheduledFor, signal): Promise<ExecutedRun> {
      calls.push({ job: job.name, params, trigger, attempt, at: clock.now() });
      const run = ledger.start(job.name, job.job ?? job.name, params, trigger, attempt, scheduledFor);
      try {
        await behaviour(job.name, attempt, signal);
        return { record: ledger.finish(run, 'ok', { n: 1 }), outcome: { counts: { n: 1 } }, error: null };
      } catch (err) {
        return { record: ledger.finish(run, 'failed', {}, err), outcome: null, error: err };
      }
    },
  });
}

const H = 3_600_000;

describe('Scheduler', () => {
  it('fires at 16:10 New York on trading days only, with the session date as parameter', async () => {
    const s = scheduler([{ name: 'transform', schedule: '10 16 * * 1-5', timezone: 'America/New_York' }]);
    await s.start();
    await clock.advance(5 * 24 * H); // Mon 2024-11-25 .. Sat 2024-11-30
    await s.idle();
    expect(calls.map((c) => [c.params.date, new Date(c.at).toISOString()])).toEqual([
      ['2024-11-25', '2024-11-25T21:10:00.000Z'],
      ['2024-11-26', '2024-11-26T21:10:00.000Z'],
      ['2024-11-27', '2024-11-27T21:10:00.000Z'],
      // 2024-11-28 is Thanksgiving: no run
      ['2024-11-29', '2024-11-29T21:10:00.000Z'],
    ]);
    await s.stop();
  });

  it('never overlaps two runs of one job', async () => {
    let active = 0;
    let maxActive = 0;
    behaviour = async (_job, _attempt, signal) => {
      active++;
      maxActive = Math.max(maxActive, active);
      try {
        await clock.sleep(90_000, signal); // longer than the 1-minute schedule
      } finally {
        active--;
      }
    };
    const s = scheduler([{ name: 'score', schedule: '* * * * *', trading_days_only: false }]);
    await s.start();
    await clock.advance(10 * 60_000);
    expect(maxActive).toBe(1);
    expect(calls.length).toBeGreaterThanOrEqual(5);
    await s.stop();
  });

  it('runs a dependent job after its dependency succeeded for the same date', async () => {
    const s = scheduler([
      { name: 'transform', schedule: '10 16 * * 1-5' },
      { name: 'features', after: ['transform'], params: { group: 'technical' } },
    ]);
    await s.start();
    await clock.advance(10 * H);
    await s.idle();
    expect(calls.map((c) => [c.job, c.params.date, c.trigger])).toEqual([
      ['transform', '2024-11-25', 'schedule'],
      ['features', '2024-11-25', 'dependency'],
    ]);
    expect(calls[1]!.params.group).toBe('technical');
    await s.stop();
  });

  it('retries retryable failures with exponential backoff and gives up on others', async () => {
    behaviour = async (job, attempt) => {
      if (job === 'flaky' && attempt < 3) throw new TimeoutError('upstream slow');
      if (job === 'broken') throw new InputError('bad');
    };
    const s = scheduler([
      { name: 'flaky', job: 'transform', schedule: '0 13 * * 1-5', retry: { max_attempts: 4, backoff_ms: 60_000 } },
      { name: 'broken', job: 'transform', schedule: '0 13 * * 1-5', retry: { max_attempts: 4, backoff_ms: 60_000 } },
    ]);
    await s.start();
    await clock.advance(7 * H);
    await s.idle();
    const flaky = calls.filter((c) => c.job === 'flaky');
    expect(flaky.map((c) => c.attempt)).toEqual([1, 2, 3]);
    // backoff: 1 min then 2 min after the first failure at 13:00 New York (18:00Z)
    expect(flaky.map((c) => new Date(c.at).toISOString().slice(11, 16))).toEqual(['18:00', '18:01', '18:03']);
    expect(calls.filter((c) => c.job === 'broken')).toHaveLength(1);
    await s.stop();
  });

  it('catches up fire times missed while down, and re-runs an interrupted run', async () => {
    // A previous daemon ran transform for 2024-11-20, then started one for 11-21 and died.
    const prev = ledger.start('transform', 'transform', { date: '2024-11-20' }, 'schedule', 1, Date.parse('2024-11-20T21:10:00Z'));
    ledger.finish(prev, 'ok');
    ledger.start('transform', 'transform', { date: '2024-11-21' }, 'schedule', 1, Date.parse('2024-11-21T21:10:00Z'));
    const s = scheduler([{ name: 'transform', schedule: '10 16 * * 1-5', catch_up: true }]);
    await s.start();
    await s.idle();
    expect(calls.map((c) => [c.params.date, c.trigger])).toEqual([
      ['2024-11-21', 'recovery'],
      ['2024-11-22', 'catch_up'],
    ]);
    expect(ledger.runs().filter((r) => r.status === 'abandoned')).toHaveLength(1);
    await s.stop();
  });

  it('live triggers coalesce while a run is busy: the backlog runs once, on the newest params; a chain never overlaps itself', async () => {
    behaviour = async (job, _attempt, signal) => {
      if (job === 'transform') await clock.sleep(10_000, signal);
    };
    const s = scheduler([
      { name: 'transform', on_live_bars: true },
      { name: 'features', after: ['transform'] },
    ]);
    await s.start();
    s.trigger('transform', { date: '2024-11-25', n: 1 });
    s.trigger('transform', { date: '2024-11-25', n: 2 });
    s.trigger('transform', { date: '2024-11-25', n: 3 });
    await clock.advance(5_000);
    s.trigger('transform', { date: '2024-11-25', n: 4 });
    s.trigger('transform', { date: '2024-11-25', n: 5 });
    await clock.advance(5_000);
    await clock.advance(10_000);
    await clock.advance(10_000);
    await s.idle();
    // 1-3 arrived before the first run started: one run, with 3; 4 and 5 while it ran: one run, with 5.
    expect(calls.filter((c) => c.job === 'transform').map((c) => [c.params['n'], c.trigger])).toEqual([
      [3, 'live'],
      [5, 'live'],
    ]);
    // The chain shares one queue: features waits behind the queued transform, then runs once for both.
    expect(calls.map((c) => c.job)).toEqual(['transform', 'transform', 'features']);
    await s.stop();
  });

  it('validates job config with paths', () => {
    const r = jobsConfigSchema.safeParse([{ name: 'x', job: 'transform', schedule: 'not cron' }, { name: 'features', after: ['nope'] }]);
    expect(r.success).toBe(false);
    const msgs = r.error!.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
    expect(msgs).toContain('0.schedule: must be a valid cron expression (5 or 6 fields)');
    expect(msgs).toContain('1.after.0: unknown job nope');
    const none = jobsConfigSchema.safeParse([{ name: 'transform' }]);
    expect(none.error?.issues.map((i) => i.message)).toEqual(['a job needs a schedule, an `after` dependency or on_live_bars']);
  });
});
