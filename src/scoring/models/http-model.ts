import type { Clock } from '../../core/clock.js';
import { IbpipeError, RemoteServiceError, TimeoutError } from '../../core/errors.js';
import { exponentialBackoff, retry } from '../../core/retry.js';
import { silentLogger, type Logger } from '../../core/logger.js';
import { featureMatrix, type FeatureRow, type Model } from './model.js';

/**
 * A model served over HTTP: the way to plug in anything ibpipe cannot run itself (a Python
 * service around scikit-learn / LightGBM / PyTorch, an ONNX or Triton server, a KServe or
 * MLflow deployment behind a thin adapter).
 *
 * Protocol (KServe-v1 style): `POST url` with
 * `{ "model": id, "version": v, "feature_names": [...], "instances": [[x11, x12, …], …] }`
 * and an answer `200 { "predictions": [s1, s2, …] }` with one finite number per instance, in order.
 *
 * Failure policy, per request:
 * - connection errors, timeouts, 408, 429 and 5xx are retried with exponential backoff
 *   (`backoffMs`, doubling, capped by `maxBackoffMs`; a `Retry-After` in seconds is honoured up
 *   to 60 s); when the attempts run out the last error is thrown, still marked retryable;
 * - other 4xx, a body that is not JSON, lacks `predictions`, has the wrong length or a
 *   non-finite score: RemoteServiceError, not retryable (asking again will not fix it).
 * Rows go in batches of `batchSize`; any failed batch fails the whole call (no partial result).
 */
export interface HttpModelOptions {
  readonly url: string;
  readonly id: string;
  readonly version: string;
  readonly featureNames: readonly string[];
  /** Drives the per-attempt timeout and the backoff sleeps. */
  readonly clock: Clock;
  readonly timeoutMs?: number;
  readonly retries?: number;
  readonly backoffMs?: number;
  readonly maxBackoffMs?: number;
  readonly batchSize?: number;
  readonly headers?: Readonly<Record<string, string>>;
  readonly logger?: Logger;
  /** Called before each backoff sleep (metrics, tests). */
  readonly onRetry?: (event: HttpRetryEvent) => void;
}

export interface HttpRetryEvent {
  /** The attempt that failed, 1-based. */
  readonly attempt: number;
  readonly delayMs: number;
  readonly error: IbpipeError;
}

const RETRY_AFTER_CAP_MS = 60_000;
const BODY_SNIPPET = 200;

export class HttpModel implements Model {
  readonly id: string;
  readonly version: string;
  readonly featureNames: readonly string[];
  readonly #url: URL;
  readonly #where: string;
  readonly #clock: Clock;
  readonly #timeoutMs: number;
  readonly #retries: number;
  readonly #backoffMs: number;
  readonly #maxBackoffMs: number;
  readonly #batchSize: number;
  readonly #headers: Readonly<Record<string, string>>;
  readonly #logger: Logger;
  readonly #onRetry: ((event: HttpRetryEvent) => void) | undefined;

  constructor(options: HttpModelOptions) {
    this.#url = new URL(options.url);
    if (this.#url.protocol !== 'http:' && this.#url.protocol !== 'https:') throw new RangeError(`model url must be http(s): ${options.url}`);
    // Messages and logs name the endpoint without any credentials in the URL.
    this.#where = `${this.#url.origin}${this.#url.pathname}`;
    this.id = options.id;
    this.version = options.version;
    this.featureNames = Object.freeze([...options.featureNames]);
    this.#clock = options.clock;
    this.#timeoutMs = options.timeoutMs ?? 10_000;
    this.#retries = options.retries ?? 3;
    this.#backoffMs = options.backoffMs ?? 250;
    this.#maxBackoffMs = options.maxBackoffMs ?? 10_000;
    this.#batchSize = options.batchSize ?? 1_000;
    this.#headers = { ...options.headers };
    this.#logger = options.logger ?? silentLogger();
    this.#onRetry = options.onRetry;
  }

  async predict(rows: readonly FeatureRow[], signal?: AbortSignal): Promise<number[]> {
    const matrix = featureMatrix(rows, this.featureNames);
    const out: number[] = [];
    for (let start = 0; start < matrix.length; start += this.#batchSize) {
      const batch = matrix.slice(start, start + this.#batchSize);
      const scores = await this.#withRetries(batch, start, signal);
      for (const s of scores) out.push(s);
    }
    return out;
  }

  #withRetries(instances: number[][], offset: number, signal: AbortSignal | undefined): Promise<number[]> {
    let retryAfterMs: number | undefined;
    return retry(
      async (attempt) => {
        retryAfterMs = undefined;
        try {
          return await this.#attempt(instances, signal, (ms) => (retryAfterMs = ms));
        } catch (err) {
          if (err instanceof IbpipeError && !signal?.aborted) {
            err.details['attempts'] = attempt;
            err.details['batch_offset'] = offset;
          }
          throw err;
        }
      },
      {
        clock: this.#clock,
        signal,
        policy: exponentialBackoff(this.#backoffMs, this.#maxBackoffMs),
        maxAttempts: this.#retries + 1,
        delayMs: (_err, _attempt, backoff) => (retryAfterMs === undefined ? backoff : Math.max(backoff, Math.min(retryAfterMs, RETRY_AFTER_CAP_MS))),
        onRetry: ({ attempt, delayMs, error }) => {
          const err = error as IbpipeError;
          this.#logger.warn({ err, model: this.id, url: this.#where, attempt, delay_ms: delayMs }, 'model request failed; retrying');
          this.#onRetry?.({ attempt, delayMs, error: err });
        },
      },
    );
  }

  async #attempt(instances: number[][], signal: AbortSignal | undefined, setRetryAfter: (ms: number) => void): Promise<number[]> {
    const timeout = new AbortController();
    const timer = this.#clock.setTimeout(() => timeout.abort(), this.#timeoutMs);
    const combined = signal ? AbortSignal.any([signal, timeout.signal]) : timeout.signal;
    const context = { url: this.#where, model: this.id };
    try {
      let response: Response;
      let text: string;
      try {
        response = await fetch(this.#url, {
          method: 'POST',
          headers: { 'content-type': 'application/json', accept: 'application/json', ...this.#headers },
          body: JSON.stringify({ model: this.id, version: this.version, feature_names: this.featureNames, instances }),
          signal: combined,
        });
        // The timeout covers the body too: a server that sends headers and then stalls is a timeout.
        text = await response.text();
      } catch (err) {
        if (signal?.aborted) throw signal.reason;
        if (timeout.signal.aborted) {
          throw new TimeoutError(`model service ${this.#where} did not answer within ${this.#timeoutMs} ms`, {
            cause: err,
            details: { ...context, timeout_ms: this.#timeoutMs },
          });
        }
        const reason = describeFetchError(err);
        throw new RemoteServiceError(`model service ${this.#where} unreachable: ${reason}`, true, {
          code: 'REMOTE_UNAVAILABLE',
          cause: err,
          details: { ...context, reason },
        });
      }
      if (!response.ok) {
        const status = response.status;
        const retryable = status >= 500 || status === 408 || status === 429;
        const retryAfter = Number(response.headers.get('retry-after'));
        if (retryable && Number.isFinite(retryAfter) && retryAfter > 0) setRetryAfter(retryAfter * 1000);
        throw new RemoteServiceError(`model service ${this.#where} answered HTTP ${status}: ${snippet(text)}`, retryable, {
          code: 'REMOTE_HTTP_ERROR',
          details: { ...context, status, body: snippet(text) },
        });
      }
      return this.#parse(text, instances.length, context);
    } finally {
      this.#clock.clearTimeout(timer);
    }
  }

  #parse(text: string, expected: number, context: Record<string, unknown>): number[] {
    const bad = (what: string): RemoteServiceError =>
      new RemoteServiceError(`model service ${this.#where} sent a bad response: ${what}`, false, {
        code: 'REMOTE_BAD_RESPONSE',
        details: { ...context, body: snippet(text) },
      });
    let body: unknown;
    try {
      body = JSON.parse(text);
    } catch {
      throw bad(`body is not JSON (${JSON.stringify(snippet(text))})`);
    }
    const predictions = typeof body === 'object' && body !== null && !Array.isArray(body) ? (body as Record<string, unknown>)['predictions'] : undefined;
    if (!Array.isArray(predictions)) throw bad('expected an object with a "predictions" array');
    if (predictions.length !== expected) throw bad(`${predictions.length} predictions for ${expected} instances`);
    const index = predictions.findIndex((p) => typeof p !== 'number' || !Number.isFinite(p));
    if (index >= 0) throw bad(`predictions[${index}] is ${JSON.stringify(predictions[index])}, expected a finite number`);
    return predictions as number[];
  }
}

function snippet(text: string): string {
  return text.length > BODY_SNIPPET ? `${text.slice(0, BODY_SNIPPET)}…` : text;
}

/** undici reports "fetch failed" with the socket error (ECONNREFUSED, ECONNRESET …) as its cause. */
function describeFetchError(err: unknown): string {
  const cause = (err as { cause?: { code?: unknown; message?: unknown } } | undefined)?.cause;
  if (cause && typeof cause.code === 'string') return cause.code;
  if (cause && typeof cause.message === 'string') return cause.message;
  return err instanceof Error ? err.message : String(err);
}
