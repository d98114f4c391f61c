import type { Clock } from './clock.js';
import { isRetryable } from './errors.js';

/**
 * The one retry of the code base: exponential backoff (optionally jittered) whose waits are all
 * taken on the Clock, so a ManualClock test and the accelerated sim drive them (p-retry and
 * raw timers cannot be), stopped by an AbortSignal, and deciding what is worth another attempt
 * from the typed errors' `retryable` flag unless the caller says otherwise.
 */
export interface BackoffPolicy {
  /** Delay before the first retry, ms. */
  readonly initialMs: number;
  /** Cap on any single delay, ms (Infinity: none). */
  readonly maxMs: number;
  /** Growth per attempt (2 doubles). */
  readonly factor: number;
  /** Share of the delay that is random, 0..1 ("equal jitter" at 0.5; 0: deterministic). */
  readonly jitter: number;
}

/** Doubling from `initialMs`, capped at `maxMs`, no jitter. */
export function exponentialBackoff(initialMs: number, maxMs = Infinity): BackoffPolicy {
  return { initialMs, maxMs, factor: 2, jitter: 0 };
}

/**
 * Delay before retry number `attempt` (1-based: the wait after the attempt-th failure):
 * min(max, initial·factor^(attempt-1)), of which the `jitter` share is drawn uniformly, so many
 * clients do not retry in lock-step.
 */
export function backoffDelay(attempt: number, policy: BackoffPolicy, random: () => number = Math.random): number {
  const base = Math.min(policy.maxMs, policy.initialMs * policy.factor ** Math.max(0, attempt - 1));
  const fixed = base * (1 - policy.jitter);
  return Math.round(fixed + base * policy.jitter * random());
}

/** What a retry is told about each failure it will retry (logs, metrics, tests). */
export interface RetryEvent {
  /** The attempt that failed, 1-based. */
  readonly attempt: number;
  readonly delayMs: number;
  readonly error: unknown;
}

export interface RetryOptions {
  readonly clock: Clock;
  readonly policy: BackoffPolicy;
  /** Attempts in all, the first included (default: unlimited, until success or abort). */
  readonly maxAttempts?: number;
  /** Stops the retry: checked before each attempt and interrupts a wait; rejects with its reason. */
  readonly signal?: AbortSignal | undefined;
  /** Whether a failure is worth another attempt (default: a typed error marked `retryable`). */
  readonly retryable?: (error: unknown, attempt: number) => boolean;
  /** The wait after this failure given the policy's (e.g. a server's Retry-After may lengthen it). */
  readonly delayMs?: (error: unknown, attempt: number, backoffMs: number) => number;
  /** Called before each wait. */
  readonly onRetry?: (event: RetryEvent) => void;
  /** Source of jitter (tests pin it). */
  readonly random?: () => number;
}

/**
 * Runs `attempt` until it resolves; a failure that is retryable and leaves attempts is followed by
 * the policy's wait on the clock, any other failure is thrown as is. Abort wins over everything:
 * once the signal fires, the retry rejects with its reason.
 */
export async function retry<T>(attempt: (n: number) => Promise<T>, options: RetryOptions): Promise<T> {
  const { clock, policy, signal } = options;
  const maxAttempts = options.maxAttempts ?? Infinity;
  const retryable = options.retryable ?? isRetryable;
  for (let n = 1; ; n++) {
    signal?.throwIfAborted();
    try {
      return await attempt(n);
    } catch (err) {
      signal?.throwIfAborted();
      if (n >= maxAttempts || !retryable(err, n)) throw err;
      const backoff = backoffDelay(n, policy, options.random);
      const delayMs = options.delayMs ? options.delayMs(err, n, backoff) : backoff;
      options.onRetry?.({ attempt: n, delayMs, error: err });
      await clock.sleep(delayMs, signal);
    }
  }
}
