import { MS_PER_DAY, parseIsoDate } from '../calendar/civil-date.js';
import type { Session, SessionBreak } from '../calendar/trading-calendar.js';
import { inBreak } from '../calendar/trading-intervals.js';
import { zoneOffsetMs } from '../calendar/zoned-time.js';
import type { BarSpec } from './ib-request-time.js';
import { lowerBound, type ReplaySeries } from './replay-source.js';
import type { SimInstrument } from './sim-instruments.js';

/**
 * The synthetic market: deterministic bars for any instrument, window and bar size.
 *
 * Everything is built from 5-second base bars, and a base bar is a pure function of
 * (instrument seed, session date, position in the session): the session's log-price path is a
 * Brownian bridge between two daily anchors (an Ornstein–Uhlenbeck walk over calendar days,
 * pinned to the start price at ANCHOR_DAY), with hash-derived increments. So any request —
 * whatever its page boundaries, bar size or arrival time — sees the same numbers: 1-min bars
 * are exact aggregates of their twelve 5-s bars, daily bars of their session, and a live bar's
 * last update equals the historical bar. Bars exist only inside trading sessions (extended
 * hours for stocks when useRTH=0), from the instrument's head date up to its expiry, and never
 * in a session break (CME Globex's daily 16:00–17:00 Chicago halt): the price path runs on
 * through a break, but its base bars are not traded, so no bar of any size is built from them.
 */

export const BASE_BAR_MS = 5_000;

/** Series a request can ask for; anything else has no data. */
export type PriceSeries = 'TRADES' | 'ADJUSTED_LAST' | 'MIDPOINT' | 'BID' | 'ASK' | 'BID_ASK';
export const PRICE_SERIES: readonly PriceSeries[] = [
  'TRADES',
  'ADJUSTED_LAST',
  'MIDPOINT',
  'BID',
  'ASK',
  'BID_ASK',
];

/** One bar: `ts` is the bar start (epoch ms); `day` is the civil day label of daily+ bars. */
export interface MarketBar {
  ts: number;
  day?: number;
  open: number;
  high: number;
  low: number;
  close: number;
  /** -1 for quote series (MIDPOINT, BID, ASK, BID_ASK), as IB sends them. */
  volume: number;
  wap: number;
  count: number;
}

/** A trading session as served for one useRTH flag. */
export interface TradingSpan {
  readonly date: string;
  readonly day: number;
  /** Served interval: regular hours for useRTH=1, extended hours for stocks with useRTH=0. */
  readonly start: number;
  readonly end: number;
  /** Extent of the price path (the extended session), which both flags share. */
  readonly pathStart: number;
  readonly pathEnd: number;
  readonly rthStart: number;
  readonly rthEnd: number;
  /** The session's breaks: no base bar starting in one is traded. */
  readonly breaks: readonly SessionBreak[];
}

export interface BarQuery {
  /** Bars whose start lies in [start, end) are returned. */
  readonly start: number;
  readonly end: number;
  readonly bar: BarSpec;
  readonly series: PriceSeries;
  readonly rth: boolean;
  /** Only data before now exists; the bar in progress is partial. */
  readonly now: number;
}

/** Day on which every instrument's daily anchor equals its configured start price. */
const ANCHOR_DAY = parseIsoDate('2024-01-02');
/** Anchors are precomputed for ANCHOR_DAY ± this many days (1970 … 2078). */
const ANCHOR_RANGE = 19_720;
/** Daily mean reversion of the anchor walk: keeps decades of synthetic prices plausible. */
const ANCHOR_PHI = 0.9995;
const STREAM_ANCHOR_FWD = 1;
const STREAM_ANCHOR_BACK = 2;
const STREAM_STEP = 3;
const STREAM_HIGH = 4;
const STREAM_LOW = 5;
const STREAM_VOLUME = 6;
const STREAM_SPLIT = 7;

/** Paths kept in memory (one per instrument-session, ~90 KB each for a stock). */
// Per instrument and session day; sized by the universe below so 500 instruments do not thrash it.
const PATH_CACHE_MIN = 96;
const AGG_CACHE_SIZE = 20_000;

export class SyntheticMarket {
  readonly #anchors = new Map<number, Float64Array>();
  readonly #paths = new Map<string, Float64Array>();
  readonly #instrumentsSeen = new Set<string>();
  readonly #aggregates = new Map<string, MarketBar>();
  readonly #scratch: MarketBar = { ts: 0, open: 0, high: 0, low: 0, close: 0, volume: 0, wap: 0, count: 0 };
  readonly #replays = new Map<string, ReplaySeries>();

  /** Serves an instrument from recorded bars instead of the synthetic path. */
  setReplay(key: string, series: ReplaySeries): void {
    this.#replays.set(key, series);
    for (const k of [...this.#aggregates.keys()]) if (k.startsWith(`${key}|`)) this.#aggregates.delete(k);
  }

  /** Spans overlapping [from, to), ascending, limited to the instrument's history. */
  spansBetween(inst: SimInstrument, from: number, to: number, rth: boolean): TradingSpan[] {
    if (!(to > from)) return [];
    const margin = 3 * MS_PER_DAY;
    const sessions = inst.calendar.sessionsInRange(isoDay(from - margin), isoDay(to + margin));
    const out: TradingSpan[] = [];
    for (const s of sessions) {
      const span = this.#span(inst, s, rth);
      if (span && span.end > from && span.start < to) out.push(span);
    }
    return out;
  }

  /** The last `count` spans starting before `end` (IB's `N D`: N trading days). */
  lastSpans(inst: SimInstrument, end: number, count: number, rth: boolean): TradingSpan[] {
    // Widen the look-back until enough sessions are found or history runs out.
    for (let days = Math.ceil(count * 1.6) + 10; ; days *= 2) {
      const from = end - days * MS_PER_DAY;
      const spans = this.spansBetween(inst, from, end, rth).filter((s) => s.start < end);
      if (spans.length >= count || this.#beforeHistory(inst, from) || days > 40_000)
        return spans.slice(-count);
    }
  }

  /** First bar start of the instrument's history for a useRTH flag. */
  headTimestamp(inst: SimInstrument, rth: boolean): number | undefined {
    const replay = this.#replays.get(inst.key);
    if (replay) {
      // The first recorded bar inside a served session.
      for (const t of replay.ts.slice(0, 10_000)) {
        if (this.#servingSpan(inst, t, rth)) return t;
      }
      return undefined;
    }
    const first = inst.calendar.nextSession(isoDay(parseIsoDate(inst.headDate) * MS_PER_DAY - MS_PER_DAY));
    const span = this.#span(inst, first, rth);
    return span?.start;
  }

  /** Bars whose start lies in [q.start, q.end), computed up to q.now. */
  bars(inst: SimInstrument, q: BarQuery): MarketBar[] {
    const end = Math.min(q.end, q.now);
    if (!(end > q.start)) return [];
    if (q.bar.kind === 'intraday') return this.#intradayBars(inst, q, end);
    const spans = this.spansBetween(inst, q.start, end, q.rth);
    if (q.bar.kind === 'day') {
      const out: MarketBar[] = [];
      for (const span of spans) {
        if (span.start < q.start || span.start >= end) continue;
        const bar = this.#aggregateCached(inst, span, span.start, span.end, q.series, q.now);
        if (bar) out.push({ ...bar, day: span.day });
      }
      return out;
    }
    return this.#calendarBars(inst, q, spans, end);
  }

  /**
   * The bar containing instant t (for keepUpToDate updates), computed from the base bars
   * completed by now. Undefined outside the served sessions.
   */
  barContaining(
    inst: SimInstrument,
    bar: BarSpec,
    t: number,
    series: PriceSeries,
    rth: boolean,
    now: number,
  ): MarketBar | undefined {
    const span = this.#servingSpan(inst, t, rth);
    if (!span) return undefined;
    if (bar.kind === 'intraday') {
      const b = bucketOf(span, bar.ms, t, inst.timeZoneId);
      return this.#aggregate(inst, span, b.from, b.to, series, now, b.label);
    }
    if (bar.kind === 'day') {
      const agg = this.#aggregate(inst, span, span.start, span.end, series, now, span.start);
      return agg ? { ...agg, day: span.day } : undefined;
    }
    // Weekly and monthly live bars: the calendar bar built from sessions up to now.
    const bars = this.#calendarBars(
      inst,
      { start: 0, end: now, bar, series, rth, now },
      this.spansBetween(inst, t - 40 * MS_PER_DAY, now, rth),
      now,
    );
    return bars[bars.length - 1];
  }

  /** The 5-second bar starting at t (real-time bars), if t is inside a served session and not in a break. */
  baseBar(inst: SimInstrument, t: number, series: PriceSeries, rth: boolean): MarketBar | undefined {
    const span = this.#servingSpan(inst, t, rth);
    if (!span) return undefined;
    const replay = this.#replays.get(inst.key);
    if (replay) {
      const piece = this.#replayPiece(inst, replay, t, BASE_BAR_MS, Number.MAX_SAFE_INTEGER);
      return piece ? this.#seriesBar(inst, piece, series) : undefined;
    }
    const path = this.#path(inst, span);
    const i = Math.round((t - span.pathStart) / BASE_BAR_MS);
    return this.#seriesBar(inst, this.#rawBase(inst, span, path, i), series);
  }

  /** The served span trading at t: none outside the sessions or in a break. */
  #servingSpan(inst: SimInstrument, t: number, rth: boolean): TradingSpan | undefined {
    return this.spansBetween(inst, t, t + 1, rth).find((s) => s.start <= t && t < s.end && !inBreak(s, t));
  }

  #intradayBars(inst: SimInstrument, q: BarQuery, end: number): MarketBar[] {
    const bar = q.bar as Extract<BarSpec, { kind: 'intraday' }>;
    const out: MarketBar[] = [];
    for (const span of this.spansBetween(inst, q.start, end, q.rth)) {
      if (bar.ms < BASE_BAR_MS && !this.#replays.has(inst.key)) {
        out.push(...this.#subBaseBars(inst, span, bar.ms, q.start, end, q.series, q.now));
        continue;
      }
      let b = bucketOf(span, bar.ms, Math.max(span.start, q.start), inst.timeZoneId);
      if (b.label < q.start) b = bucketOf(span, bar.ms, b.to, inst.timeZoneId);
      while (b.label < end && b.label < span.end) {
        const agg = this.#aggregate(inst, span, b.from, b.to, q.series, q.now, b.label);
        if (agg) out.push(agg);
        if (b.to >= span.end) break;
        b = bucketOf(span, bar.ms, b.to, inst.timeZoneId);
      }
    }
    return out;
  }

  #calendarBars(inst: SimInstrument, q: BarQuery, spans: readonly TradingSpan[], end: number): MarketBar[] {
    const groups = new Map<number, TradingSpan[]>();
    for (const span of spans) {
      const key = q.bar.kind === 'week' ? span.day - ((((span.day + 3) % 7) + 7) % 7) : monthKey(span.day);
      const list = groups.get(key) ?? [];
      list.push(span);
      groups.set(key, list);
    }
    const out: MarketBar[] = [];
    for (const list of groups.values()) {
      const first = list[0] as TradingSpan;
      if (first.start < q.start || first.start >= end) continue;
      let acc: MarketBar | undefined;
      for (const span of list) {
        const day = this.#aggregateCached(inst, span, span.start, span.end, q.series, q.now);
        if (day) acc = acc ? combine(acc, day) : { ...day };
      }
      if (acc) out.push({ ...finishWap(acc, inst.minTick), ts: first.start, day: first.day });
    }
    return out;
  }

  #subBaseBars(
    inst: SimInstrument,
    span: TradingSpan,
    ms: number,
    start: number,
    end: number,
    series: PriceSeries,
    now: number,
  ): MarketBar[] {
    const path = this.#path(inst, span);
    const out: MarketBar[] = [];
    const parts = BASE_BAR_MS / ms;
    const from = Math.max(span.start, Math.ceil(start / BASE_BAR_MS) * BASE_BAR_MS - BASE_BAR_MS);
    for (let t = from; t < Math.min(end, span.end); t += BASE_BAR_MS) {
      if (inBreak(span, t)) continue;
      const i = Math.round((t - span.pathStart) / BASE_BAR_MS);
      const base = this.#seriesBar(inst, this.#rawBase(inst, span, path, i), series);
      const subs = splitBar(base, parts, inst.minTick, hashU(inst.seed, STREAM_SPLIT, span.day, i));
      subs.forEach((s, k) => {
        const ts = t + k * ms;
        if (ts >= start && ts < end && ts + ms <= now) out.push({ ...s, ts });
      });
    }
    return out;
  }

  #aggregateCached(
    inst: SimInstrument,
    span: TradingSpan,
    from: number,
    to: number,
    series: PriceSeries,
    now: number,
  ): MarketBar | undefined {
    if (to > now) return this.#aggregate(inst, span, from, to, series, now, from);
    const key = `${inst.key}|${span.day}|${from}|${to}|${series}`;
    const hit = this.#aggregates.get(key);
    if (hit) return hit;
    const agg = this.#aggregate(inst, span, from, to, series, now, from);
    if (agg) {
      if (this.#aggregates.size >= AGG_CACHE_SIZE)
        this.#aggregates.delete(this.#aggregates.keys().next().value as string);
      this.#aggregates.set(key, agg);
    }
    return agg;
  }

  /** Aggregate of the base bars in [from, to) ∩ path that completed by now. */
  #aggregate(
    inst: SimInstrument,
    span: TradingSpan,
    from: number,
    to: number,
    series: PriceSeries,
    now: number,
    label: number,
  ): MarketBar | undefined {
    const replay = this.#replays.get(inst.key);
    if (replay) return this.#aggregateReplay(inst, span, replay, from, to, series, now, label);
    const path = this.#path(inst, span);
    const first = Math.max(0, Math.ceil((Math.max(from, span.pathStart) - span.pathStart) / BASE_BAR_MS));
    const lastExclusive = Math.min(
      path.length - 1,
      Math.floor((Math.min(to, span.pathEnd) - span.pathStart) / BASE_BAR_MS),
    );
    // Hot loop (a year of daily bars is a million base bars): accumulate in locals, no allocation.
    const b = this.#scratch;
    let n = 0;
    let open = 0;
    let high = Number.NEGATIVE_INFINITY;
    let low = Number.POSITIVE_INFINITY;
    let close = 0;
    let volume = 0;
    let count = 0;
    let wapSum = 0;
    const hasBreaks = span.breaks.length > 0;
    for (let i = first; i < lastExclusive; i++) {
      if (span.pathStart + (i + 1) * BASE_BAR_MS > now) break;
      if (hasBreaks && inBreak(span, span.pathStart + i * BASE_BAR_MS)) continue;
      this.#fillBase(inst, span, path, i, b);
      if (n === 0) open = b.open;
      if (b.high > high) high = b.high;
      if (b.low < low) low = b.low;
      close = b.close;
      volume += b.volume;
      count += b.count;
      wapSum += b.wap * b.volume;
      n++;
    }
    if (n === 0) return undefined;
    const wap = volume > 0 ? roundTo(wapSum / volume, decimalsOf(inst.minTick) + 2) : close;
    // Quote series are constant shifts of the traded path, so shifting the aggregate equals
    // aggregating shifted base bars.
    return this.#seriesBar(inst, { ts: label, open, high, low, close, volume, wap, count }, series);
  }

  /**
   * Aggregate of the recorded bars starting in [from, to) outside the span's breaks; a bucket
   * shorter than a recorded bar is a split piece of it.
   */
  #aggregateReplay(
    inst: SimInstrument,
    span: TradingSpan,
    r: ReplaySeries,
    from: number,
    to: number,
    series: PriceSeries,
    now: number,
    label: number,
  ): MarketBar | undefined {
    if (to - from < r.intervalMs) {
      if (inBreak(span, from)) return undefined;
      const piece = this.#replayPiece(inst, r, from, to - from, now);
      return piece ? this.#seriesBar(inst, { ...piece, ts: label }, series) : undefined;
    }
    let acc: MarketBar | undefined;
    for (let i = lowerBound(r.ts, from); i < r.ts.length && (r.ts[i] as number) < to; i++) {
      if ((r.ts[i] as number) + r.intervalMs > now) break;
      if (inBreak(span, r.ts[i] as number)) continue;
      const b = replayBar(r, i);
      acc = acc ? combine(acc, b) : b;
    }
    return acc ? this.#seriesBar(inst, { ...finishWap(acc, inst.minTick), ts: label }, series) : undefined;
  }

  /** The piece of length pieceMs starting at t of the recorded bar containing t (even split). */
  #replayPiece(
    inst: SimInstrument,
    r: ReplaySeries,
    t: number,
    pieceMs: number,
    now: number,
  ): MarketBar | undefined {
    const j = lowerBound(r.ts, t + 1) - 1;
    if (j < 0) return undefined;
    const start = r.ts[j] as number;
    if (t >= start + r.intervalMs || t + pieceMs > now) return undefined;
    const parts = Math.max(1, Math.round(r.intervalMs / pieceMs));
    const k = Math.min(parts - 1, Math.floor((t - start) / pieceMs));
    const pieces = splitBar(replayBar(r, j), parts, inst.minTick, hashU(inst.seed, STREAM_SPLIT, j, 0));
    return { ...(pieces[k] as MarketBar), ts: t };
  }

  #seriesBar(inst: SimInstrument, b: MarketBar, series: PriceSeries): MarketBar {
    const tick = inst.minTick;
    switch (series) {
      case 'TRADES':
      case 'ADJUSTED_LAST':
        return b;
      case 'MIDPOINT':
        return { ...b, volume: -1, wap: -1, count: -1 };
      case 'BID':
        return shift(b, -tick, tick);
      case 'ASK':
        return shift(b, tick, tick);
      case 'BID_ASK':
        // IB: open = average bid, high = max ask, low = min bid, close = average ask.
        return {
          ts: b.ts,
          open: roundTick(b.open - tick, tick),
          high: roundTick(b.high + tick, tick),
          low: roundTick(b.low - tick, tick),
          close: roundTick(b.close + tick, tick),
          volume: -1,
          wap: -1,
          count: -1,
        };
    }
  }

  /** Base bar i of a span's path: TRADES values, prices on the tick grid. */
  #rawBase(inst: SimInstrument, span: TradingSpan, path: Float64Array, i: number): MarketBar {
    const out: MarketBar = { ts: 0, open: 0, high: 0, low: 0, close: 0, volume: 0, wap: 0, count: 0 };
    this.#fillBase(inst, span, path, i, out);
    return out;
  }

  #fillBase(inst: SimInstrument, span: TradingSpan, path: Float64Array, i: number, out: MarketBar): void {
    const tick = inst.minTick;
    const sigma = stepSigma(inst, path.length - 1);
    const open = roundTick(path[i] as number, tick);
    const close = roundTick(path[i + 1] as number, tick);
    // Wicks beyond the open/close, up to about one step's standard deviation.
    const up = hashU(inst.seed, STREAM_HIGH, span.day, i) * sigma;
    const down = hashU(inst.seed, STREAM_LOW, span.day, i) * sigma;
    const high = Math.max(open, close, roundTick(Math.max(open, close) * (1 + up), tick));
    const low = Math.min(open, close, roundTick(Math.min(open, close) * (1 - down), tick));
    const t = span.pathStart + i * BASE_BAR_MS;
    let volume = 0;
    let count = 0;
    if (inst.hasTrades && inst.avgVolumePerMinute > 0) {
      const inRth = t >= span.rthStart && t < span.rthEnd;
      const x = inRth ? (t - span.rthStart) / Math.max(1, span.rthEnd - span.rthStart) : 0;
      // Busy open and close, quiet lunch; a trickle outside regular hours.
      const shape = inRth ? 0.6 + 1.6 * (2 * x - 1) ** 2 : 0.08;
      const u = hashU(inst.seed, STREAM_VOLUME, span.day, i);
      volume = Math.floor((inst.avgVolumePerMinute / 12) * shape * (0.2 + 1.6 * u));
      count = volume === 0 ? 0 : Math.max(1, Math.round(volume / 60));
    }
    out.ts = t;
    out.open = open;
    out.high = high;
    out.low = low;
    out.close = close;
    out.volume = volume;
    out.count = count;
    out.wap = volume > 0 ? (high + low + close) / 3 : close;
  }

  #span(inst: SimInstrument, s: Session, rth: boolean): TradingSpan | undefined {
    if (s.date < inst.headDate) return undefined;
    if (inst.lastTradeDate !== '' && s.date.replaceAll('-', '') > inst.lastTradeDate) return undefined;
    const pathStart = s.open - inst.preMarketMinutes * 60_000;
    const pathEnd = s.close + inst.postMarketMinutes * 60_000;
    return {
      date: s.date,
      day: parseIsoDate(s.date),
      start: rth ? s.open : pathStart,
      end: rth ? s.close : pathEnd,
      pathStart,
      pathEnd,
      rthStart: s.open,
      rthEnd: s.close,
      breaks: s.breaks ?? [],
    };
  }

  #beforeHistory(inst: SimInstrument, instant: number): boolean {
    return instant < parseIsoDate(inst.headDate) * MS_PER_DAY - 7 * MS_PER_DAY;
  }

  /** Prices at the base-bar boundaries of a span (length = steps + 1), before tick rounding. */
  #path(inst: SimInstrument, span: TradingSpan): Float64Array {
    const key = `${inst.key}|${inst.seed}|${span.day}`;
    const hit = this.#paths.get(key);
    if (hit) {
      // Refresh recency: Map iteration order is insertion order.
      this.#paths.delete(key);
      this.#paths.set(key, hit);
      return hit;
    }
    const steps = Math.round((span.pathEnd - span.pathStart) / BASE_BAR_MS);
    const a0 = this.#anchor(inst, span.day);
    const a1 = this.#anchor(inst, span.day + 1);
    const sigma = stepSigma(inst, steps);
    const w = new Float64Array(steps + 1);
    for (let i = 1; i <= steps; i++)
      w[i] = (w[i - 1] as number) + sigma * gauss(inst.seed, STREAM_STEP, span.day, i);
    const wEnd = w[steps] as number;
    const path = new Float64Array(steps + 1);
    for (let i = 0; i <= steps; i++) {
      const f = i / steps;
      path[i] = Math.exp(a0 + (w[i] as number) - f * wEnd + f * (a1 - a0));
    }
    this.#instrumentsSeen.add(inst.key);
    // Two session days per instrument stay cached (today's live stream plus a backfill page).
    if (this.#paths.size >= Math.max(PATH_CACHE_MIN, 2 * this.#instrumentsSeen.size)) this.#paths.delete(this.#paths.keys().next().value as string);
    this.#paths.set(key, path);
    return path;
  }

  /** Log price anchor of a civil day: ln(start price) + a mean-reverting walk pinned at ANCHOR_DAY. */
  #anchor(inst: SimInstrument, day: number): number {
    let table = this.#anchors.get(inst.seed);
    if (!table) {
      table = new Float64Array(2 * ANCHOR_RANGE + 1);
      const sigma = inst.volatility / Math.sqrt(365);
      for (let k = 1; k <= ANCHOR_RANGE; k++) {
        table[ANCHOR_RANGE + k] =
          ANCHOR_PHI * (table[ANCHOR_RANGE + k - 1] as number) +
          sigma * gauss(inst.seed, STREAM_ANCHOR_FWD, k, 0);
        table[ANCHOR_RANGE - k] =
          ANCHOR_PHI * (table[ANCHOR_RANGE - k + 1] as number) +
          sigma * gauss(inst.seed, STREAM_ANCHOR_BACK, k, 0);
      }
      this.#anchors.set(inst.seed, table);
    }
    const idx = Math.max(0, Math.min(table.length - 1, day - ANCHOR_DAY + ANCHOR_RANGE));
    return Math.log(inst.startPrice) + (table[idx] as number);
  }
}

interface Bucket {
  readonly label: number;
  readonly from: number;
  readonly to: number;
}

/**
 * The bar bucket containing t: buckets are aligned on the local wall clock (an hourly bar of a
 * 09:30 open is 09:30–10:00, then 10:00–11:00) and clipped to the served span.
 */
function bucketOf(span: TradingSpan, ms: number, t: number, zone: string): Bucket {
  const offset = ms <= 3_600_000 && 3_600_000 % ms === 0 ? 0 : zoneOffsetMs(zone, span.start);
  const local = t + offset;
  const aligned = local - (((local % ms) + ms) % ms) - offset;
  const from = Math.max(aligned, span.start);
  return { label: from, from, to: Math.min(aligned + ms, span.end) };
}

function replayBar(r: ReplaySeries, i: number): MarketBar {
  return {
    ts: r.ts[i] as number,
    open: r.open[i] as number,
    high: r.high[i] as number,
    low: r.low[i] as number,
    close: r.close[i] as number,
    volume: r.volume[i] as number,
    wap: r.wap[i] as number,
    count: r.count[i] as number,
  };
}

function combine(acc: MarketBar, b: MarketBar): MarketBar {
  acc.high = Math.max(acc.high, b.high);
  acc.low = Math.min(acc.low, b.low);
  acc.close = b.close;
  if (acc.volume >= 0 && b.volume >= 0) {
    // wap stays the volume-weighted mean of the parts; finishWap only rounds it.
    const accSum = acc.volume > 0 ? acc.wap * acc.volume : 0;
    const bSum = b.volume > 0 ? b.wap * b.volume : 0;
    acc.volume += b.volume;
    acc.count += b.count;
    acc.wap = acc.volume > 0 ? (accSum + bSum) / acc.volume : b.close;
  }
  return acc;
}

function finishWap(b: MarketBar, tick: number): MarketBar {
  if (b.volume < 0) return b;
  return { ...b, wap: roundTo(b.volume > 0 ? b.wap : b.close, decimalsOf(tick) + 2) };
}

function shift(b: MarketBar, delta: number, tick: number): MarketBar {
  return {
    ts: b.ts,
    open: roundTick(b.open + delta, tick),
    high: roundTick(b.high + delta, tick),
    low: roundTick(b.low + delta, tick),
    close: roundTick(b.close + delta, tick),
    volume: -1,
    wap: -1,
    count: -1,
  };
}

/** Splits a base bar into `parts` sub-bars with the same open, close, extremes and volume. */
function splitBar(b: MarketBar, parts: number, tick: number, u: number): MarketBar[] {
  const out: MarketBar[] = [];
  let prev = b.open;
  for (let k = 0; k < parts; k++) {
    const close =
      k === parts - 1 ? b.close : roundTick(b.open + ((b.close - b.open) * (k + 1)) / parts, tick);
    const vol = b.volume < 0 ? -1 : Math.floor(b.volume / parts) + (k === parts - 1 ? b.volume % parts : 0);
    out.push({
      ts: b.ts,
      open: prev,
      high: Math.max(prev, close),
      low: Math.min(prev, close),
      close,
      volume: vol,
      wap: b.volume < 0 ? -1 : roundTo((prev + close) / 2, decimalsOf(tick) + 2),
      count: b.count < 0 ? -1 : Math.floor(b.count / parts) + (k === parts - 1 ? b.count % parts : 0),
    });
    prev = close;
  }
  // The base bar's extremes happen in some sub-bar.
  const hi = out[Math.floor(u * parts)] as MarketBar;
  hi.high = b.high;
  const lo = out[Math.floor(((u * 7919) % 1) * parts)] as MarketBar;
  lo.low = b.low;
  return out;
}

function stepSigma(inst: SimInstrument, steps: number): number {
  return inst.volatility / Math.sqrt(365) / Math.sqrt(Math.max(1, steps));
}

function isoDay(instant: number): string {
  return new Date(instant).toISOString().slice(0, 10);
}

function monthKey(day: number): number {
  const d = new Date(day * MS_PER_DAY);
  return d.getUTCFullYear() * 12 + d.getUTCMonth();
}

/** Decimal places of a tick size (0.01 → 2, 0.25 → 2, 0.00005 → 5). */
export function decimalsOf(tick: number): number {
  for (let d = 0; d < 10; d++) if (Math.abs(Math.round(tick * 10 ** d) - tick * 10 ** d) < 1e-9) return d;
  return 10;
}

export function roundTo(x: number, decimals: number): number {
  const scale = 10 ** decimals;
  return Math.round(x * scale) / scale;
}

/**
 * Nearest multiple of tick. Dividing an integer by the whole number 1/tick (100, 4, 20000)
 * yields the double nearest the decimal, so prices print as 216.15, never 216.15000000000003.
 */
export function roundTick(x: number, tick: number): number {
  const inv = Math.round(1 / tick);
  if (Math.abs(inv * tick - 1) < 1e-12) return Math.round(x * inv) / inv;
  return roundTo(Math.round(x / tick) * tick, decimalsOf(tick));
}

function mix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** Uniform in (0, 1) from four integers: the sim's only source of randomness. */
export function hashU(a: number, b: number, c: number, d: number): number {
  let h = mix32((a | 0) ^ 0x9e3779b9);
  h = mix32(h ^ Math.imul(b | 0, 0x27d4eb2d));
  h = mix32(h ^ Math.imul(c | 0, 0x165667b1));
  h = mix32(h ^ Math.imul(d | 0, 0x61c88647));
  return (h + 0.5) / 4_294_967_296;
}

/**
 * Approximately standard normal from one hash: the sum of its four bytes (Irwin–Hall, n = 4),
 * centred and scaled. Cheap enough for millions of path steps; tails are bounded at ±3.46.
 */
function gauss(seed: number, stream: number, x: number, y: number): number {
  const h = Math.floor(hashU(seed, stream, x, y) * 4_294_967_296);
  const sum = (h & 0xff) + ((h >>> 8) & 0xff) + ((h >>> 16) & 0xff) + (h >>> 24) + 2;
  return (sum / 257 - 2) * Math.sqrt(3);
}
