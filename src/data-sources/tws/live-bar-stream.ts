import type { TradingCalendar } from '../../calendar/trading-calendar.js';
import type { TimerHandle } from '../../core/clock.js';
import { type BarEvent, type BarSize, barSizeMs } from '../../core/bars.js';
import { silentLogger, type Logger } from '../../ops/logging-setup.js';
import { planRange } from './backfill-planner.js';
import { backoffDelay, type BackoffPolicy } from './backoff.js';
import { IbCancelledError, IbConnectivityError } from './ib-errors.js';
import { LiveBarFinalizer } from './live-bar-finalizer.js';
import type { ConnectivityEvent, LiveRequestHandle, ResolvedContract, TwsClient } from './tws-client.js';

/**
 * Live bars for one instrument, self-healing. Uses keepUpToDate bars rather than 5-second
 * real-time bars: they are the same HMDS bars a later backfill returns (no reconciliation
 * drift between live and repaired data), one request serves any bar size, and the repair path
 * is the ordinary historical request. A bar is passed on only once final (LiveBarFinalizer).
 *
 * When the stream breaks (socket drop, 1101, IB's 162 "query cancelled", or silence while the
 * calendar says the market is open) it resubscribes and fetches the missed bars
 * [last final bar + 1, first bar of the new stream) through paced historical requests.
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
  /** Duration of the (re)subscription's initial answer; default two bars. */
  readonly initialDurationStr?: string;
  readonly resubscribeBackoff?: BackoffPolicy;
  readonly logger?: Logger;
  /** Called once per final bar, in time order per stream, including repaired bars. */
  onBar(bar: BarEvent): void;
  onEvent?(event: LiveStreamEvent): void;
}

export type LiveStreamEvent =
  | { readonly type: 'subscribed'; readonly symbol: string; readonly reqId: number }
  | { readonly type: 'interrupted'; readonly symbol: string; readonly reason: string; readonly gapFrom: number | undefined }
  /** Data flows again; `gap` is the window to repair (null when the new stream's first bars cover it). */
  | { readonly type: 'resumed'; readonly symbol: string; readonly gap: { readonly from: number; readonly to: number } | null }
  | { readonly type: 'gap-repaired'; readonly symbol: string; readonly from: number; readonly to: number; readonly bars: number }
  | { readonly type: 'repair-failed'; readonly symbol: string; readonly from: number; readonly to: number; readonly error: string };

const DEFAULT_RESUBSCRIBE_BACKOFF: BackoffPolicy = { initialMs: 1_000, maxMs: 60_000, factor: 2, jitter: 0.5 };

export class LiveBarStream {
  readonly symbol: string;
  readonly #client: TwsClient;
  readonly #contract: ResolvedContract;
  readonly #opts: LiveBarStreamOptions;
  readonly #log: Logger;
  readonly #barMs: number;
  readonly #finalizer: LiveBarFinalizer<BarEvent>;
  readonly #ac = new AbortController();
  readonly #unsubscribe: () => void;
  #closed = false;
  #suspended = false;
  #gapFrom: number | undefined;
  /** First bar of the stream that closed the last gap. */
  #resumedAt: number | undefined;
  readonly #gaps: Array<{ from: number; to: number }> = [];
  #repairing: Promise<void> | undefined;
  #repairTimer: TimerHandle | undefined;
  #endSession: ((reason: string) => void) | undefined;
  #finalizeTimer: TimerHandle | undefined;
  #silenceTimer: TimerHandle | undefined;
  #lastDataAt = 0;
  readonly #done: Promise<void>;

  constructor(client: TwsClient, contract: ResolvedContract, options: LiveBarStreamOptions) {
    this.#client = client;
    this.#contract = contract;
    this.#opts = options;
    this.symbol = options.symbol;
    this.#log = (options.logger ?? silentLogger()).child({ component: 'live-bar-stream', symbol: options.symbol });
    this.#barMs = barSizeMs(options.barSize);
    this.#finalizer = new LiveBarFinalizer<BarEvent>(this.#barMs, options.finalizeGraceMs);
    this.#unsubscribe = client.onConnectivity((e) => this.#onConnectivity(e));
    this.#done = this.#run();
  }

  /** Start of the last final bar passed on. */
  get lastFinalTs(): number | undefined {
    return this.#finalizer.lastFinalTs;
  }

  /** Gaps still waiting for repair. */
  get pendingGaps(): ReadonlyArray<{ from: number; to: number }> {
    return [...this.#gaps];
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
          this.#lastDataAt = now;
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
    }
    if (this.#closed) end('closed');
    return ended;
  }

  #interrupted(reason: string): void {
    this.#openGap();
    this.#log.warn({ reason, gapFrom: this.#gapFrom }, 'live stream interrupted; resubscribing');
    this.#opts.onEvent?.({ type: 'interrupted', symbol: this.symbol, reason, gapFrom: this.#gapFrom });
  }

  /**
   * Data may be missing from here on: the bar being built is dropped (its updates stopped) and
   * the missed window starts after the last final bar. The next bar to arrive, on this stream or
   * a new one, says where it ends.
   */
  #openGap(): void {
    this.#finalizer.discardCurrent();
    const last = this.#finalizer.lastFinalTs;
    if (last === undefined) return;
    // A bar closed by the grace timer may have been cut short by the very silence or outage
    // that interrupted the stream: fetch it again (the raw store keeps the latest ingestion).
    let from = this.#finalizer.lastFinalByGrace ? last : last + this.#barMs;
    // Bars before the current stream's first bar belong to an earlier repair.
    if (this.#resumedAt !== undefined) from = Math.max(from, this.#resumedAt);
    this.#gapFrom = this.#gapFrom === undefined ? from : Math.min(this.#gapFrom, from);
  }

  #closeGap(nextTs: number): void {
    const from = this.#gapFrom as number;
    this.#gapFrom = undefined;
    this.#resumedAt = nextTs;
    const gap = nextTs > from ? { from, to: nextTs } : null;
    if (gap) this.#gaps.push(gap);
    this.#opts.onEvent?.({ type: 'resumed', symbol: this.symbol, gap });
    this.#startRepair();
  }

  #startRepair(): void {
    if (this.#repairing || this.#gaps.length === 0 || this.#closed) return;
    this.#repairing = this.#repair().finally(() => {
      this.#repairing = undefined;
    });
  }

  async #repair(): Promise<void> {
    while (this.#gaps.length > 0 && !this.#closed) {
      const gap = this.#gaps[0] as { from: number; to: number };
      try {
        const windows = planRange(this.#opts.calendar, gap.from, gap.to, this.#opts.barSize).reverse();
        let count = 0;
        for (const w of windows) {
          const res = await this.#client.requestHistoricalBars(this.#contract, w.start, w.end, this.#opts.barSize, this.#opts.whatToShow, this.#opts.useRth, {
            symbol: this.symbol,
            signal: this.#ac.signal,
          });
          const bars = res.bars.filter((b) => b.ts >= gap.from && b.ts < gap.to);
          count += bars.length;
          this.#emitBars(bars);
        }
        this.#gaps.shift();
        this.#log.info({ from: gap.from, to: gap.to, bars: count }, 'live gap repaired');
        this.#opts.onEvent?.({ type: 'gap-repaired', symbol: this.symbol, from: gap.from, to: gap.to, bars: count });
      } catch (err) {
        if (this.#closed) return;
        this.#log.warn({ err, from: gap.from, to: gap.to }, 'live gap repair failed; will retry');
        this.#opts.onEvent?.({ type: 'repair-failed', symbol: this.symbol, from: gap.from, to: gap.to, error: String(err) });
        // Retry after a pause (or at the next resubscription, whichever comes first).
        this.#client.clock.clearTimeout(this.#repairTimer);
        this.#repairTimer = this.#client.clock.setTimeout(() => this.#startRepair(), backoffDelay(1, this.#opts.resubscribeBackoff ?? DEFAULT_RESUBSCRIBE_BACKOFF));
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
      this.#openGap();
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

  #armSilence(): void {
    const clock = this.#client.clock;
    clock.clearTimeout(this.#silenceTimer);
    this.#silenceTimer = undefined;
    if (this.#suspended || !this.#endSession) return;
    const due = this.#lastDataAt + this.#opts.silenceTimeoutMs;
    this.#silenceTimer = clock.setTimeout(() => {
      this.#silenceTimer = undefined;
      const now = clock.now();
      if (this.#suspended) return;
      if (now - this.#lastDataAt >= this.#opts.silenceTimeoutMs && this.#opts.calendar.isOpen(now)) {
        this.#endSession?.('silent stream');
      } else {
        // A closed market is silent by nature: start counting again from now.
        if (!this.#opts.calendar.isOpen(now)) this.#lastDataAt = now;
        this.#armSilence();
      }
    }, Math.max(0, due - clock.now()));
  }

  #clearTimers(): void {
    const clock = this.#client.clock;
    clock.clearTimeout(this.#finalizeTimer);
    clock.clearTimeout(this.#silenceTimer);
    this.#finalizeTimer = undefined;
    this.#silenceTimer = undefined;
  }
}
