import { z } from 'zod';
import { isValidInstrumentKey, INSTRUMENT_KEY_MESSAGE } from '../core/instruments.js';

/**
 * The `sim:` slice of the ibpipe config, also accepted on its own as a standalone sim YAML
 * (`ibpipe sim --config sim.yaml`). It describes the simulated gateway's market (instruments
 * beyond the built-in universe), its rules and its faults. Keys are snake_case.
 */

const isoDate = z.string().regex(/^\d{4}-\d{2}-\d{2}$/, 'expected YYYY-MM-DD');

export const simInstrumentSchema = z
  .object({
    key: z.string().refine(isValidInstrumentKey, INSTRUMENT_KEY_MESSAGE),
    sec_type: z.enum(['STK', 'FUT', 'CASH', 'IND', 'ETF']),
    symbol: z.string().min(1),
    /** Exchange the contract details report; SMART for stocks routed by IB. */
    exchange: z.string().min(1),
    primary_exchange: z.string().min(1).optional(),
    currency: z.string().length(3),
    last_trade_date_or_contract_month: z
      .string()
      .regex(/^\d{6}(\d{2})?$/)
      .optional(),
    local_symbol: z.string().optional(),
    trading_class: z.string().optional(),
    multiplier: z.string().optional(),
    con_id: z.number().int().positive().optional(),
    calendar: z.enum(['XNYS', 'CMES', 'FX']),
    /** IB's zone id for the contract (contract details `timeZoneId`, formatDate=1 suffix). */
    time_zone_id: z.string().optional(),
    start_price: z.number().positive(),
    /** Annualised volatility of the synthetic log price. */
    volatility: z.number().positive().max(5).default(0.25),
    /** Seed of the synthetic path; defaults to a hash of the key. */
    seed: z.number().int().nonnegative().optional(),
    min_tick: z.number().positive().optional(),
    avg_volume_per_minute: z.number().nonnegative().optional(),
    long_name: z.string().optional(),
    isin: z.string().optional(),
    /** First day with history (reqHeadTimestamp); no bars before it. */
    head_date: isoDate.optional(),
    /** Stocks trade 04:00–09:30 and 16:00–20:00 New York outside regular hours (useRTH=0). */
    extended_hours: z.boolean().optional(),
    /**
     * Replay bars from a CSV file (columns ts, open, high, low, close, volume[, wap, count];
     * ts in ISO-8601 or epoch seconds/ms, bar start) instead of synthesising them.
     */
    replay_file: z.string().optional(),
  })
  .strict();
export type SimInstrumentConfig = z.infer<typeof simInstrumentSchema>;

export const BAD_BAR_KINDS = [
  'negative_price',
  'nan_price',
  'high_below_low',
  'zero_volume',
  'negative_volume',
  'out_of_order',
  'duplicate_ts',
] as const;
export type BadBarKind = (typeof BAD_BAR_KINDS)[number];

export const badBarsSchema = z
  .object({
    /** Probability that a given bar is corrupted (0–1). */
    rate: z.number().min(0).max(1),
    kinds: z
      .array(z.enum(BAD_BAR_KINDS))
      .min(1)
      .default([...BAD_BAR_KINDS]),
    seed: z.number().int().nonnegative().default(7),
  })
  .strict();
export type BadBarsConfig = z.infer<typeof badBarsSchema>;

/** Durations in scenario steps: `250ms`, `30s`, `5m`, `1h` or a number of ms (sim-clock time). */
export const simDurationSchema = z.union([
  z.number().nonnegative(),
  z.string().regex(/^\d+(\.\d+)?(ms|s|m|h)$/, 'expected e.g. 250ms, 30s, 5m, 1h'),
]);

const scenarioBase = { at: simDurationSchema };
export const scenarioStepSchema = z.discriminatedUnion('action', [
  z
    .object({ ...scenarioBase, action: z.literal('drop_socket'), client_id: z.number().int().optional() })
    .strict(),
  z
    .object({
      ...scenarioBase,
      action: z.literal('connectivity_loss'),
      restore: z.enum(['data_lost', 'data_maintained']).default('data_maintained'),
      duration: simDurationSchema.default('10s'),
    })
    .strict(),
  z
    .object({
      ...scenarioBase,
      action: z.literal('farm_outage'),
      farm: z.enum(['market', 'hmds']).default('market'),
      name: z.string().optional(),
      duration: simDurationSchema.default('3s'),
      /** A real gateway sometimes leaves streams dead after the farm comes back (nautilus #3968). */
      streams_resume: z.boolean().default(true),
    })
    .strict(),
  z
    .object({
      ...scenarioBase,
      action: z.literal('silence_streams'),
      duration: simDurationSchema.optional(),
      req_id: z.number().int().optional(),
    })
    .strict(),
  z
    .object({ ...scenarioBase, action: z.literal('cancel_streams'), req_id: z.number().int().optional() })
    .strict(),
  z
    .object({
      ...scenarioBase,
      action: z.literal('latency'),
      latency_ms: z.number().nonnegative(),
      jitter_ms: z.number().nonnegative().default(0),
    })
    .strict(),
  z
    .object({
      ...scenarioBase,
      action: z.literal('chunking'),
      max_chunk_bytes: z.number().int().positive().nullable(),
    })
    .strict(),
  z.object({ ...scenarioBase, action: z.literal('bad_bars'), bad_bars: badBarsSchema.nullable() }).strict(),
]);
export type ScenarioStep = z.infer<typeof scenarioStepSchema>;

export const simFaultsSchema = z
  .object({
    latency_ms: z.number().nonnegative().default(0),
    jitter_ms: z.number().nonnegative().default(0),
    /** Split every response into TCP writes of at most this many bytes. */
    max_chunk_bytes: z.number().int().positive().optional(),
    bad_bars: badBarsSchema.optional(),
    /** Timed faults, `at` measured on the sim clock from start-up. */
    scenario: z.array(scenarioStepSchema).default([]),
  })
  .strict();
export type SimFaultsConfig = z.infer<typeof simFaultsSchema>;

export const simPacingSchema = z
  .object({
    enabled: z.boolean().default(true),
    /** Multiplies every pacing window (15 s, 2 s, 10 min, 1 s); < 1 makes tests fast. */
    time_scale: z.number().positive().default(1),
    /** Only bars of 30 secs or less are paced, as IB documents; false paces every bar size. */
    small_bars_only: z.boolean().default(false),
    max_messages_per_second: z.number().int().positive().default(50),
  })
  .strict();

export const simSettingsSchema = z
  .object({
    host: z.string().default('127.0.0.1'),
    port: z.number().int().min(0).max(65_535).default(4002),
    /** Virtual-clock speed factor (60 = one minute per second). */
    speed: z.number().positive().default(1),
    /** Fixed start instant (ISO-8601 with zone) for reproducible runs; default: now. */
    now: z.iso.datetime({ offset: true }).optional(),
    /** The gateway host's zone: connection time, zone-less request dates. */
    timezone: z.string().default('America/New_York'),
    accounts: z.array(z.string().min(1)).min(1).default(['DU1234567']),
    next_valid_id: z.number().int().positive().default(1),
    /** Serve the built-in universe (AAPL, MSFT, SPY, NVDA, JPM, ES-202503, EURUSD, …) too. */
    builtin_instruments: z.boolean().default(true),
    instruments: z.array(simInstrumentSchema).default([]),
    extra_closures: z.partialRecord(z.enum(['XNYS', 'CMES', 'FX']), z.array(isoDate)).default({}),
    pacing: simPacingSchema.default(simPacingSchema.parse({})),
    faults: simFaultsSchema.default(simFaultsSchema.parse({})),
  })
  .strict();
export type SimSettings = z.infer<typeof simSettingsSchema>;

/** The `sim:` slice of the root config (optional: only `ibpipe sim` and the demo read it). */
export const simConfigSchema = simSettingsSchema.optional();

/** Milliseconds of a scenario duration. */
export function simDurationMs(value: number | string): number {
  if (typeof value === 'number') return value;
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h)$/.exec(value);
  if (!m) throw new RangeError(`bad duration ${JSON.stringify(value)}`);
  const unit = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[m[2] as 'ms' | 's' | 'm' | 'h'];
  return Number(m[1]) * unit;
}
