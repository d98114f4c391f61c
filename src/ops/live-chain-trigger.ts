import type { InstrumentCalendars } from '../calendar/instrument-calendars.js';
import type { Session, TradingCalendar } from '../calendar/trading-calendar.js';
import type { Clock, TimerHandle } from '../core/clock.js';
import { isLiveBatchId, liveStreamKey } from '../data-sources/tws/live-ingest.js';
import type { BatchCommitInfo } from '../storage/raw-store.js';
import type { MarketDataEvent } from './market-data.js';
import type { JobParams } from './job-ledger.js';
import type { Logger } from '../core/logger.js';

/** One live stream the chain waits for: an instrument in one intraday bar dataset. */
export interface LiveChainStream {
  readonly symbol: string;
  /** The dataset's tag on the stream's events (absent for the classic dataset: liveStreamKey). */
  readonly tag?: string;
  /** Dataset name, passed to the chain as `dataset` when more than one dataset is streamed. */
  readonly dataset: string;
  /** Raw partition its bars are committed to (BatchCommitInfo.partition). */
  readonly partition: string;
  /** Bar length of the stream. */
  readonly barMs: number;
}

export interface LiveChainTriggerDeps {
  readonly clock: Clock;
  readonly calendars: Pick<InstrumentCalendars, 'calendarFor'>;
  /** The live instruments (with `barMs`: one classic stream each, whatever partition its commits name). */
  readonly symbols: readonly string[];
  /** Bar length of the live bars. */
  readonly barMs: number;
  /**
   * The live streams, one per intraday dataset and instrument; replaces `symbols` / `barMs`. Each
   * is waited for, held and released on its own (commits of its own partition, events of its own
   * tag), so two series of one instrument never stand in for each other.
   */
  readonly streams?: readonly LiveChainStream[];
  /** `gaps.final_grace`: the session's final run is due at its close plus this. */
  readonly finalGraceMs: number;
  /** `daemon.live_bars_max_wait_ms`: how long after a bar's close to wait for a laggard. */
  readonly maxWaitMs: number;
  readonly logger: Logger;
  /**
   * Runs the chain (the jobs with `on_live_bars`) for one session date; `symbols` when it is not
   * for every instrument (some trade another date, or are held); `dataset` (the names whose
   * streams are run) when more than one dataset is streamed.
   */
  fire(params: JobParams & { date: string }): void;
}

/** Why an instrument's stored bars cannot be trusted from some bar on. */
interface HoldState {
  /** Start-up catch-up of the open session, from its open. */
  catchUp?: number;
  /** Stream interrupted: bars from here on may be missing until it resumes. */
  open?: number;
  /** Gaps waiting for repair; `commitsLeft` counts live flushes still to commit once repaired. */
  readonly pending: { from: number; to: number; commitsLeft?: number }[];
}

/**
 * Live flushes after a `gap-repaired` event before its bars are surely committed: the flush
 * running when the event came may have started before the repaired bars were buffered; the
 * next one starts after.
 */
const REPAIR_COMMITS = 2;

/**
 * Triggers the daemon's live chain from the data rather than the clock: when the bars of the
 * latest interval have been committed to the raw store for every live instrument (or
 * `maxWaitMs` after the bar's close for one still on its way), and once more at each session's
 * close plus the final grace (the final transform). An instrument behind by more than the bar
 * in flight (no data, a dead feed) is not waited for. It runs once per interval, plus once more
 * when the instruments it went without (their bar was late) are all in: other bars committed
 * after that run (a correction) are curated by the next interval's run, so a burst of
 * corrections never turns into back-to-back runs. Instruments whose stored bars are known
 * to be incomplete — the open session being caught up at start-up, an interrupted stream, a gap
 * waiting for repair — are held: left out of the run (their published rows stay as they are)
 * instead of curated with bars that are on their way imputed; a hold's release triggers the
 * chain again. The session's final run includes every instrument.
 */
export class LiveChainTrigger {
  readonly #d: LiveChainTriggerDeps;
  /** Per stream key (liveStreamKey). */
  readonly #streams: ReadonlyMap<string, LiveChainStream & { readonly anyPartition: boolean }>;
  readonly #symbols: ReadonlySet<string>;
  /** Dataset names in declaration order, when more than one is streamed. */
  readonly #datasets: readonly string[] | null;
  readonly #committed = new Map<string, number>();
  readonly #holds = new Map<string, HoldState>();
  readonly #firedFinal = new Set<string>();
  readonly #grids = new Map<string, number[]>();
  #dirty = false;
  /** Latest due bar start the chain has run for (once per interval). */
  #firedInterval = Number.NEGATIVE_INFINITY;
  /** A hold was lifted since the last run: the instrument can be curated further now. */
  #released = false;
  /** Instruments whose bar was still on its way when this interval's run went without them. */
  #late = new Set<string>();
  #started = false;
  #waitTimer: TimerHandle | undefined;
  #waitUntil = Number.POSITIVE_INFINITY;
  #finalTimer: TimerHandle | undefined;

  constructor(deps: LiveChainTriggerDeps) {
    this.#d = deps;
    const streams: readonly LiveChainStream[] = deps.streams ?? deps.symbols.map((symbol) => ({ symbol, dataset: '', partition: '', barMs: deps.barMs }));
    this.#streams = new Map(streams.map((st) => [liveStreamKey(st.symbol, st.tag), { ...st, anyPartition: !deps.streams }]));
    this.#symbols = new Set(streams.map((st) => st.symbol));
    const names = [...new Set(streams.map((st) => st.dataset))];
    this.#datasets = deps.streams && names.length > 1 ? names : null;
  }

  /** Starts firing; `committed` is each stream's (liveStreamKey) newest stored bar start (rawStore.latestBarTimes of its partition). */
  start(committed: ReadonlyMap<string, number | null>): void {
    for (const [s, ts] of committed) if (ts !== null && this.#streams.has(s)) this.#committed.set(s, Math.max(ts, this.#committed.get(s) ?? -Infinity));
    this.#started = true;
    this.#armFinal();
    this.#evaluate();
  }

  stop(): void {
    this.#started = false;
    this.#d.clock.clearTimeout(this.#waitTimer);
    this.#d.clock.clearTimeout(this.#finalTimer);
  }

  /** Per stream (liveStreamKey), the bar start from which its stored bars are incomplete (none when absent). */
  holds(): Map<string, number> {
    const out = new Map<string, number>();
    for (const [s, h] of this.#holds) {
      const from = Math.min(h.catchUp ?? Infinity, h.open ?? Infinity, ...h.pending.map((g) => g.from));
      if (Number.isFinite(from)) out.set(s, from);
    }
    return out;
  }

  /** A raw batch was committed (rawStore.onCommit). */
  onCommit(info: BatchCommitInfo): void {
    let ours = false;
    for (const [key, st] of this.#streams) {
      if (!st.anyPartition && st.partition !== info.partition) continue;
      const ts = info.lastTs.get(st.symbol);
      if (ts === undefined) continue;
      ours = true;
      if (ts > (this.#committed.get(key) ?? -Infinity)) this.#committed.set(key, ts);
    }
    let released = false;
    if (isLiveBatchId(info.batchId)) {
      for (const [s, h] of this.#holds) {
        const st = this.#streams.get(s);
        // A repair is committed by its own stream's flushes: another series' commits do not count.
        if (st && !st.anyPartition && st.partition !== info.partition) continue;
        for (const g of [...h.pending]) {
          if (g.commitsLeft === undefined || --g.commitsLeft > 0) continue;
          h.pending.splice(h.pending.indexOf(g), 1);
          released = true;
          this.#released = true;
          this.#d.logger.info({ symbol: s, from: iso(g.from), to: iso(g.to) }, 'live chain: repaired gap committed; hold released');
        }
      }
    }
    if (ours || released) this.#touch();
  }

  /** A live-data event (MarketDataService.onEvent). */
  onEvent(e: MarketDataEvent): void {
    const key = liveStreamKey(e.symbol, e.dataset);
    if (!this.#streams.has(key)) return;
    const h = this.#holds.get(key) ?? { pending: [] };
    this.#holds.set(key, h);
    const before = this.holds().get(key);
    switch (e.type) {
      case 'catch-up':
        h.catchUp = e.from;
        break;
      case 'caught-up':
        delete h.catchUp;
        break;
      case 'interrupted':
        if (e.gapFrom !== undefined) h.open = Math.min(h.open ?? Infinity, e.gapFrom);
        break;
      case 'resumed':
        delete h.open;
        if (e.gap) h.pending.push({ from: e.gap.from, to: e.gap.to });
        break;
      case 'gap-repaired': {
        const g = h.pending.find((p) => p.from === e.from && p.to === e.to);
        if (g && e.bars === 0) h.pending.splice(h.pending.indexOf(g), 1);
        else if (g) g.commitsLeft = REPAIR_COMMITS;
        break;
      }
      case 'repair-failed': {
        // Attempts spent: the bars stay missing (a later retry may still bring them, counted as
        // revisions). Holding on would freeze the instrument until the close; curate it with the
        // gap imputed instead — a real gap now, as /healthz shows.
        const g = 'final' in e && e.final === true ? h.pending.find((p) => p.from === e.from && p.to === e.to && p.commitsLeft === undefined) : undefined;
        if (g) h.pending.splice(h.pending.indexOf(g), 1);
        break;
      }
      default:
        break;
    }
    const after = this.holds().get(key);
    if (after === before) return;
    this.#d.logger.info({ symbol: e.symbol, ...(e.dataset === undefined ? {} : { dataset: e.dataset }), event: e.type, hold_before: after === undefined ? null : iso(after) }, after === undefined ? 'live chain: hold released' : 'live chain: holding');
    // A hold lifted (or moved later) lets more of the instrument be curated now.
    if (after === undefined || (before !== undefined && after > before)) {
      this.#released = true;
      this.#touch();
    }
  }

  #touch(): void {
    this.#dirty = true;
    this.#evaluate();
  }

  /** Fires when nothing worth waiting for is still on its way; else waits until it comes or its deadline. */
  #evaluate(): void {
    if (!this.#started || !this.#dirty) return;
    const { clock, maxWaitMs } = this.#d;
    const now = clock.now();
    const holds = this.holds();
    const byDate = new Map<string, string[]>();
    let waitUntil = Number.POSITIVE_INFINITY;
    let interval = Number.NEGATIVE_INFINITY;
    const late: string[] = [];
    for (const [s, st] of this.#streams) {
      const { barMs } = st;
      const cal = this.#d.calendars.calendarFor(st.symbol);
      const session = currentSession(cal, now, this.#d.finalGraceMs);
      const due = session ? this.#lastDueBar(cal, session, now, barMs) : undefined;
      if (!session || due === undefined) continue;
      interval = Math.max(interval, due);
      const list = byDate.get(session.date) ?? [];
      list.push(s);
      byDate.set(session.date, list);
      if (holds.has(s)) continue;
      const committed = this.#committed.get(s) ?? -Infinity;
      // Wait only for the bar in flight: an instrument further behind is not coming soon.
      if (committed >= due || committed < due - barMs) continue;
      const deadline = due + barMs + maxWaitMs;
      if (now < deadline) waitUntil = Math.min(waitUntil, deadline);
      else late.push(s);
    }
    if (waitUntil < Number.POSITIVE_INFINITY) {
      if (waitUntil !== this.#waitUntil) {
        clock.clearTimeout(this.#waitTimer);
        this.#waitUntil = waitUntil;
        this.#waitTimer = clock.setTimeout(() => {
          this.#waitUntil = Number.POSITIVE_INFINITY;
          this.#evaluate();
        }, waitUntil - now);
      }
      return;
    }
    this.#dirty = false;
    // Once per interval; again for the same interval only when a hold lifted or the instruments
    // it went without are all in now. Anything else waits for the next interval.
    const fresh = interval > this.#firedInterval;
    const lateIn = this.#late.size > 0 && late.every((s) => !this.#late.has(s));
    if (!fresh && !this.#released && !lateIn) return;
    let fired = false;
    for (const [date, keys] of byDate) {
      const ready = keys.filter((s) => !holds.has(s));
      // While every instrument of a date is held (e.g. the start-up catch-up) a run would change nothing.
      if (ready.length === 0) continue;
      fired = this.#fireStreams(date, keys, ready) || fired;
    }
    if (!fired) return;
    this.#firedInterval = Math.max(this.#firedInterval, interval);
    this.#late = new Set(late);
    this.#released = false;
  }

  /**
   * Fires for the datasets with a ready stream on `date`, and the instruments none of whose
   * streams in those datasets is held: one run curates each named dataset for each named
   * instrument, so a hold on one series keeps its instrument out of the run (never curated with
   * bars on their way imputed).
   */
  #fireStreams(date: string, keys: readonly string[], ready: readonly string[]): boolean {
    const streams = (ks: readonly string[]): (LiveChainStream & { anyPartition: boolean })[] => ks.map((k) => this.#streams.get(k)).filter((st) => st !== undefined);
    const datasets = new Set(streams(ready).map((st) => st.dataset));
    const heldSymbols = new Set(streams(keys.filter((k) => !ready.includes(k))).filter((st) => datasets.has(st.dataset)).map((st) => st.symbol));
    const symbols = [...new Set(streams(ready).map((st) => st.symbol))].filter((s) => !heldSymbols.has(s));
    if (symbols.length === 0) return false;
    this.#fire(date, symbols, this.#datasets?.filter((d) => datasets.has(d)));
    return true;
  }

  #fire(date: string, symbols: readonly string[], datasets?: readonly string[]): void {
    const params: JobParams & { date: string } = {
      date,
      ...(symbols.length < this.#symbols.size ? { symbols: [...symbols].sort() } : {}),
      ...(datasets ? { dataset: [...datasets] } : {}),
    };
    this.#d.logger.debug({ params }, 'live chain: firing');
    this.#d.fire(params);
  }

  /** Timer for the next session end plus the final grace among the instruments' calendars. */
  #armFinal(): void {
    const { clock, finalGraceMs } = this.#d;
    clock.clearTimeout(this.#finalTimer);
    if (!this.#started) return;
    const now = clock.now();
    const due = new Map<string, { at: number; date: string; symbols: string[] }>();
    for (const s of this.#symbols) {
      const cal = this.#d.calendars.calendarFor(s);
      let session = cal.session(cal.sessionDateOf(now)) ?? cal.nextSession(cal.sessionDateOf(now));
      while (session.close + finalGraceMs <= now || this.#firedFinal.has(`${cal.name}|${session.date}`)) session = cal.nextSession(session.date);
      const key = `${cal.name}|${session.date}`;
      const entry = due.get(key) ?? { at: session.close + finalGraceMs, date: session.date, symbols: [] };
      entry.symbols.push(s);
      due.set(key, entry);
    }
    const next = Math.min(...[...due.values()].map((d) => d.at));
    if (!Number.isFinite(next)) return;
    this.#finalTimer = clock.setTimeout(() => {
      const byDate = new Map<string, string[]>();
      for (const [key, d] of due) {
        if (d.at > next) continue;
        this.#firedFinal.add(key);
        byDate.set(d.date, [...(byDate.get(d.date) ?? []), ...d.symbols]);
      }
      for (const [date, symbols] of byDate) {
        this.#d.logger.info({ date, symbols: symbols.length }, 'live chain: session over, final run');
        // The streamed datasets only: a daily dataset's bar is backfilled after the close, by its own job.
        this.#fire(date, symbols, this.#datasets ?? undefined);
      }
      this.#armFinal();
    }, next - now);
  }

  /** Start of the latest bar of `session` complete at `now`, if any. */
  #lastDueBar(cal: TradingCalendar, session: Session, now: number, barMs: number): number | undefined {
    const key = `${cal.name}|${session.date}|${barMs}`;
    let grid = this.#grids.get(key);
    if (!grid) {
      grid = cal.expectedBarStarts(session, barMs);
      this.#grids.set(key, grid);
      if (this.#grids.size > 64) this.#grids.delete(this.#grids.keys().next().value as string);
    }
    let lo = 0;
    let hi = grid.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if ((grid[mid] as number) + barMs <= now) lo = mid + 1;
      else hi = mid;
    }
    return lo > 0 ? grid[lo - 1] : undefined;
  }
}

/** The session whose bars are being curated at `now`: the open one, or the last one until its final grace has passed. */
function currentSession(cal: TradingCalendar, now: number, finalGraceMs: number): Session | undefined {
  const at = cal.sessionAt(now);
  if (at) return at;
  const date = cal.sessionDateOf(now);
  const same = cal.session(date);
  if (same && same.open <= now) return same;
  const prev = cal.previousSession(date);
  return prev.close + finalGraceMs > now ? prev : undefined;
}

function iso(ms: number): string {
  return new Date(ms).toISOString();
}
