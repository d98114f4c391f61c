import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/core/clock.js';
import { InputError, TimeoutError } from '../../src/core/errors.js';
import { backoffDelay, exponentialBackoff, retry, type RetryEvent } from '../../src/core/retry.js';

describe('backoffDelay', () => {
  it('grows exponentially up to the cap, with the jitter share drawn at random', () => {
    const p = { initialMs: 100, maxMs: 1_000, factor: 2, jitter: 0.5 };
    expect([1, 2, 3, 4, 5, 6].map((a) => backoffDelay(a, p, () => 0))).toEqual([50, 100, 200, 400, 500, 500]);
    expect([1, 2, 3, 4, 5, 6].map((a) => backoffDelay(a, p, () => 1))).toEqual([100, 200, 400, 800, 1_000, 1_000]);
  });

  it('exponentialBackoff doubles without jitter, capped only when told', () => {
    expect([1, 2, 3, 4].map((a) => backoffDelay(a, exponentialBackoff(2_000, 60_000)))).toEqual([2_000, 4_000, 8_000, 16_000]);
    expect(backoffDelay(6, exponentialBackoff(2_000, 60_000))).toBe(60_000);
    expect(backoffDelay(11, exponentialBackoff(1_000))).toBe(1_024_000);
  });
});

const transient = (): TimeoutError => new TimeoutError('slow');

describe('retry', () => {
  it('waits the policy on the clock between attempts: nothing runs before a wait is over', async () => {
    const clock = new ManualClock();
    const calls: number[] = [];
    const done = retry(
      async (n) => {
        calls.push(clock.now());
        if (n < 3) throw transient();
        return 'ok';
      },
      { clock, policy: exponentialBackoff(100) },
    );
    await clock.advance(0);
    expect(calls).toHaveLength(1);
    await clock.advance(99);
    expect(calls).toHaveLength(1);
    await clock.advance(1);
    expect(calls).toHaveLength(2);
    await clock.advance(199);
    expect(calls).toHaveLength(2);
    await clock.advance(1);
    await expect(done).resolves.toBe('ok');
    const t0 = calls[0] ?? 0;
    expect(calls.map((t) => t - t0)).toEqual([0, 100, 300]);
  });

  it('throws a failure that is not retryable at once, and the last one when the attempts run out', async () => {
    const clock = new ManualClock();
    let n1 = 0;
    const bad = new InputError('bad row');
    await expect(retry(async () => (n1++, Promise.reject(bad)), { clock, policy: exponentialBackoff(10) })).rejects.toBe(bad);
    expect(n1).toBe(1);
    expect(clock.pending).toBe(0);

    const errors: Error[] = [];
    const p = retry(
      async () => {
        const e = transient();
        errors.push(e);
        throw e;
      },
      { clock, policy: exponentialBackoff(10), maxAttempts: 3 },
    );
    const settled = p.catch((e: unknown) => e);
    await clock.advance(1_000);
    expect(errors).toHaveLength(3);
    expect(await settled).toBe(errors[2]);
  });

  it('decides retryability by the caller when told, and lets it stretch a wait (Retry-After)', async () => {
    const clock = new ManualClock();
    const events: RetryEvent[] = [];
    let n = 0;
    const p = retry(
      async () => {
        if (++n < 3) throw new Error('plain errors are not retryable by default');
        return n;
      },
      { clock, policy: exponentialBackoff(10), retryable: () => true, delayMs: (_e, attempt, backoff) => (attempt === 1 ? 500 : backoff), onRetry: (e) => events.push(e) },
    );
    await clock.advance(520);
    await expect(p).resolves.toBe(3);
    expect(events.map((e) => [e.attempt, e.delayMs])).toEqual([
      [1, 500],
      [2, 20],
    ]);
  });

  it('stops on abort: during a wait it rejects with the reason and makes no further attempt', async () => {
    const clock = new ManualClock();
    const ac = new AbortController();
    let n = 0;
    const p = retry(
      async () => {
        n++;
        throw transient();
      },
      { clock, policy: exponentialBackoff(1_000), signal: ac.signal },
    );
    const settled = p.catch((e: unknown) => e);
    await clock.advance(10);
    const reason = new Error('shutting down');
    ac.abort(reason);
    expect(await settled).toBe(reason);
    await clock.advance(10_000);
    expect(n).toBe(1);
    await expect(retry(async () => 1, { clock, policy: exponentialBackoff(1), signal: ac.signal })).rejects.toBe(reason);
  });
});
