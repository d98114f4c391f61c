import { z } from 'zod';
import { Cron } from 'croner';
import { JOB_KINDS, type JobKind } from './job-kinds.js';

const cronExpr = z.string().refine((s) => {
  try {
    new Cron(s, { paused: true }).stop();
    return true;
  } catch {
    return false;
  }
}, 'must be a valid cron expression (5 or 6 fields)');

const zone = z.string().refine((tz) => {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: tz });
    return true;
  } catch {
    return false;
  }
}, 'must be an IANA time zone, e.g. America/New_York');

export { JOB_KINDS, type JobKind };

/**
 * One scheduled job. A job with `after` and no `schedule` runs when its dependencies succeed for
 * a date; one with `on_live_bars` runs whenever the daemon's live bars of a new interval are in
 * the raw store (and once more at the session's close plus `gaps.final_grace`).
 */
export const jobConfigSchema = z
  .object({
    name: z.string().regex(/^[a-z][a-z0-9_-]{0,63}$/, 'must be lowercase letters, digits, _ or -'),
    /** What to run; defaults to the name. */
    job: z.enum(JOB_KINDS).optional(),
    schedule: cronExpr.optional(),
    /**
     * Also run when the live bars of an interval have been committed for every instrument (or
     * after `daemon.live_bars_max_wait_ms`), and at each session's close plus `gaps.final_grace`
     * (the final transform): the daemon's live chain, e.g. transform → features → score.
     */
    on_live_bars: z.boolean().default(false),
    timezone: zone.default('America/New_York'),
    /** Skip fire times that are not trading days of time_series.trading_calendar. */
    trading_days_only: z.boolean().default(true),
    /** Jobs that must have succeeded for the same session date first. */
    after: z.array(z.string()).default([]),
    /** Run fire times missed while the daemon was down at start-up (at most catch_up_max_runs). */
    catch_up: z.boolean().default(false),
    catch_up_max_runs: z.number().int().positive().default(10),
    retry: z
      .object({ max_attempts: z.number().int().min(1).max(20).default(3), backoff_ms: z.number().int().positive().default(30_000) })
      .strict()
      .default({ max_attempts: 3, backoff_ms: 30_000 }),
    /** Job-specific parameters (e.g. { group: technical } for features, { name: demo } for dataset). */
    params: z.record(z.string(), z.unknown()).default({}),
    enabled: z.boolean().default(true),
  })
  .strict();
export type JobConfig = z.infer<typeof jobConfigSchema>;

export const jobsConfigSchema = z
  .array(jobConfigSchema)
  .default([])
  .superRefine((jobs, ctx) => {
    const names = new Set<string>();
    jobs.forEach((j, i) => {
      if (names.has(j.name)) ctx.addIssue({ code: 'custom', path: [i, 'name'], message: `duplicate job name ${j.name}` });
      names.add(j.name);
      if (!j.schedule && j.after.length === 0 && !j.on_live_bars) {
        ctx.addIssue({ code: 'custom', path: [i, 'schedule'], message: 'a job needs a schedule, an `after` dependency or on_live_bars' });
      }
      if (!j.job && !(JOB_KINDS as readonly string[]).includes(j.name)) {
        ctx.addIssue({ code: 'custom', path: [i, 'job'], message: `required when the name is not one of ${JOB_KINDS.join(', ')}` });
      }
    });
    jobs.forEach((j, i) =>
      j.after.forEach((dep, k) => {
        if (!names.has(dep)) ctx.addIssue({ code: 'custom', path: [i, 'after', k], message: `unknown job ${dep}` });
      }),
    );
  });

export const httpConfigSchema = z
  .object({
    enabled: z.boolean().default(true),
    host: z.string().default('127.0.0.1'),
    port: z.number().int().min(0).max(65535).default(9464),
  })
  .strict();

export const daemonConfigSchema = z
  .object({
    /** With an empty lake, how many completed sessions the start-up catch-up backfills. */
    catch_up_sessions: z.number().int().min(0).max(250).default(5),
    /** Longest time a graceful stop waits for running jobs before abandoning them. */
    shutdown_grace_ms: z.number().int().positive().default(8_000),
    /**
     * The live chain (jobs with `on_live_bars`) waits at most this long after a bar's close for
     * an instrument whose bar is still on its way (not final or not flushed yet) before it runs
     * without it; that instrument is then curated up to its previous bar.
     */
    live_bars_max_wait_ms: z.number().int().min(0).default(15_000),
  })
  .strict();
