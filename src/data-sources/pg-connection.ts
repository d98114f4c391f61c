import pg from 'pg';
import type { Clock } from '../core/clock.js';
import { ConfigError, IbpipeError, TimeoutError, type IbpipeErrorOptions } from '../core/errors.js';
import { backoffDelay, exponentialBackoff, retry, type BackoffPolicy } from '../core/retry.js';
import type { Logger } from '../core/logger.js';

/** The PostgreSQL server could not be reached or dropped the connection; worth retrying. */
export class DbConnectionError extends IbpipeError {
  readonly code = 'DB_CONNECTION';
  readonly retryable = true;
}

/** The host, the credentials or the database were refused: retrying will not help. */
export class DbAccessError extends IbpipeError {
  readonly code = 'DB_ACCESS';
  readonly retryable = false;
  override readonly exitCode = 2;
}

/** A query failed for a reason other than the connection. */
export class DbQueryError extends IbpipeError {
  readonly code = 'DB_QUERY';
  readonly retryable: boolean;
  constructor(message: string, retryable: boolean, options?: IbpipeErrorOptions) {
    super(message, options);
    this.retryable = retryable;
  }
}

/** The configured table / query does not have the mapped columns with usable types. */
export class SourceSchemaError extends IbpipeError {
  readonly code = 'SOURCE_SCHEMA';
  readonly retryable = false;
  override readonly exitCode = 2;
}

const NET_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'EHOSTUNREACH', 'ENETUNREACH', 'EAI_AGAIN', 'ECONNABORTED', 'ENOTCONN']);
const DROPPED = /Connection terminated|connection timeout|Client has encountered a connection error|Client was closed|not queryable|socket hang up/i;

/**
 * Translates a `pg` / socket error into a typed error, once, at the edge. SQLSTATE classes:
 * 08 connection, 57P01-03 server shutting down or starting, 53 out of resources, 40001/40P01
 * serialization/deadlock: retryable; 28 and 3D000 (credentials, database): not; 42P01 / 42703
 * (relation / column missing): a schema mismatch.
 */
export function classifyPgError(err: unknown, source: string): IbpipeError {
  if (err instanceof IbpipeError) return err;
  const e = err as { code?: unknown; message?: unknown };
  const code = typeof e.code === 'string' ? e.code : '';
  const message = typeof e.message === 'string' ? e.message : String(err);
  const opts = { cause: err, details: { source, sqlstate: code || undefined } };
  const what = `source ${source}: ${message}${code ? ` (${code})` : ''}`;
  if (NET_CODES.has(code) || code.startsWith('08') || ['57P01', '57P02', '57P03'].includes(code) || DROPPED.test(message)) {
    return new DbConnectionError(what, opts);
  }
  if (code.startsWith('53') || code === '40001' || code === '40P01') return new DbQueryError(what, true, opts);
  if (code === '57014') return new TimeoutError(`${what}; raise statement_timeout_ms if the page is legitimately slow`, opts);
  if (code.startsWith('28') || code === '3D000') return new DbAccessError(what, opts);
  if (code === '42P01' || code === '42703' || code === '3F000') return new SourceSchemaError(what, opts);
  if (code === 'ENOTFOUND') return new DbAccessError(what, opts);
  return new DbQueryError(what, false, opts);
}

export { PG_ENV_NAMES } from './source-env.js';

export interface PgTarget {
  readonly config: pg.ClientConfig;
  /** host:port/database — safe to log (no user, no password). */
  readonly label: string;
}

export interface PgTargetOptions {
  readonly source: string;
  readonly urlEnv?: string | undefined;
  readonly connectTimeoutMs: number;
}

function sslFromMode(mode: string | undefined): pg.ClientConfig['ssl'] {
  if (mode === 'require') return { rejectUnauthorized: false };
  if (mode === 'verify-ca' || mode === 'verify-full') return { rejectUnauthorized: true };
  return undefined;
}

/**
 * Where and as whom to connect, from environment variables the CLI passed down: the URL in
 * `env[urlEnv]`, or PGHOST / PGPORT / PGUSER / PGPASSWORD / PGDATABASE / PGSSLMODE.
 */
export function pgTargetFromEnv(env: Readonly<Record<string, string | undefined>>, opts: PgTargetOptions): PgTarget {
  const base = { application_name: `ibpipe:${opts.source}`, connectionTimeoutMillis: opts.connectTimeoutMs, keepAlive: true };
  if (opts.urlEnv !== undefined) {
    const url = env[opts.urlEnv];
    if (!url) {
      const issue = `sources.${opts.source}.url_env: environment variable ${opts.urlEnv} is not set`;
      throw new ConfigError(issue, [issue]);
    }
    let label = '(unparseable URL)';
    try {
      const u = new URL(url);
      label = `${u.hostname || 'localhost'}:${u.port || '5432'}${u.pathname || '/'}`;
    } catch {
      const issue = `sources.${opts.source}.url_env: ${opts.urlEnv} does not hold a postgres:// URL`;
      throw new ConfigError(issue, [issue]);
    }
    return { config: { ...base, connectionString: url }, label };
  }
  const host = env.PGHOST || 'localhost';
  const port = env.PGPORT ? Number(env.PGPORT) : 5432;
  if (!Number.isInteger(port) || port <= 0 || port > 65535) {
    const issue = `PGPORT: expected a port number, got ${JSON.stringify(env.PGPORT)}`;
    throw new ConfigError(issue, [issue]);
  }
  const database = env.PGDATABASE || env.PGUSER || undefined;
  const config: pg.ClientConfig = { ...base, host, port };
  if (env.PGUSER) config.user = env.PGUSER;
  if (env.PGPASSWORD !== undefined) config.password = env.PGPASSWORD;
  if (database) config.database = database;
  const ssl = sslFromMode(env.PGSSLMODE);
  if (ssl) config.ssl = ssl;
  return { config, label: `${host}:${port}/${database ?? ''}` };
}

export interface RetryPolicy {
  readonly retries: number;
  readonly initialDelayMs: number;
  readonly maxDelayMs: number;
}

/** The backoff of a source's `retry` config: initial·2^(n-1), capped, no jitter. */
function backoffOf(policy: RetryPolicy): BackoffPolicy {
  return exponentialBackoff(policy.initialDelayMs, policy.maxDelayMs);
}

/** Delay before retry `n` (1-based), so tests can state it. */
export function retryDelayMs(n: number, policy: RetryPolicy): number {
  return backoffDelay(n, backoffOf(policy));
}

export interface PgSessionOptions {
  readonly source: string;
  readonly target: PgTarget;
  readonly clock: Clock;
  readonly logger: Logger;
  readonly retry: RetryPolicy;
  readonly statementTimeoutMs: number;
  readonly signal?: AbortSignal | undefined;
}

/**
 * One connection that reconnects. Every query is retried (after reconnecting) when its error
 * is retryable; callers therefore only issue idempotent reads. Backoff waits are taken on the
 * Clock (core retry).
 */
export class PgSession {
  readonly #opts: PgSessionOptions;
  #client: pg.Client | null = null;

  constructor(opts: PgSessionOptions) {
    this.#opts = opts;
  }

  async query<R extends pg.QueryResultRow = pg.QueryResultRow>(text: string, params: readonly unknown[] = []): Promise<pg.QueryResult<R>> {
    const { retry: policy, clock, logger, source, signal } = this.#opts;
    return retry(
      async () => {
        try {
          const client = await this.#connected();
          return await client.query<R>(text, params as unknown[]);
        } catch (err) {
          const typed = classifyPgError(err, source);
          if (typed instanceof DbConnectionError) await this.#drop();
          throw typed;
        }
      },
      {
        clock,
        signal,
        policy: backoffOf(policy),
        maxAttempts: policy.retries + 1,
        onRetry: ({ error, attempt, delayMs }) => {
          const e = error as IbpipeError;
          logger.warn({ source, attempt, delay_ms: delayMs, code: e.code, reason: e.message }, 'database error; retrying');
        },
      },
    );
  }

  async close(): Promise<void> {
    await this.#drop();
  }

  async #connected(): Promise<pg.Client> {
    if (this.#client) return this.#client;
    const client = new pg.Client(this.#opts.target.config);
    // A backend killed while the client is idle surfaces as an 'error' event; without a listener
    // it would crash the process. The next query sees the dead client and reconnects.
    client.on('error', () => {
      if (this.#client === client) this.#client = null;
    });
    try {
      await client.connect();
      // Timestamps come back as text in UTC/ISO, so positions round-trip exactly.
      await client.query(`SET TimeZone = 'UTC'; SET DateStyle = 'ISO, YMD'; SET statement_timeout = ${Math.floor(this.#opts.statementTimeoutMs)}`);
    } catch (err) {
      await client.end().catch(() => {});
      throw err;
    }
    this.#opts.logger.debug({ source: this.#opts.source, target: this.#opts.target.label }, 'connected to database');
    this.#client = client;
    return client;
  }

  async #drop(): Promise<void> {
    const c = this.#client;
    this.#client = null;
    if (c) await c.end().catch(() => {});
  }
}
