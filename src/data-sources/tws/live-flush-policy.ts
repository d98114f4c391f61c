import type { TradingCalendar } from '../../calendar/trading-calendar.js';

/** What the flush policy needs to know about one live stream. */
export interface StreamProgress {
  /** Start of the last bar the stream passed on as final, if any. */
  readonly lastFinalTs: number | undefined;
  readonly calendar: Pick<TradingCalendar, 'isOpen'>;
}

/**
 * True when no live stream still owes bar `barStart`: every stream that was current through the
 * bar before it (and whose calendar trades at `barStart`) has passed `barStart` on as final. A
 * stream further behind (silent, broken, in a gap, just subscribed) is not waited for: its bars
 * come through the repair path and the flush's maximum wait. Pure.
 *
 * The live flush commits as soon as this holds for the newest final bar, so a minute's bars are
 * committed the moment the last of them is final (the next bar's first update), not on the
 * next tick of a fixed interval; a bar is still never passed on before it is final.
 */
export function barFinalEverywhere(
  barStart: number,
  barMs: number,
  streams: Iterable<StreamProgress>,
): boolean {
  for (const s of streams) {
    const last = s.lastFinalTs;
    if (last === undefined || last >= barStart || last < barStart - barMs) continue;
    if (s.calendar.isOpen(barStart)) return false;
  }
  return true;
}
