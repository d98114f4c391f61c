import type { TradingCalendar } from './trading-calendar.js';

/**
 * The bar starts the calendar expects in [from, to), across sessions: closed days, the time
 * between sessions and breaks (the CME halt) hold none. Small ranges only (a live gap, a repair).
 */
export function expectedBarStartsIn(calendar: TradingCalendar, from: number, to: number, frequencyMs: number): number[] {
  if (!(to > from)) return [];
  const out: number[] = [];
  for (const session of calendar.sessionsInRange(calendar.sessionDateOf(from), calendar.sessionDateOf(to - 1))) {
    if (session.close <= from || session.open >= to) continue;
    for (const t of calendar.expectedBarStarts(session, frequencyMs)) if (t >= from && t < to) out.push(t);
  }
  return out;
}
