import { InstrumentCalendars } from '../calendar/instrument-calendars.js';
import type { TradingCalendar } from '../calendar/trading-calendar.js';
import type { BarSize } from '../core/bars.js';
import { ConfigError } from '../core/errors.js';
import type { Clock } from '../core/clock.js';
import type { Instrument } from '../core/instruments.js';
import type { Logger } from '../core/logger.js';
import type { Lake } from '../storage/lake.js';
import type { RawStore } from '../storage/raw-store.js';
import { DbIngestor } from './db-ingestor.js';
import { FileIngestor } from './file-ingestor.js';
import type { Ingestor } from './ingestor.js';
import { ModuleIngestor } from './module-ingestor.js';
import { pgTargetFromEnv } from './pg-connection.js';
import type { SourceConfig, SourceType } from './sources-config.js';
import { TwsClient } from './tws/tws-client.js';
import type { TwsConfig } from './tws/tws-config.js';
import { TwsIngestor } from './tws/tws-ingestor.js';
import { type BackfillDataset } from './tws/tws-dataset.js';
import { WatermarkStore } from './watermark-store.js';
import { stateLedgerPath } from '../storage/state-ledgers.js';

/** What a source's factory may use; built once per command or job. */
export interface IngestorContext {
  readonly lake: Lake;
  readonly rawStore: RawStore;
  readonly clock: Clock;
  readonly logger: Logger;
  readonly instruments: readonly Instrument[];
  /** Bar size of sources that do not name one (`tws.historical_bar_size`). */
  readonly barSize: BarSize;
  /**
   * Environment variables the CLI chose to pass down (see `sourceEnvNames`): the only way a
   * source sees credentials. Nothing below src/cli reads process.env.
   */
  readonly env: Readonly<Record<string, string | undefined>>;
  /** The `tws:` settings; needed by `tws` sources only. */
  readonly tws?: TwsConfig | undefined;
  /** Trading calendar of an instrument key (default: each instrument's calendar without extra closures). */
  readonly calendarFor?: ((symbol: string) => TradingCalendar) | undefined;
  /** The bar dataset a `tws` source fills; absent: the classic one (`tws.historical_bar_size`). */
  readonly twsDataset?: BackfillDataset | undefined;
}

type Factory<T extends SourceType> = (config: Extract<SourceConfig, { type: T }>, ctx: IngestorContext) => Ingestor;

/** One line per source type; a type added to the config union without a line here does not compile. */
const FACTORIES: { readonly [T in SourceType]: Factory<T> } = {
  file: (config, ctx) =>
    new FileIngestor({
      name: config.name,
      paths: config.paths,
      rawStore: ctx.rawStore,
      lake: ctx.lake,
      clock: ctx.clock,
      instruments: ctx.instruments,
      barSize: ctx.barSize,
      tsTimezone: config.ts_timezone,
    }),
  postgres: (config, ctx) =>
    new DbIngestor({
      config,
      instruments: ctx.instruments,
      defaultBarSize: ctx.barSize,
      watermarks: new WatermarkStore(stateLedgerPath(ctx.lake, 'source_watermarks')),
      target: pgTargetFromEnv(ctx.env, { source: config.name, urlEnv: config.url_env, connectTimeoutMs: config.connect_timeout_ms }),
      clock: ctx.clock,
      logger: ctx.logger.child({ component: 'db-ingestor' }),
    }),
  module: (config, ctx) => {
    const calendars = ctx.calendarFor === undefined ? new InstrumentCalendars(ctx.instruments) : undefined;
    return new ModuleIngestor({
      config,
      instruments: ctx.instruments,
      barSize: config.bar_size ?? ctx.barSize,
      clock: ctx.clock,
      logger: ctx.logger,
      env: ctx.env,
      stateDir: ctx.lake.path('state'),
      watermarks: new WatermarkStore(ctx.lake.path('state', 'source_watermarks.jsonl')),
      calendarFor: ctx.calendarFor ?? ((s) => (calendars as InstrumentCalendars).calendarFor(s)),
    });
  },
  tws: (config, ctx) => {
    if (ctx.tws === undefined) throw new ConfigError(`source ${config.name}: the tws settings were not passed to the ingestor registry`);
    const calendars = ctx.calendarFor === undefined ? new InstrumentCalendars(ctx.instruments) : undefined;
    const tws = config.client_id === undefined ? ctx.tws : { ...ctx.tws, client_id: config.client_id };
    return new TwsIngestor({
      name: config.name,
      // A client of its own, connected for the length of each plan / run.
      client: TwsClient.fromConfig(tws, { clock: ctx.clock, logger: ctx.logger }),
      ownsClient: true,
      rawStore: ctx.rawStore,
      stateDir: ctx.lake.path('state'),
      calendarFor: ctx.calendarFor ?? ((s) => (calendars as InstrumentCalendars).calendarFor(s)),
      clock: ctx.clock,
      config: ctx.tws,
      logger: ctx.logger,
      instruments: ctx.instruments,
      defaultSessions: config.default_sessions,
      ...(ctx.twsDataset === undefined ? {} : { dataset: ctx.twsDataset }),
    });
  },
};

/** Builds the ingestor for one `sources:` entry. */
export function createIngestor(config: SourceConfig, ctx: IngestorContext): Ingestor {
  const factory = FACTORIES[config.type] as (c: SourceConfig, x: IngestorContext) => Ingestor;
  return factory(config, ctx);
}

export { pickSourceEnv, sourceEnvNames } from './source-env.js';
