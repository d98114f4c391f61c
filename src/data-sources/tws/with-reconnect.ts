import { IbConnectivityError } from './ib-errors.js';
import type { TwsClient } from './tws-client.js';

/**
 * Runs `fn`, and after a retryable connectivity failure waits for the client's reconnect and runs
 * it again, up to `maxAttempts` tries in all; any other failure (or an abort) is thrown at once.
 */
export async function withReconnect<T>(client: Pick<TwsClient, 'waitUntilConnected'>, maxAttempts: number, fn: () => Promise<T>, signal?: AbortSignal): Promise<T> {
  for (let tries = 1; ; tries++) {
    try {
      return await fn();
    } catch (err) {
      if (!(err instanceof IbConnectivityError) || !err.retryable || tries >= maxAttempts || signal?.aborted) throw err;
      await client.waitUntilConnected(signal);
    }
  }
}
