import pino, { type Logger as PinoLogger } from 'pino';

// The port lives in core; re-exported for the CLI, ops and tests that already import it here.
export { silentLogger, type Logger } from '../core/logger.js';

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
export function createLogger(options: LoggingOptions = {}): PinoLogger {
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
  return pino(base, dest as pino.DestinationStream);
}
