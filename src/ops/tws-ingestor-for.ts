import type { Logger } from '../core/logger.js';
import type { TwsClient } from '../data-sources/tws/tws-client.js';
import { TwsIngestor } from '../data-sources/tws/tws-ingestor.js';
import type { AppContext } from './app-context.js';

/**
 * The TWS ingestor of this process's lake, wired from the app context (raw store, state folder,
 * calendars, clock, `tws` settings) around a client the caller owns and connects; the backfill
 * command, the demo and the daemon's market service all take theirs from here.
 */
export function twsIngestorFor(app: AppContext, client: TwsClient, logger: Logger = app.logger): TwsIngestor {
  return new TwsIngestor({
    client,
    rawStore: app.rawStore,
    stateDir: app.lake.path('state'),
    calendarFor: (symbol) => app.calendars.calendarFor(symbol),
    clock: app.clock,
    config: app.settings.tws,
    logger,
  });
}
