import { createRequire } from 'node:module';
import type pinoModule from 'pino';
import type { DestinationStream, Logger } from 'pino';

export type { Logger } from 'pino';

let pinoModuleCache: typeof pinoModule | undefined;

/**
 * pino (27 CommonJS files) loads when the first logger is made, not when a module that can log is
 * imported: `ibpipe sql` and `config check` never make one. require() because the package is CommonJS.
 */
function loadPino(): typeof pinoModule {
  pinoModuleCache ??= createRequire(import.meta.url)('pino') as typeof pinoModule;
  return pinoModuleCache;
}

export interface LoggingOptions {
  level?: string;
  format?: 'auto' | 'json' | 'pretty';
  /** Destination stream; defaults to stdout. */
  destination?: NodeJS.WritableStream;
}

/**
 * Root logger: JSON lines on stdout (what operators tail and ship), pretty-printed only when a
 * person is watching a TTY. Components take `logger.child({ component })`; errors go in `{ err }`.
 */
export function createLogger(options: LoggingOptions = {}): Logger {
  const pino = loadPino();
  const format = options.format ?? 'auto';
  const dest = options.destination ?? process.stdout;
  const pretty = format === 'pretty' || (format === 'auto' && options.destination === undefined && process.stdout.isTTY === true);
  const base = {
    level: options.level ?? 'info',
    base: { service: 'ibpipe', pid: process.pid },
    timestamp: pino.stdTimeFunctions.isoTime,
    serializers: { err: pino.stdSerializers.err },
  };
  if (pretty) {
    return pino({ ...base, transport: { target: 'pino-pretty', options: { colorize: true, translateTime: 'SYS:standard' } } });
  }
  return pino(base, dest as DestinationStream);
}

/** A logger that discards everything (tests and library callers that pass none). */
export function silentLogger(): Logger {
  return loadPino()({ level: 'silent' });
}
