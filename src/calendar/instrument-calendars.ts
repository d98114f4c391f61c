import { InputError } from '../core/errors.js';
import type { TradingCalendar } from './trading-calendar.js';
import { getCalendar } from './calendar-registry.js';

export interface InstrumentCalendarEntry {
  readonly key: string;
  readonly calendar: string;
}

/**
 * Which calendar each configured instrument trades on. The raw store asks it for partition
 * dates; the gap engine, the DQ bar-count rule and the backfill planner for sessions.
 */
export class InstrumentCalendars {
  readonly #byKey = new Map<string, TradingCalendar>();
  readonly #memo = new Map<TradingCalendar, Map<number, string>>();

  constructor(instruments: readonly InstrumentCalendarEntry[], extraClosures: Readonly<Partial<Record<string, readonly string[]>>> = {}) {
    for (const inst of instruments) {
      const code = inst.calendar as 'XNYS' | 'CMES' | 'FX';
      this.#byKey.set(inst.key, getCalendar(code, { extraClosures: extraClosures[code] ?? [] }));
    }
  }

  has(symbol: string): boolean {
    return this.#byKey.has(symbol);
  }

  symbols(): string[] {
    return [...this.#byKey.keys()];
  }

  /** Throws InputError for a symbol that is not a configured instrument. */
  calendarFor(symbol: string): TradingCalendar {
    const cal = this.#byKey.get(symbol);
    if (!cal) throw new InputError(`unknown symbol ${JSON.stringify(symbol)}: not a configured instrument`, { details: { symbol } });
    return cal;
  }

  /**
   * Partition date of a bar. Memoised per calendar and UTC hour: day boundaries of the
   * supported exchanges fall on whole hours, and the raw write path calls this for every row.
   */
  sessionDateOf(symbol: string, ts: number): string {
    const cal = this.calendarFor(symbol);
    let memo = this.#memo.get(cal);
    if (!memo) this.#memo.set(cal, (memo = new Map()));
    const hour = Math.floor(ts / 3_600_000);
    let d = memo.get(hour);
    if (d === undefined) {
      d = cal.sessionDateOf(ts);
      const alt = cal.sessionDateOf(hour * 3_600_000 + 3_599_999);
      // Only memoise hours that do not straddle a boundary (defensive for odd zones).
      if (alt === cal.sessionDateOf(hour * 3_600_000)) memo.set(hour, d);
    }
    return d;
  }
}
