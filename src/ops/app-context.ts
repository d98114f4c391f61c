import { InstrumentCalendars } from '../calendar/instrument-calendars.js';
import type { Settings } from '../config/settings.js';
import { SystemClock, type Clock } from '../core/clock.js';
import { CuratedStore } from '../storage/curated-store.js';
import { Lake } from '../storage/lake.js';
import { RawStore } from '../storage/raw-store.js';
import { silentLogger, type Logger } from './logging-setup.js';

/**
 * The composition root: everything a command or the daemon needs, built once from the frozen
 * settings. Modules receive the pieces (and their config slice), never the whole context.
 */
export interface AppContext {
  readonly settings: Readonly<Settings>;
  readonly clock: Clock;
  readonly logger: Logger;
  readonly lake: Lake;
  readonly calendars: InstrumentCalendars;
  readonly rawStore: RawStore;
  readonly curatedStore: CuratedStore;
  /** Environment variables for configured sources (database credentials), picked in src/cli; never logged. */
  readonly sourceEnv: Readonly<Record<string, string | undefined>>;
  close(): Promise<void>;
}

export async function createAppContext(
  settings: Readonly<Settings>,
  options: { clock?: Clock; logger?: Logger; sourceEnv?: Readonly<Record<string, string | undefined>> } = {},
): Promise<AppContext> {
  const lake = await Lake.open(settings.lake);
  const calendars = new InstrumentCalendars(settings.instruments, settings.calendars.extra_closures);
  let logger = options.logger;
  return {
    settings,
    clock: options.clock ?? new SystemClock(),
    // Made on first use: a command that never logs (`ibpipe sql`) never loads pino.
    get logger() {
      logger ??= silentLogger();
      return logger;
    },
    lake,
    calendars,
    rawStore: new RawStore(lake, calendars),
    curatedStore: new CuratedStore(lake),
    sourceEnv: options.sourceEnv ?? {},
    close: () => lake.close(),
  };
}
