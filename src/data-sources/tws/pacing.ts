import type { Clock, TimerHandle } from '../../core/clock.js';

/**
 * IB's request limits, one named constant each (tws-protocol.md §3.1, DESIGN §8). Windows are
 * real IB values; a HistoricalPacer built with `timeScale < 1` shrinks the historical windows for
 * tests against a sim whose pacing windows are scaled the same way.
 */
/** Client → gateway messages per second, over all request types. */
export const MAX_MESSAGES_PER_SECOND = 50;
export const MESSAGE_WINDOW_MS = 1_000;
/** More than 60 historical requests in any ten minutes is a pacing violation. */
export const MAX_HISTORICAL_REQUESTS_PER_WINDOW = 60;
export const HISTORICAL_WINDOW_MS = 600_000;
/** Six or more requests for the same contract, exchange and tick type within two seconds is a violation. */
export const MAX_SAME_CONTRACT_REQUESTS_PER_WINDOW = 5;
export const SAME_CONTRACT_WINDOW_MS = 2_000;
/** An identical historical request within fifteen seconds is a violation. */
export const IDENTICAL_REQUEST_WINDOW_MS = 15_000;
/** BID_ASK requests count twice against the counting rules. */
export const BID_ASK_REQUEST_WEIGHT = 2;
/** Simultaneous open historical requests per client. */
export const MAX_OPEN_HISTORICAL_REQUESTS = 50;

/** One recorded use of a SlidingWindowLimiter. */
export interface WindowEntry {
  readonly at: number;
  readonly weight: number;
}

interface Entry {
  at: number;
  weight: number;
  /** In flight: counts as "now" until settled, whatever its age. */
  pinned: boolean;
}

/**
 * Weighted sliding-window counter driven by a Clock: at most `limit` units in any window of
 * `windowMs`. An entry taken at t counts for instants in [t, t + windowMs). A pinned entry (a
 * request still in flight) counts until it is settled, and from then on as if taken then.
 */
export class SlidingWindowLimiter {
  readonly limit: number;
  readonly windowMs: number;
  readonly #clock: Clock;
  #events: Entry[] = [];

  constructor(limit: number, windowMs: number, clock: Clock) {
    if (!(limit >= 1)) throw new RangeError(`limit must be >= 1, got ${limit}`);
    if (!(windowMs > 0)) throw new RangeError(`windowMs must be > 0, got ${windowMs}`);
    this.limit = limit;
    this.windowMs = windowMs;
    this.#clock = clock;
  }

  #live(now: number): Entry[] {
    this.#events = this.#events.filter((e) => e.pinned || e.at + this.windowMs > now);
    return this.#events;
  }

  /** Units used in the window ending now. */
  used(): number {
    return this.#live(this.#clock.now()).reduce((s, e) => s + e.weight, 0);
  }

  /** Units still available now. */
  remaining(): number {
    return this.limit - this.used();
  }

  /**
   * Milliseconds until `weight` units fit: 0 when they fit now, Infinity when only settling an
   * in-flight entry can make room (settle() is then the moment to ask again).
   */
  delayFor(weight = 1): number {
    if (weight > this.limit) throw new RangeError(`weight ${weight} exceeds limit ${this.limit}`);
    const now = this.#clock.now();
    const live = this.#live(now);
    let excess = live.reduce((s, e) => s + e.weight, 0) + weight - this.limit;
    if (excess <= 0) return 0;
    for (const e of live.filter((x) => !x.pinned).sort((a, b) => a.at - b.at)) {
      excess -= e.weight;
      if (excess <= 0) return e.at + this.windowMs - now;
    }
    return Number.POSITIVE_INFINITY;
  }

  /** Records `weight` units now (call only when delayFor(weight) is 0); `pinned` while in flight. */
  take(weight = 1, pinned = false): WindowEntry {
    const entry: Entry = { at: this.#clock.now(), weight, pinned };
    this.#events.push(entry);
    return entry;
  }

  /** Records units used at a past instant (requests this limiter did not see). */
  recordAt(at: number, weight = 1): void {
    this.#events.push({ at, weight, pinned: false });
  }

  /** Ends an entry's flight: it counts from `at` (never earlier than it was taken). */
  settle(entry: WindowEntry, at: number): void {
    const e = entry as Entry;
    e.pinned = false;
    e.at = Math.max(e.at, at);
    if (!this.#events.includes(e)) this.#events.push(e);
  }
}

/** "No identical request within windowMs": remembers when each request key was last sent. */
export class IdenticalRequestLimiter {
  readonly windowMs: number;
  readonly #clock: Clock;
  readonly #last = new Map<string, { at: number; pinned: boolean }>();

  constructor(windowMs: number, clock: Clock) {
    this.windowMs = windowMs;
    this.#clock = clock;
  }

  /** Milliseconds until the key may be sent again (Infinity while the same request is in flight). */
  delayFor(key: string): number {
    const last = this.#last.get(key);
    if (last === undefined) return 0;
    if (last.pinned) return Number.POSITIVE_INFINITY;
    const wait = last.at + this.windowMs - this.#clock.now();
    if (wait <= 0) {
      this.#last.delete(key);
      return 0;
    }
    return wait;
  }

  take(key: string, pinned = false): void {
    const now = this.#clock.now();
    this.#last.set(key, { at: now, pinned });
    // Keep the map bounded on long backfills.
    if (this.#last.size > 1_000) {
      for (const [k, v] of this.#last) if (!v.pinned && v.at + this.windowMs <= now) this.#last.delete(k);
    }
  }

  /** Ends the key's flight: the window runs from `at`. */
  settle(key: string, at: number): void {
    const last = this.#last.get(key);
    if (last) this.#last.set(key, { at: Math.max(last.at, at), pinned: false });
  }
}

/** Identifies one historical request for the pacing rules. */
export interface HistoricalRequestKey {
  /** Contract identity (conId, or symbol/secType when unresolved). */
  readonly contract: string;
  readonly exchange: string;
  /** IB tick type (whatToShow); BID_ASK weighs double. */
  readonly whatToShow: string;
  /** Every parameter of the request (contract, end, duration, bar size, whatToShow, useRTH …). */
  readonly request: string;
}

/** Returned by acquire(): call release() when the request has completed (or failed). */
export interface PacingPermit {
  release(): void;
}

export type PacingRule = 'historical_window' | 'same_contract' | 'identical' | 'open_requests' | 'messages' | 'paused';

export interface PacingMetrics {
  /** Acquisitions granted so far. */
  readonly granted: number;
  /** Acquisitions that had to wait at least once. */
  readonly waited: number;
  /** Total time callers spent waiting, ms of the pacer's clock. */
  readonly totalWaitMs: number;
  /** How often each rule was the reason for a wait. */
  readonly waitsByRule: Readonly<Record<PacingRule, number>>;
  /** Units left in the 60-per-10-min window right now. */
  readonly historicalBudget: number;
  readonly openRequests: number;
  readonly queued: number;
}

export interface HistoricalPacerOptions {
  /** Multiplies every historical window (1 against a real gateway). */
  timeScale?: number;
  /**
   * Added to every (scaled) historical window, ms. Covers jitter between the instant a permit is
   * granted here and the instant the gateway sees the request; 0 gives IB's exact timing.
   */
  safetyMarginMs?: number;
}

interface Waiter {
  readonly key: HistoricalRequestKey;
  readonly weight: number;
  readonly since: number;
  blockedOnce: boolean;
  readonly resolve: (p: PacingPermit) => void;
  readonly reject: (e: unknown) => void;
  readonly signal: AbortSignal | undefined;
  readonly onAbort: () => void;
}

/**
 * The one gate every historical request (and head-timestamp request) passes, shared by all
 * callers of a TwsClient. Grants a request at the first instant every rule allows it:
 * waiting callers are served in order for the shared budgets (the 10-minute window and open
 * slots), while a caller held back only by its own contract's rules does not block others.
 */
export class HistoricalPacer {
  readonly historical: SlidingWindowLimiter;
  readonly messages: SlidingWindowLimiter;
  readonly #clock: Clock;
  readonly #sameContract = new Map<string, SlidingWindowLimiter>();
  readonly #identical: IdenticalRequestLimiter;
  readonly #sameContractWindowMs: number;
  #open = 0;
  #pausedUntil = 0;
  #queue: Waiter[] = [];
  #timer: TimerHandle | undefined;
  #timerAt = Infinity;
  #granted = 0;
  #waited = 0;
  #totalWaitMs = 0;
  readonly #waitsByRule: Record<PacingRule, number> = {
    historical_window: 0,
    same_contract: 0,
    identical: 0,
    open_requests: 0,
    messages: 0,
    paused: 0,
  };
  #messageChain: Promise<void> = Promise.resolve();

  constructor(clock: Clock, options: HistoricalPacerOptions = {}) {
    const scale = options.timeScale ?? 1;
    if (!(scale > 0)) throw new RangeError(`timeScale must be > 0, got ${scale}`);
    this.#clock = clock;
    const margin = options.safetyMarginMs ?? 0;
    if (!(margin >= 0)) throw new RangeError(`safetyMarginMs must be >= 0, got ${margin}`);
    this.historical = new SlidingWindowLimiter(MAX_HISTORICAL_REQUESTS_PER_WINDOW, HISTORICAL_WINDOW_MS * scale + margin, clock);
    this.#identical = new IdenticalRequestLimiter(IDENTICAL_REQUEST_WINDOW_MS * scale + margin, clock);
    this.#sameContractWindowMs = SAME_CONTRACT_WINDOW_MS * scale + margin;
    // The message rate is a property of the socket, not of HMDS: it is never scaled.
    this.messages = new SlidingWindowLimiter(MAX_MESSAGES_PER_SECOND, MESSAGE_WINDOW_MS, clock);
  }

  /** Weight of a request against the counting rules. */
  static weightOf(whatToShow: string): number {
    return whatToShow === 'BID_ASK' ? BID_ASK_REQUEST_WEIGHT : 1;
  }

  /**
   * Resolves when the request may be sent, having recorded it against every rule, the 50 msg/s
   * one included: send it in the same tick, so the instant recorded here is the instant the
   * gateway sees (a request queued after its grant would shift IB's windows against ours).
   * Rejects with the signal's reason if aborted while waiting.
   */
  acquire(key: HistoricalRequestKey, signal?: AbortSignal): Promise<PacingPermit> {
    if (signal?.aborted) return Promise.reject(signal.reason ?? new Error('aborted'));
    return new Promise<PacingPermit>((resolve, reject) => {
      const waiter: Waiter = {
        key,
        weight: HistoricalPacer.weightOf(key.whatToShow),
        since: this.#clock.now(),
        blockedOnce: false,
        resolve,
        reject,
        signal,
        onAbort: () => {
          this.#queue = this.#queue.filter((w) => w !== waiter);
          reject(signal?.reason ?? new Error('aborted'));
          this.#pump();
        },
      };
      signal?.addEventListener('abort', waiter.onAbort, { once: true });
      this.#queue.push(waiter);
      this.#pump();
    });
  }

  /**
   * Resolves when one more client→gateway message fits the 50/s rule (and records it).
   * Calls are served in order.
   */
  acquireMessage(signal?: AbortSignal): Promise<void> {
    const next = this.#messageChain.then(async () => {
      for (;;) {
        const wait = this.messages.delayFor(1);
        if (wait === 0) break;
        await this.#clock.sleep(wait, signal);
      }
      this.messages.take(1);
    });
    this.#messageChain = next.catch(() => undefined);
    return next;
  }

  /**
   * Counts requests made before this pacer existed (an earlier process, from its ledger) against
   * the 10-minute window, so a restarted backfill does not spend budget IB still holds.
   */
  preload(requests: ReadonlyArray<{ at: number; whatToShow: string }>): void {
    const now = this.#clock.now();
    for (const r of requests) {
      if (r.at + this.historical.windowMs <= now) continue;
      this.historical.recordAt(Math.min(r.at, now), HistoricalPacer.weightOf(r.whatToShow));
    }
    this.#pump();
  }

  /** Holds every new historical request for ms (after IB reported a violation anyway). */
  pause(ms: number): void {
    this.#pausedUntil = Math.max(this.#pausedUntil, this.#clock.now() + ms);
    this.#pump();
  }

  metrics(): PacingMetrics {
    return {
      granted: this.#granted,
      waited: this.#waited,
      totalWaitMs: this.#totalWaitMs,
      waitsByRule: { ...this.#waitsByRule },
      historicalBudget: this.historical.remaining(),
      openRequests: this.#open,
      queued: this.#queue.length,
    };
  }

  #sameContractLimiter(key: HistoricalRequestKey): SlidingWindowLimiter {
    const id = `${key.contract}|${key.exchange}|${key.whatToShow}`;
    let lim = this.#sameContract.get(id);
    if (!lim) {
      lim = new SlidingWindowLimiter(MAX_SAME_CONTRACT_REQUESTS_PER_WINDOW, this.#sameContractWindowMs, this.#clock);
      this.#sameContract.set(id, lim);
    }
    return lim;
  }

  /** Grants every waiter that fits now; arms one timer for the earliest instant another may fit. */
  #pump(): void {
    const now = this.#clock.now();
    let earliest = Infinity;
    let sharedBlocked = false;
    const remaining: Waiter[] = [];
    for (const w of this.#queue) {
      if (sharedBlocked) {
        remaining.push(w);
        continue;
      }
      // Shared budgets first: when they block, later waiters must not overtake (FIFO fairness).
      let shared: { rule: PacingRule; wait: number } | undefined;
      if (this.#pausedUntil > now) shared = { rule: 'paused', wait: this.#pausedUntil - now };
      else if (this.#open >= MAX_OPEN_HISTORICAL_REQUESTS) shared = { rule: 'open_requests', wait: Infinity };
      else {
        const d = this.historical.delayFor(w.weight);
        if (d > 0) shared = { rule: 'historical_window', wait: d };
        else {
          const m = this.messages.delayFor(1);
          if (m > 0) shared = { rule: 'messages', wait: m };
        }
      }
      if (shared) {
        this.#noteBlocked(w, shared.rule);
        earliest = Math.min(earliest, shared.wait);
        sharedBlocked = true;
        remaining.push(w);
        continue;
      }
      const same = this.#sameContractLimiter(w.key);
      const dSame = same.delayFor(w.weight);
      const dIdent = this.#identical.delayFor(w.key.request);
      if (dSame > 0 || dIdent > 0) {
        this.#noteBlocked(w, dIdent >= dSame ? 'identical' : 'same_contract');
        earliest = Math.min(earliest, Math.max(dSame, dIdent));
        remaining.push(w);
        continue;
      }
      const entries = [this.historical.take(w.weight, true), same.take(w.weight, true)] as const;
      this.messages.take(1);
      this.#identical.take(w.key.request, true);
      this.#open++;
      this.#granted++;
      if (w.blockedOnce) {
        this.#waited++;
        this.#totalWaitMs += now - w.since;
      }
      w.signal?.removeEventListener('abort', w.onAbort);
      w.resolve(this.#permit(w.key, same, entries));
    }
    this.#queue = remaining;
    this.#arm(earliest);
  }

  #noteBlocked(w: Waiter, rule: PacingRule): void {
    if (!w.blockedOnce) {
      w.blockedOnce = true;
      this.#waitsByRule[rule]++;
    }
  }

  #arm(inMs: number): void {
    if (!Number.isFinite(inMs) || this.#queue.length === 0) {
      if (this.#queue.length === 0) {
        this.#clock.clearTimeout(this.#timer);
        this.#timer = undefined;
        this.#timerAt = Infinity;
      }
      return;
    }
    const at = this.#clock.now() + inMs;
    if (this.#timer && this.#timerAt <= at) return;
    this.#clock.clearTimeout(this.#timer);
    this.#timerAt = at;
    this.#timer = this.#clock.setTimeout(() => {
      this.#timer = undefined;
      this.#timerAt = Infinity;
      this.#pump();
    }, inMs);
  }

  /**
   * The gateway applies its windows when it processes a request, which may be later than the
   * instant we sent it (a busy gateway queues requests). So a request counts as current while
   * it is in flight, and from its answer (release) on; never earlier than IB's own view, and
   * later by at most one round trip.
   */
  #permit(key: HistoricalRequestKey, same: SlidingWindowLimiter, entries: readonly [WindowEntry, WindowEntry]): PacingPermit {
    let released = false;
    return {
      release: () => {
        if (released) return;
        released = true;
        const now = this.#clock.now();
        this.historical.settle(entries[0], now);
        same.settle(entries[1], now);
        this.#identical.settle(key.request, now);
        this.#open--;
        this.#pump();
      },
    };
  }
}
