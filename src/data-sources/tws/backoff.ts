/**
 * Exponential backoff with jitter, as a pure function so that every wait is taken on the Clock
 * (p-retry schedules on real timers, which neither a ManualClock test nor the accelerated sim
 * can drive).
 */
export interface BackoffPolicy {
  /** Delay before the first retry, ms. */
  readonly initialMs: number;
  /** Cap on any single delay, ms. */
  readonly maxMs: number;
  /** Growth per attempt (2 doubles). */
  readonly factor: number;
  /** Share of the delay that is random, 0..1 ("equal jitter" at 0.5). */
  readonly jitter: number;
}

export const DEFAULT_RECONNECT_BACKOFF: BackoffPolicy = { initialMs: 500, maxMs: 30_000, factor: 2, jitter: 0.5 };

/**
 * Delay before retry number `attempt` (1-based): min(max, initial·factor^(attempt-1)), of which
 * the `jitter` share is drawn uniformly, so many clients do not reconnect in lock-step.
 */
export function backoffDelay(attempt: number, policy: BackoffPolicy, random: () => number = Math.random): number {
  const base = Math.min(policy.maxMs, policy.initialMs * policy.factor ** Math.max(0, attempt - 1));
  const fixed = base * (1 - policy.jitter);
  return Math.round(fixed + base * policy.jitter * random());
}
