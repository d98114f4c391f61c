import { resolve } from 'node:path';
import { ScaledClock, SystemClock, type Clock } from '../core/clock.js';
import { ConfigError } from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import { simSettingsSchema, type SimInstrumentConfig, type SimSettings } from './sim-config.js';
import { BUILTIN_INSTRUMENTS } from './sim-instruments.js';
import type { SimGatewayOptions } from './sim-server.js';

/** An instrument of the main config (`instruments:`), which the sim serves when asked to. */
export interface ConfiguredInstrument {
  readonly key: string;
  readonly sec_type: string;
  readonly symbol: string;
  readonly exchange: string;
  readonly primary_exchange?: string | undefined;
  readonly currency: string;
  readonly last_trade_date_or_contract_month?: string | undefined;
  readonly local_symbol?: string | undefined;
  readonly multiplier?: string | undefined;
  readonly con_id?: number | undefined;
  readonly calendar: string;
}

/**
 * Reads a sim config document: either a whole ibpipe config (its `sim:` slice, plus its
 * `instruments:` so every configured instrument is served) or a standalone sim YAML.
 */
export function simSettingsFromDocument(
  doc: Record<string, unknown>,
  source: string,
  baseDir: string = process.cwd(),
): { settings: SimSettings; configured: ConfiguredInstrument[] } {
  // A standalone sim YAML uses only the sim's own keys; anything else means a whole ibpipe config.
  const simKeys = new Set(Object.keys(simSettingsSchema.shape));
  const isFullConfig = 'sim' in doc || Object.keys(doc).some((k) => !simKeys.has(k));
  const raw = isFullConfig ? (doc['sim'] ?? {}) : doc;
  const parsed = simSettingsSchema.safeParse(raw);
  if (!parsed.success) {
    const prefix = isFullConfig ? 'sim.' : '';
    const issues = parsed.error.issues.map(
      (i) => `${prefix}${i.path.map(String).join('.') || '(root)'}: ${i.message}`,
    );
    throw new ConfigError(`${source}: invalid sim config\n${issues.join('\n')}`, issues);
  }
  const configured =
    isFullConfig && Array.isArray(doc['instruments']) ? (doc['instruments'] as ConfiguredInstrument[]) : [];
  // Replay files are named relative to the config file.
  const instruments = parsed.data.instruments.map((i) =>
    i.replay_file === undefined ? i : { ...i, replay_file: resolve(baseDir, i.replay_file) },
  );
  return { settings: { ...parsed.data, instruments }, configured };
}

/**
 * Sim instruments for main-config instruments the sim does not already know (by key): a
 * default market (start price 100) on the instrument's own calendar.
 */
export function instrumentsForConfigured(
  configured: readonly ConfiguredInstrument[],
  known: readonly SimInstrumentConfig[],
): SimInstrumentConfig[] {
  const keys = new Set(known.map((k) => k.key));
  const out: SimInstrumentConfig[] = [];
  for (const c of configured) {
    if (keys.has(c.key)) continue;
    if (
      !['STK', 'FUT', 'CASH', 'IND', 'ETF'].includes(c.sec_type) ||
      !['XNYS', 'CMES', 'FX'].includes(c.calendar)
    )
      continue;
    out.push({
      key: c.key,
      sec_type: c.sec_type as SimInstrumentConfig['sec_type'],
      symbol: c.symbol,
      exchange: c.exchange,
      ...(c.primary_exchange ? { primary_exchange: c.primary_exchange } : {}),
      currency: c.currency,
      ...(c.last_trade_date_or_contract_month
        ? { last_trade_date_or_contract_month: c.last_trade_date_or_contract_month }
        : {}),
      ...(c.local_symbol ? { local_symbol: c.local_symbol } : {}),
      ...(c.multiplier ? { multiplier: c.multiplier } : {}),
      ...(c.con_id ? { con_id: c.con_id } : {}),
      calendar: c.calendar as SimInstrumentConfig['calendar'],
      start_price: 100,
      volatility: 0.25,
    });
  }
  return out;
}

/** The clock of a sim run: the system clock, or a virtual one for --speed / --now. */
export function simClock(speed: number, now: string | undefined, base: Clock = new SystemClock()): Clock {
  if (speed === 1 && now === undefined) return base;
  const start = now === undefined ? base.now() : Date.parse(now);
  if (!Number.isFinite(start))
    throw new ConfigError(`invalid start instant ${JSON.stringify(now)}`, [
      `sim.now: not an ISO-8601 instant`,
    ]);
  return new ScaledClock(start, speed);
}

/** Gateway options for validated sim settings. */
export function gatewayOptionsFrom(
  settings: SimSettings,
  configured: readonly ConfiguredInstrument[],
  clock: Clock,
  logger: Logger,
): SimGatewayOptions {
  const known = [...(settings.builtin_instruments ? BUILTIN_INSTRUMENTS : []), ...settings.instruments];
  const f = settings.faults;
  return {
    port: settings.port,
    host: settings.host,
    clock,
    logger,
    builtinInstruments: settings.builtin_instruments,
    instruments: [...settings.instruments, ...instrumentsForConfigured(configured, known)],
    extraClosures: settings.extra_closures,
    accounts: settings.accounts,
    nextValidId: settings.next_valid_id,
    timezone: settings.timezone,
    pacingEnabled: settings.pacing.enabled,
    pacingTimeScale: settings.pacing.time_scale,
    pacingSmallBarsOnly: settings.pacing.small_bars_only,
    maxMessagesPerSecond: settings.pacing.max_messages_per_second,
    faults: {
      latencyMs: f.latency_ms,
      jitterMs: f.jitter_ms,
      ...(f.max_chunk_bytes === undefined ? {} : { maxChunkBytes: f.max_chunk_bytes }),
      ...(f.bad_bars === undefined ? {} : { badBars: f.bad_bars }),
      scenario: f.scenario,
    },
  };
}
