import { expectedBarStartsIn } from '../../calendar/expected-bars.js';
import type { TradingCalendar } from '../../calendar/trading-calendar.js';
import type { TimerHandle } from '../../core/clock.js';
import { type BarEvent, type BarSize, barSizeMs } from '../../core/bars.js';
import { IbpipeError } from '../../core/errors.js';
import { silentLogger, type Logger } from '../../core/logger.js';
import { planRange } from './backfill-planner.js';
import { backoffDelay, type BackoffPolicy } from '../../core/retry.js';
import { IbCancelledError, IbConnectivityError } from './ib-errors.js';
import { LiveBarFinalizer } from './live-bar-finalizer.js';
import type { ConnectivityEvent, LiveBarSource, LiveRequestHandle, ResolvedContract } from './tws-port.js';

/**
 * Live bars for one instrument, self-healing. Uses keepUpToDate bars rather than 5-second
 * real-time bars: they are the same HMDS bars a later backfill returns (no reconciliation
 * drift between live and repaired data), one request serves any bar size, and the repair path
 * is the ordinary historical request. A bar is passed on only once final (LiveBarFinalizer).
 *
 * No bar is lost silently. A gap opens when the stream breaks (socket drop, 1100/1101, IB's
 * 162 "query cancelled", silence past `silenceTimeoutMs`: it resubscribes), when it stays
 * silent for SILENT_GAP_BARS bars while bars were due, or when its bar times jump over bars the
 * calendar expects (updates lost without any error). The gap closes at the first bar that
 * arrives after it (or at the session's end) and exactly the calendar's bars in it are fetched
 * through the client's paced historical requests. Closed days, the time between sessions and
 * breaks such as the CME halt expect no bars, so they never open a gap. Open gaps are visible
 * through `gaps`; a repair that fails past its attempts is logged as an error.
 */
export interface LiveBarStreamOptions {
  /** Instrument key written as the bars' symbol. */
  readonly symbol: string;
  readonly barSize: BarSize;
  readonly whatToShow: string;
  readonly useRth: boolean;
  readonly calendar: TradingCalendar;
  /** After a bar's end, how long to wait for the next bar's first update before calling it final. */
  readonly finalizeGraceMs: number;
  /** No data for this long while the market is open means the stream is dead. */
  readonly silenceTimeoutMs: number;
  /**
   * Start of the first bar this stream answers for (the bars before it are caught up elsewhere,
   * e.g. the daemon's catch-up of the open session). The first answer reaches back only a couple
   * of bars from whenever the subscription reaches IB: if it begins later, the bars between are a
   * gap, repaired like any other. Without it the stream answers from its first bar on.
   */
  readonly from?: number;
  /** Duration of the (re)subscription's initial answer; default two bars. */
  readonly initialDurationStr?: string;
  readonly resubscribeBackoff?: BackoffPolicy;
  /** Tries of one gap's repair before it is reported failed (retried again after a resubscription). */
  readonly repairAttempts?: number;
  readonly logger?: Logger;
  /** Called once per final bar, in time order per stream, including repaired bars. */
  onBar(bar: BarEvent): void;
  onEvent?(event: LiveStreamEvent): void;
}

/** `dataset`: set (by the ingestor) on the events of a non-classic bar dataset's stream, so two series of one instrument stay apart. */
export type LiveStreamEvent = { readonly dataset?: string } & (
  | { readonly type: 'subscribed'; readonly symbol: string; readonly reqId: number }
  | { readonly type: 'interrupted'; readonly symbol: string; readonly reason: string; readonly gapFrom: number | undefined }
  /** Data flows again; `gap` is the window to repair (null when the new stream's first bars cover it). */
  | { readonly type: 'resumed'; readonly symbol: string; readonly gap: { readonly from: number; readonly to: number } | null }
  | { readonly type: 'gap-repaired'; readonly symbol: string; readonly from: number; readonly to: number; readonly bars: number; readonly expected: number }
  /** `final`: the attempts are spent; the bars stay missing until a later retry succeeds. */
  | { readonly type: 'repair-failed'; readonly symbol: string; readonly from: number; readonly to: number; readonly error: string; readonly attempts: number; readonly final: boolean }
);

/** A window of bars the stream did not deliver, as health and metrics report it. */
export interface LiveGap {
  /** First missing bar start, epoch ms UTC. */
  readonly from: number;
  /** End (exclusive); null while the gap is still growing (no data since). */
  readonly to: number | null;
  /** open: still growing; pending: waiting for its repair; repairing: requests under way; failed: attempts spent. */
  readonly state: 'open' | 'pending' | 'repairing' | 'failed';
  /** Bars the calendar expects in the gap (so far, for an open one). */
  readonly missingBars: number;
  /** Why it opened. */
  readonly reason: string;
  /** When it was noticed, epoch ms. */
  readonly since: number;
  readonly attempts: number;
  readonly error?: string;
}

interface QueuedGap {
  readonly from: number;
  readonly to: number;
  readonly reason: string;
  readonly since: number;
  attempts: number;
  error?: string;
  failed: boolean;
}

const DEFAULT_RESUBSCRIBE_BACKOFF: BackoffPolicy = { initialMs: 1_000, maxMs: 60_000, factor: 2, jitter: 0.5 };
const DEFAULT_REPAIR_ATTEMPTS = 4;
/** Silence (while bars are due) that opens a gap before the silence timeout resubscribes. */
export const SILENT_GAP_BARS = 2;
/**
 * IB sends keepUpToDate updates every few seconds; no update for a quarter of a bar (at least
 * this long) before the bar ended means its last values were lost.
 */
const UPDATE_SILENCE_MIN_MS = 10_000;

export class LiveBarStream {
  readonly symbol: string;
  readonly #client: LiveBarSource;
  readonly #contract: ResolvedContract;
  readonly #opts: LiveBarStreamOptions;
  readonly #log: Logger;
  readonly #barMs: number;
  /** A bar whose updates stopped this long before it ended lost its last values. */
  readonly #quietMs: number;
  readonly #finalizer: LiveBarFinalizer<BarEvent>;
  readonly #ac = new AbortController();
  readonly #unsubscribe: () => void;
  #closed = false;
  #suspended = false;
  /** Start of the gap still growing, with why and when it opened. */
  #gapFrom: number | undefined;
  #gapReason = '';
  #gapSince = 0;
  /** Everything before this instant was delivered live or is queued for repair. */
  #coveredTo: number | undefined;
  readonly #gaps: QueuedGap[] = [];
  #repairingGap: QueuedGap | undefined;
  #repairing: Promise<void> | undefined;
  #repairTimer: TimerHandle | undefined;
  #endSession: ((reason: string) => void) | undefined;
  #finalizeTimer: TimerHandle | undefined;
  #silenceTimer: TimerHandle | undefined;
  #lastDataAt = 0;
  readonly #done: Promise<void>;

  constructor(client: LiveBarSource, contract: ResolvedContract, options: LiveBarStreamOptions) {
    this.#client = client;
    this.#contract = contract;
    this.#opts = options;
    this.symbol = options.symbol;
    this.#log = (options.logger ?? silentLogger()).child({ component: 'live-bar-stream', symbol: options.symbol });
    this.#barMs = barSizeMs(options.barSize);
    this.#quietMs = Math.max(UPDATE_SILENCE_MIN_MS, this.#barMs / 4);
    this.#finalizer = new LiveBarFinalizer<BarEvent>(this.#barMs, options.finalizeGraceMs);
    this.#coveredTo = options.from;
    this.#unsubscribe = client.onConnectivity((e) => this.#onConnectivity(e));
    this.#done = this.#run();
  }

  /** Start of the last final bar passed on. */
  get lastFinalTs(): number | undefined {
    return this.#finalizer.lastFinalTs;
  }

  /** Gaps not yet repaired: the one still growing, those waiting or under repair, and failed ones. */
  get gaps(): LiveGap[] {
    const now = this.#client.clock.now();
    const out: LiveGap[] = this.#gaps.map((g) => ({
      from: g.from,
      to: g.to,
      state: g.failed ? 'failed' : g === this.#repairingGap ? 'repairing' : 'pending',
      missingBars: this.#expected(g.from, g.to).length,
      reason: g.reason,
      since: g.since,
      attempts: g.attempts,
      ...(g.error === undefined ? {} : { error: g.error }),
    }));
    if (this.#gapFrom !== undefined) {
      out.push({ from: this.#gapFrom, to: null, state: 'open', missingBars: this.#expected(this.#gapFrom, now - this.#barMs + 1).length, reason: this.#gapReason, since: this.#gapSince, attempts: 0 });
    }
    return out;
  }

  /**
   * Ends the subscription. The bar being built is passed on only if its grace period is over,
   * as it would have been anyway; a bar whose last update may still be in flight is left to the
   * next start's repair rather than stored cut short.
   */
  async close(): Promise<void> {
    if (this.#closed) return this.#done;
    this.#closed = true;
    if (!this.#suspended) this.#emitBars(this.#finalizer.onTick(this.#client.clock.now()));
    this.#endSession?.('closed');
    this.#ac.abort(new Error('stream closed'));
    this.#unsubscribe();
    this.#client.clock.clearTimeout(this.#repairTimer);
    await this.#done;
    await this.#repairing?.catch(() => undefined);
    const left = this.gaps;
    // The next start's catch-up fetches the open session again; say what it will have to cover.
    if (left.length > 0) this.#log.warn({ gaps: left.map((g) => ({ from: new Date(g.from).toISOString(), to: g.to === null ? null : new Date(g.to).toISOString(), state: g.state })) }, 'live stream closed with gaps unrepaired');
  }

  async #run(): Promise<void> {
    let failures = 0;
    while (!this.#closed) {
      let reason: string;
      try {
        await this.#client.waitUntilConnected(this.#ac.signal);
        const started = this.#client.clock.now();
        reason = await this.#session();
        // A stream that lived a while is healthy; only quick successive failures back off further.
        failures = this.#client.clock.now() - started > this.#opts.silenceTimeoutMs ? 1 : failures + 1;
      } catch (err) {
        if (this.#closed) break;
        reason = err instanceof Error ? err.message : String(err);
        failures++;
        this.#log.warn({ err }, 'live subscription failed');
      }
      if (this.#closed) break;
      this.#interrupted(reason);
      const wait = backoffDelay(failures, this.#opts.resubscribeBackoff ?? DEFAULT_RESUBSCRIBE_BACKOFF);
      await this.#client.clock.sleep(wait, this.#ac.signal).catch(() => undefined);
    }
  }

  /** One subscription: resolves with the reason it ended. */
  async #session(): Promise<string> {
    const ref: { handle?: LiveRequestHandle } = {};
    let endReason: string | undefined;
    let resolveEnd!: (reason: string) => void;
    const ended = new Promise<string>((r) => (resolveEnd = r));
    const end = (reason: string): void => {
      if (endReason !== undefined) return;
      endReason = reason;
      this.#endSession = undefined;
      this.#clearTimers();
      ref.handle?.cancel();
      resolveEnd(reason);
    };
    this.#endSession = end;
    // A new subscription starts from a clean slate: a 1100 whose 1101/1102 never came (the
    // socket dropped instead) must not keep the timers off for good.
    this.#suspended = false;
    const durationStr = this.#opts.initialDurationStr ?? `${Math.max(60, Math.round((2 * this.#barMs) / 1000))} S`;
    this.#lastDataAt = this.#client.clock.now();
    const handle = await this.#client.openKeepUpToDate(
      this.#contract,
      { symbol: this.symbol, barSize: this.#opts.barSize, whatToShow: this.#opts.whatToShow, useRth: this.#opts.useRth, durationStr },
      {
        onBar: (bar) => {
          if (endReason !== undefined) return;
          const now = this.#client.clock.now();
          const prevDataAt = this.#lastDataAt;
          this.#lastDataAt = now;
          if (this.#gapFrom === undefined) this.#checkContinuity(bar.ts, prevDataAt);
          if (this.#gapFrom !== undefined) this.#closeGap(bar.ts);
          this.#emitBars(this.#finalizer.onUpdate(bar, now));
          this.#armFinalize();
          this.#armSilence();
        },
        onInitialEnd: () => undefined,
        onEnd: (err) => end(err instanceof IbCancelledError ? 'cancelled by IB' : err instanceof IbConnectivityError ? 'disconnected' : String(err)),
      },
      this.#ac.signal,
    );
    ref.handle = handle;
    if (endReason !== undefined) handle.cancel();
    else {
      this.#opts.onEvent?.({ type: 'subscribed', symbol: this.symbol, reqId: handle.reqId });
      this.#log.info({ reqId: handle.reqId }, 'live bars subscribed');
      this.#armSilence();
      // Repairs that failed (or waited for the link) get another try on the new connection.
      for (const g of this.#gaps) g.failed = false;
      this.#startRepair();
    }
    if (this.#closed) end('closed');
    return ended;
  }

  #interrupted(reason: string): void {
    this.#openGap(reason);
    this.#log.warn({ reason, gapFrom: this.#gapFrom }, 'live stream interrupted; resubscribing');
    this.#opts.onEvent?.({ type: 'interrupted', symbol: this.symbol, reason, gapFrom: this.#gapFrom });
  }

  /** Bar starts the calendar expects in [from, to). */
  #expected(from: number, to: number): number[] {
    return expectedBarStartsIn(this.#opts.calendar, from, to, this.#barMs);
  }

  /** End of the newest bar seen live or already queued for repair. */
  #seenEnd(): number | undefined {
    const seen = this.#finalizer.current?.ts ?? this.#finalizer.lastFinalTs;
    const end = seen === undefined ? undefined : seen + this.#barMs;
    if (this.#coveredTo === undefined) return end;
    return end === undefined ? this.#coveredTo : Math.max(end, this.#coveredTo);
  }

  /**
   * Updates lost without any error: a bar that skips bars the calendar expects, or a new bar
   * after the previous one stopped updating well before it ended (its last values are cut short).
   * `prevDataAt` is when the update before this one arrived.
   */
  #checkContinuity(ts: number, prevDataAt: number): void {
    const seenEnd = this.#seenEnd();
    const prevTs = this.#finalizer.current?.ts ?? this.#finalizer.lastFinalTs;
    // Before the first bar only `from` says where the stream's bars begin.
    if (seenEnd === undefined) return;
    let reason: string | undefined;
    if (ts > seenEnd && this.#expected(seenEnd, ts).length > 0) {
      reason =
        prevTs === undefined
          ? `first bar ${new Date(ts).toISOString()} is later than the stream's start ${new Date(seenEnd).toISOString()}`
          : `bar times jumped from ${new Date(seenEnd - this.#barMs).toISOString()} to ${new Date(ts).toISOString()}`;
    } else if (prevTs !== undefined && ts > prevTs && prevTs + this.#barMs > (this.#coveredTo ?? -Infinity) && prevDataAt + this.#quietMs < prevTs + this.#barMs && this.#opts.calendar.isOpen(prevTs)) {
      reason = `no updates for the last ${Math.round((prevTs + this.#barMs - prevDataAt) / 1000)} s of the bar ${new Date(prevTs).toISOString()}`;
    }
    if (reason === undefined) return;
    this.#openGap(reason);
    this.#log.warn({ reason, gapFrom: this.#gapFrom }, 'live bars skipped; repairing');
    this.#opts.onEvent?.({ type: 'interrupted', symbol: this.symbol, reason, gapFrom: this.#gapFrom });
  }

  /**
   * Data may be missing from here on: the bar being built is dropped (its updates stopped) and
   * the missed window starts after the last final bar. The next bar to arrive, on this stream or
   * a new one, says where it ends.
   */
  #openGap(reason: string): void {
    const current = this.#finalizer.current?.ts;
    this.#finalizer.discardCurrent();
    const last = this.#finalizer.lastFinalTs;
    // A bar closed by the grace timer may have been cut short by the very silence or outage
    // that interrupted the stream: fetch it again (the raw store keeps the latest ingestion).
    // Nothing seen yet: the stream's bars begin at `from`, if it was given.
    let from = last === undefined ? (current ?? this.#coveredTo) : this.#finalizer.lastFinalByGrace ? last : last + this.#barMs;
    if (from === undefined) return;
    // Bars before this are delivered or belong to an earlier repair.
    if (this.#coveredTo !== undefined) from = Math.max(from, this.#coveredTo);
    if (this.#gapFrom === undefined) {
      this.#gapReason = reason;
      this.#gapSince = this.#client.clock.now();
    }
    this.#gapFrom = this.#gapFrom === undefined ? from : Math.min(this.#gapFrom, from);
  }

  /** The gap ends where data starts again (or where the session ended): queue exactly its bars. */
  #closeGap(end: number): void {
    const from = this.#gapFrom as number;
    this.#gapFrom = undefined;
    this.#coveredTo = Math.max(this.#coveredTo ?? end, end);
    const starts = this.#expected(from, end);
    const gap = starts.length > 0 ? { from: starts[0] as number, to: end } : null;
    if (gap) this.#gaps.push({ ...gap, reason: this.#gapReason, since: this.#gapSince, attempts: 0, failed: false });
    this.#opts.onEvent?.({ type: 'resumed', symbol: this.symbol, gap });
    this.#startRepair();
  }

  #startRepair(): void {
    if (this.#repairing || this.#closed || !this.#gaps.some((g) => !g.failed)) return;
    this.#client.clock.clearTimeout(this.#repairTimer);
    this.#repairTimer = undefined;
    this.#repairing = this.#repair().finally(() => {
      this.#repairing = undefined;
      this.#repairingGap = undefined;
    });
  }

  /** Repairs queued gaps oldest first; a gap that keeps failing is reported and set aside. */
  async #repair(): Promise<void> {
    const maxAttempts = this.#opts.repairAttempts ?? DEFAULT_REPAIR_ATTEMPTS;
    for (let gap = this.#gaps.find((g) => !g.failed); gap && !this.#closed; gap = this.#gaps.find((g) => !g.failed)) {
      this.#repairingGap = gap;
      const { from, to } = gap;
      try {
        let count = 0;
        for (const w of planRange(this.#opts.calendar, from, to, this.#opts.barSize).reverse()) {
          const res = await this.#client.requestHistoricalBars(this.#contract, w.start, w.end, this.#opts.barSize, this.#opts.whatToShow, this.#opts.useRth, {
            symbol: this.symbol,
            signal: this.#ac.signal,
          });
          const bars = res.bars.filter((b) => b.ts >= from && b.ts < to);
          count += bars.length;
          this.#emitBars(bars);
        }
        this.#gaps.splice(this.#gaps.indexOf(gap), 1);
        const expected = this.#expected(from, to).length;
        this.#log.info({ from: new Date(from).toISOString(), to: new Date(to).toISOString(), bars: count, expected, reason: gap.reason }, 'live gap repaired');
        this.#opts.onEvent?.({ type: 'gap-repaired', symbol: this.symbol, from, to, bars: count, expected });
      } catch (err) {
        if (this.#closed) return;
        const error = err instanceof Error ? err.message : String(err);
        gap.error = error;
        if (err instanceof IbConnectivityError) {
          // No link, no repair: the next subscription (after the reconnect) starts it again.
          this.#log.warn({ err, from, to }, 'live gap repair waits for the connection');
          this.#opts.onEvent?.({ type: 'repair-failed', symbol: this.symbol, from, to, error, attempts: gap.attempts, final: false });
          return;
        }
        gap.attempts++;
        const retryable = !(err instanceof IbpipeError) || err.retryable;
        if (!retryable || gap.attempts >= maxAttempts) {
          gap.failed = true;
          this.#log.error(
            { err, from: new Date(from).toISOString(), to: new Date(to).toISOString(), missing_bars: this.#expected(from, to).length, attempts: gap.attempts },
            'live gap repair failed: bars stay missing (retried after the next resubscription; a restart catches the session up)',
          );
          this.#opts.onEvent?.({ type: 'repair-failed', symbol: this.symbol, from, to, error, attempts: gap.attempts, final: true });
          continue;
        }
        this.#log.warn({ err, from, to, attempts: gap.attempts }, 'live gap repair failed; will retry');
        this.#opts.onEvent?.({ type: 'repair-failed', symbol: this.symbol, from, to, error, attempts: gap.attempts, final: false });
        this.#repairTimer = this.#client.clock.setTimeout(() => {
          this.#repairTimer = undefined;
          this.#startRepair();
        }, backoffDelay(gap.attempts, this.#opts.resubscribeBackoff ?? DEFAULT_RESUBSCRIBE_BACKOFF));
        return;
      }
    }
  }

  #emitBars(bars: readonly BarEvent[]): void {
    for (const bar of bars) {
      try {
        this.#opts.onBar(bar);
      } catch (err) {
        this.#log.error({ err }, 'onBar callback failed');
      }
    }
  }

  #onConnectivity(e: ConnectivityEvent): void {
    if (e.type !== 'ib-link') return;
    if (e.code === 1100) {
      // IB's link is down: no updates will come, so neither silence nor the grace period means
      // anything, and whatever the outage swallows is repaired once data flows again.
      this.#suspended = true;
      this.#clearTimers();
      this.#openGap('1100 connectivity lost');
      this.#opts.onEvent?.({ type: 'interrupted', symbol: this.symbol, reason: '1100 connectivity lost', gapFrom: this.#gapFrom });
    } else if (e.code === 1101) {
      this.#suspended = false;
      this.#endSession?.('1101 connectivity restored, data lost');
    } else if (e.code === 1102) {
      this.#suspended = false;
      this.#lastDataAt = this.#client.clock.now();
      this.#armFinalize();
      this.#armSilence();
    }
    // Farm notices (2103/2105/2110) change nothing here: a stream they kill goes silent, and
    // the silence watchdog resubscribes it.
  }

  #armFinalize(): void {
    const clock = this.#client.clock;
    clock.clearTimeout(this.#finalizeTimer);
    this.#finalizeTimer = undefined;
    const deadline = this.#finalizer.nextDeadline();
    if (deadline === undefined || this.#suspended) return;
    this.#finalizeTimer = clock.setTimeout(() => {
      this.#finalizeTimer = undefined;
      if (this.#suspended) return;
      this.#emitBars(this.#finalizer.onTick(clock.now()));
    }, Math.max(0, deadline - clock.now()));
  }

  /**
   * Watches for silence: after SILENT_GAP_BARS bars without data while bars were due, a gap
   * opens (visible at once, repaired when data returns); after `silenceTimeoutMs` with the
   * market open the stream is resubscribed; a gap still open when the session has ended is
   * closed at its last expected bar and repaired.
   */
  #armSilence(minDelayMs = 0): void {
    const clock = this.#client.clock;
    clock.clearTimeout(this.#silenceTimer);
    this.#silenceTimer = undefined;
    if (this.#suspended || !this.#endSession) return;
    const gapDue = this.#gapFrom === undefined ? this.#lastDataAt + SILENT_GAP_BARS * this.#barMs : Number.POSITIVE_INFINITY;
    const due = Math.min(gapDue, this.#lastDataAt + this.#opts.silenceTimeoutMs);
    this.#silenceTimer = clock.setTimeout(() => {
      this.#silenceTimer = undefined;
      if (!this.#suspended) this.#onSilence(clock.now());
    }, Math.max(minDelayMs, due - clock.now()));
  }

  #onSilence(now: number): void {
    const open = this.#opts.calendar.isOpen(now);
    const quiet = now - this.#lastDataAt;
    if (quiet >= this.#opts.silenceTimeoutMs && open) {
      this.#endSession?.('silent stream');
      return;
    }
    if (this.#gapFrom === undefined && quiet >= SILENT_GAP_BARS * this.#barMs) {
      // Bars that ended by now without a single update: data is missing, not just slow.
      const seenEnd = this.#seenEnd();
      const due = seenEnd === undefined ? [] : this.#expected(seenEnd, now - this.#barMs + 1);
      if (due.length > 0) {
        const reason = `no data for ${Math.floor(quiet / this.#barMs)} bars`;
        this.#openGap(reason);
        this.#log.warn({ reason, gapFrom: this.#gapFrom }, 'live stream silent; bars missing');
        this.#opts.onEvent?.({ type: 'interrupted', symbol: this.symbol, reason, gapFrom: this.#gapFrom });
      }
    }
    if (!open) {
      // The session is over (or in a break): a gap cannot grow any further, so repair it now.
      if (this.#gapFrom !== undefined) {
        const last = this.#expected(this.#gapFrom, now).at(-1);
        this.#closeGap(last === undefined ? this.#gapFrom : last + this.#barMs);
      }
      // A closed market is silent by nature: start counting again from now.
      this.#lastDataAt = now;
    }
    // Quiet, but no bar due yet (the market has just opened): look again a little later.
    this.#armSilence(this.#quietMs);
  }

  #clearTimers(): void {
    const clock = this.#client.clock;
    clock.clearTimeout(this.#finalizeTimer);
    clock.clearTimeout(this.#silenceTimer);
    this.#finalizeTimer = undefined;
    this.#silenceTimer = undefined;
  }
}
