import { z } from 'zod';
import { DEFAULT_GROUP_COMMIT } from '../../storage/raw-batch-writer.js';

const liveDefaults = {
  mode: 'keep_up_to_date' as const,
  flush_interval_ms: 5_000,
  flush_max_bars: 5_000,
  flush_on_final: true,
  silence_timeout_ms: 180_000,
  finalize_grace_ms: 30_000,
};

export const twsConfigSchema = z
  .object({
    host: z.string().min(1).default('127.0.0.1'),
    port: z.number().int().min(1).max(65535).default(4002),
    /** Fixed for the life of the process (never bumped on reconnect). */
    client_id: z.number().int().min(0).default(17),
    historical_bar_size: z.enum(['5 secs', '1 min', '5 mins', '15 mins', '1 hour', '1 day']).default('1 min'),
    /** IB's request step for 1-min bars; the planner asks one session (<= 86400 S) per request. */
    historical_duration: z.string().regex(/^\d+ [SDWMY]$/, 'expected e.g. "1 D", "23400 S"').default('1 D'),
    connect_timeout_ms: z.number().int().positive().default(10_000),
    request_timeout_ms: z.number().int().positive().default(60_000),
    /** Time-scale for IB's pacing windows (tests and the accelerated sim); 1 against a real gateway. */
    pacing_time_scale: z.number().positive().max(1).default(1),
    /** Added to every pacing window to absorb network jitter between us and the gateway. */
    pacing_safety_margin_ms: z.number().min(0).default(250),
    /** Historical requests in flight at once during a backfill (the pacer still decides when each goes). */
    backfill_concurrency: z.number().int().min(1).max(50).default(6),
    /**
     * Backfill pages are committed to raw in groups (one file per session date, one ledger line):
     * a group closes at this many rows …
     */
    backfill_commit_rows: z.number().int().min(1).max(5_000_000).default(DEFAULT_GROUP_COMMIT.maxRows),
    /** … or this long after its first page, whichever comes first. Window ledger lines follow their commit. */
    backfill_commit_delay_ms: z.number().int().min(0).max(60_000).default(DEFAULT_GROUP_COMMIT.maxDelayMs),
    /** Tries per backfill window in one run (timeouts, cancellations, disconnects). */
    max_window_attempts: z.number().int().min(1).max(20).default(4),
    live: z
      .object({
        /**
         * keepUpToDate 1-min bars: the same HMDS bars a backfill returns, so live and repaired
         * data agree (5-s real-time bars aggregated to 1 min can differ from HMDS bars).
         */
        mode: z.enum(['keep_up_to_date']).default('keep_up_to_date'),
        /**
         * Longest a final bar waits in the live buffer. A minute's bars are committed sooner: as
         * soon as every stream that owes the newest one has passed it on as final.
         */
        flush_interval_ms: z.number().int().positive().default(liveDefaults.flush_interval_ms),
        /** Commit a minute as soon as its last bar is final (false: only on the interval, the size or the stop). */
        flush_on_final: z.boolean().default(liveDefaults.flush_on_final),
        flush_max_bars: z.number().int().positive().default(liveDefaults.flush_max_bars),
        silence_timeout_ms: z.number().int().positive().default(liveDefaults.silence_timeout_ms),
        /** After a bar ends, how long to wait for the next bar's first update before calling it final. */
        finalize_grace_ms: z.number().int().min(0).default(liveDefaults.finalize_grace_ms),
      })
      .strict()
      .default(liveDefaults),
  })
  .strict();
export type TwsConfig = z.infer<typeof twsConfigSchema>;
