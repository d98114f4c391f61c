/**
 * Server-side enforcement of IB's historical-data pacing rules (reference §3.1), per client:
 *  1. no identical request within 15 s;
 *  2. fewer than 6 requests for the same contract, exchange and tick type within 2 s;
 *  3. at most 60 requests within any 10 minutes;
 * BID_ASK requests count twice. Only accepted requests fill the windows, so a client that backs
 * off after a violation gets in as soon as the window has room. Windows are multiplied by
 * `timeScale` so tests can shrink 10 minutes to a fraction of a second.
 */
export const IDENTICAL_WINDOW_MS = 15_000;
export const SAME_CONTRACT_WINDOW_MS = 2_000;
export const SAME_CONTRACT_LIMIT = 6;
export const ROLLING_WINDOW_MS = 600_000;
export const ROLLING_LIMIT = 60;
export const MESSAGE_WINDOW_MS = 1_000;

export type PacingRule = 'identical_request' | 'same_contract_burst' | 'rolling_ten_minutes';

export interface PacedRequest {
  /** Every request parameter except the request id. */
  readonly identityKey: string;
  /** Contract + exchange + tick type. */
  readonly contractKey: string;
  /** 2 for BID_ASK, else 1. */
  readonly weight: number;
}

interface Entry {
  readonly at: number;
  readonly identityKey: string;
  readonly contractKey: string;
  readonly weight: number;
}

export class HistoricalPacing {
  readonly #timeScale: number;
  #entries: Entry[] = [];

  constructor(timeScale = 1) {
    if (!(timeScale > 0)) throw new RangeError(`pacing time scale must be > 0, got ${timeScale}`);
    this.#timeScale = timeScale;
  }

  /** The rule a request made at `now` would break, or undefined (and then it is recorded). */
  admit(req: PacedRequest, now: number): PacingRule | undefined {
    const rolling = ROLLING_WINDOW_MS * this.#timeScale;
    this.#entries = this.#entries.filter((e) => now - e.at < rolling);
    const identical = IDENTICAL_WINDOW_MS * this.#timeScale;
    if (this.#entries.some((e) => e.identityKey === req.identityKey && now - e.at < identical))
      return 'identical_request';
    const burst = SAME_CONTRACT_WINDOW_MS * this.#timeScale;
    const sameContract = this.#entries
      .filter((e) => e.contractKey === req.contractKey && now - e.at < burst)
      .reduce((n, e) => n + e.weight, 0);
    if (sameContract + req.weight >= SAME_CONTRACT_LIMIT) return 'same_contract_burst';
    const total = this.#entries.reduce((n, e) => n + e.weight, 0);
    if (total + req.weight > ROLLING_LIMIT) return 'rolling_ten_minutes';
    this.#entries.push({ at: now, ...req });
    return undefined;
  }
}

/** Client → gateway message rate: more than `maxPerSecond` in a second is error 100. */
export class MessageRateLimit {
  readonly #window: number;
  readonly #max: number;
  #times: number[] = [];

  constructor(maxPerSecond: number, timeScale = 1) {
    this.#max = maxPerSecond;
    this.#window = MESSAGE_WINDOW_MS * timeScale;
  }

  /** Records a message; returns the count in the window when it exceeds the limit. */
  record(now: number): number | undefined {
    this.#times.push(now);
    while (this.#times.length > 0 && now - (this.#times[0] as number) >= this.#window) this.#times.shift();
    return this.#times.length > this.#max ? this.#times.length : undefined;
  }
}
