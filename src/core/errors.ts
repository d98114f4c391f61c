/**
 * Typed errors with a stable `code` and a `retryable` flag. Vendor errors (DuckDB, IB, pg,
 * fetch) are translated into these once, at the edge; the job runner branches on the class
 * or on `retryable`, never on message text.
 */
export interface IbpipeErrorOptions {
  cause?: unknown;
  /** Structured context for logs (file, line, config path, symbol, request id …). */
  details?: Record<string, unknown>;
}

export abstract class IbpipeError extends Error {
  abstract readonly code: string;
  abstract readonly retryable: boolean;
  /** Process exit code when this error ends a CLI command (DESIGN §9). */
  readonly exitCode: number = 1;
  readonly details: Record<string, unknown>;

  constructor(message: string, options: IbpipeErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.details = options.details ?? {};
  }
}

/** Bad configuration; `issues` lists every problem as `path: message`. */
export class ConfigError extends IbpipeError {
  readonly code = 'CONFIG_INVALID';
  readonly retryable = false;
  override readonly exitCode = 2;
  readonly issues: readonly string[];
  constructor(message: string, issues: readonly string[] = [], options?: IbpipeErrorOptions) {
    super(message, options);
    this.issues = issues;
  }
}

/** Bad user input (a file, a CLI argument, a record that fails the bar schema). */
export class InputError extends IbpipeError {
  readonly code = 'INPUT_INVALID';
  readonly retryable = false;
  override readonly exitCode = 2;
}

/** A data-quality rule with action `fail` was violated: the job refuses to publish. */
export class DataQualityError extends IbpipeError {
  readonly code = 'DQ_FAILED';
  readonly retryable = false;
  override readonly exitCode = 3;
}

/** Required upstream data or job output is missing (e.g. scoring before features ran). */
export class UpstreamMissingError extends IbpipeError {
  readonly code = 'UPSTREAM_MISSING';
  readonly retryable = true;
}

/** Lake / DuckDB failure. */
export class StorageError extends IbpipeError {
  readonly code = 'STORAGE';
  readonly retryable = false;
}

/** What an operator must fix when the lake's filesystem refuses a write. */
export type StorageWriteErrorCode = 'DISK_FULL' | 'PERMISSION_DENIED' | 'READ_ONLY_FS' | 'NOT_A_DIRECTORY';

/**
 * The lake's filesystem refused a write (disk full, no permission, read-only, a file where a
 * folder must be). Retrying cannot help until an operator acts: the message names what failed,
 * the path, and what to do. Whatever failed was removed, so no partial file is left visible.
 */
export class StorageWriteError extends IbpipeError {
  readonly code: StorageWriteErrorCode;
  readonly retryable = false;
  /** The file or folder the write was refused at. */
  readonly path: string;
  constructor(code: StorageWriteErrorCode, message: string, path: string, options?: IbpipeErrorOptions) {
    super(message, options);
    this.code = code;
    this.path = path;
  }
}

/** A definition changed under an existing version (feature group, dataset). */
export class VersionConflictError extends IbpipeError {
  readonly code = 'VERSION_CONFLICT';
  readonly retryable = false;
  override readonly exitCode = 2;
}

/** An external model or service answered badly. */
export class RemoteServiceError extends IbpipeError {
  readonly code: string;
  readonly retryable: boolean;
  constructor(message: string, retryable: boolean, options?: IbpipeErrorOptions & { code?: string }) {
    super(message, options);
    this.retryable = retryable;
    this.code = options?.code ?? 'REMOTE_SERVICE';
  }
}

/** An operation did not finish in time. */
export class TimeoutError extends IbpipeError {
  readonly code = 'TIMEOUT';
  readonly retryable = true;
}

export function isRetryable(err: unknown): boolean {
  return err instanceof IbpipeError && err.retryable;
}

export function exitCodeOf(err: unknown): number {
  return err instanceof IbpipeError ? err.exitCode : 1;
}
