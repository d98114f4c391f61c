/**
 * The logging port. Stages log through this structural interface; pino's Logger satisfies it
 * (the CLI and the daemon hand theirs down: `src/ops/logging-setup.ts`), so nothing below `ops`
 * depends on pino or on how logs are shipped. Errors go in `{ err }`; components take
 * `logger.child({ component })`.
 */
export interface LogFn {
  (obj: object, msg?: string): void;
  (msg: string): void;
}

export interface Logger {
  debug: LogFn;
  info: LogFn;
  warn: LogFn;
  error: LogFn;
  child(bindings: Record<string, unknown>): Logger;
}

const noop = (): void => {};

/** A logger that discards everything (tests and library callers that pass none). */
export function silentLogger(): Logger {
  const logger: Logger = { debug: noop, info: noop, warn: noop, error: noop, child: () => logger };
  return logger;
}
