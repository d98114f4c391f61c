import { z } from 'zod';

export const twsConfigSchema = z
  .object({
    host: z.string().min(1).default('127.0.0.1'),
    port: z.number().int().min(1).max(65535).default(4002),
    client_id: z.number().int().min(0).default(17),
    historical_bar_size: z.enum(['5 secs', '1 min', '5 mins', '15 mins', '1 hour', '1 day']).default('1 min'),
    historical_duration: z.string().regex(/^\d+ [SDWMY]$/, 'expected e.g. "1 D", "23400 S"').default('1 D'),
    connect_timeout_ms: z.number().int().positive().default(10_000),
    request_timeout_ms: z.number().int().positive().default(60_000),
    /** Time-scale for IB's pacing windows (tests and the accelerated sim); 1 against a real gateway. */
    pacing_time_scale: z.number().positive().max(1).default(1),
    live: z
      .object({
        mode: z.enum(['keep_up_to_date', 'realtime_5s']).default('keep_up_to_date'),
        flush_interval_ms: z.number().int().positive().default(5_000),
        flush_max_bars: z.number().int().positive().default(5_000),
        silence_timeout_ms: z.number().int().positive().default(180_000),
      })
      .strict()
      .default({ mode: 'keep_up_to_date', flush_interval_ms: 5_000, flush_max_bars: 5_000, silence_timeout_ms: 180_000 }),
  })
  .strict();
export type TwsConfig = z.infer<typeof twsConfigSchema>;
