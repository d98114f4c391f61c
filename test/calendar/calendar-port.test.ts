import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { getCalendar } from '../../src/calendar/calendar-registry.js';
import { InputError } from '../../src/core/errors.js';

const at = (iso: string): number => Date.parse(iso);
const instants = fc.integer({ min: at('1990-01-01T00:00:00Z'), max: at('2035-12-31T00:00:00Z') });

// One formatter per zone: building an Intl.DateTimeFormat costs far more than using one.
const formatters = new Map<string, Intl.DateTimeFormat>();
function wallParts(zone: string, instant: number): Record<string, string> {
  let f = formatters.get(zone);
  if (!f) {
    f = new Intl.DateTimeFormat('en-US', { timeZone: zone, hourCycle: 'h23', year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit' });
    formatters.set(zone, f);
  }
  return Object.fromEntries(f.formatToParts(instant).map((p) => [p.type, p.value]));
}

/** Local wall-clock date (YYYY-MM-DD) of an instant, shifted by `hours` on the wall clock. */
function wallDate(zone: string, instant: number, hours = 0): string {
  const parts = wallParts(zone, instant);
  const wall = Date.UTC(Number(parts['year']), Number(parts['month']) - 1, Number(parts['day']), Number(parts['hour']) + hours);
  return new Date(wall).toISOString().slice(0, 10);
}

/** Local wall-clock hour (0-23) of an instant. */
function wallHour(zone: string, instant: number): number {
  return Number(wallParts(zone, instant)['hour']);
}

describe('TradingCalendar port', () => {
  it('sessionDateOf is total and follows the day boundary: local midnight (XNYS), 17:00 local (CMES, FX)', () => {
    // The last column is the local hour of a daily halt inside sessions (CME Globex 16:00-17:00).
    const cases = [
      ['XNYS', 'America/New_York', 0, null],
      ['CMES', 'America/Chicago', 7, 16],
      ['FX', 'America/New_York', 7, null],
    ] as const;
    for (const [code, zone, shift, haltHour] of cases) {
      const cal = getCalendar(code);
      fc.assert(
        fc.property(instants, (t) => {
          const date = cal.sessionDateOf(t);
          expect(date).toBe(wallDate(zone, t, shift));
          const s = cal.sessionAt(t);
          expect(cal.isOpen(t)).toBe(s !== undefined && wallHour(zone, t) !== haltHour);
          if (s) {
            expect(s.date).toBe(date);
            expect(s.open <= t && t < s.close).toBe(true);
          } else {
            const own = cal.session(date);
            if (own) expect(t < own.open || t >= own.close).toBe(true);
          }
        }),
        { numRuns: 1000 },
      );
    }
  });

  it('XNYS: open/closed at the edges of a session', () => {
    const xnys = getCalendar('XNYS');
    expect(xnys.isOpen(at('2024-11-29T14:29:59.999Z'))).toBe(false);
    expect(xnys.isOpen(at('2024-11-29T14:30:00Z'))).toBe(true);
    expect(xnys.isOpen(at('2024-11-29T17:59:59.999Z'))).toBe(true);
    expect(xnys.isOpen(at('2024-11-29T18:00:00Z'))).toBe(false); // 13:00 early close
    expect(xnys.sessionDateOf(at('2024-11-29T04:59:59Z'))).toBe('2024-11-28'); // 23:59:59 EST on Thanksgiving
    expect(xnys.sessionDateOf(at('2024-11-29T05:00:00Z'))).toBe('2024-11-29');
  });

  it('next/previous session skip weekends, holidays and the date itself', () => {
    const xnys = getCalendar('XNYS');
    expect(xnys.nextSession('2024-11-27').date).toBe('2024-11-29');
    expect(xnys.nextSession('2024-11-28').date).toBe('2024-11-29');
    expect(xnys.previousSession('2024-12-02').date).toBe('2024-11-29');
    expect(xnys.previousSession('2024-12-01').date).toBe('2024-11-29');
    expect(xnys.nextSession('2001-09-10').date).toBe('2001-09-17');
  });

  it('sessionsInRange is inclusive, ascending, empty for an inverted range, and spans years', () => {
    const xnys = getCalendar('XNYS');
    const r = xnys.sessionsInRange('2024-12-31', '2025-01-03');
    expect(r.map((s) => s.date)).toEqual(['2024-12-31', '2025-01-02', '2025-01-03']);
    expect(xnys.sessionsInRange('2025-01-03', '2024-12-31')).toEqual([]);
    expect(Object.isFrozen(r[0])).toBe(true);
  });

  it('35 years of sessions are built once per year and served again from the cache', () => {
    const cal = getCalendar('CMES', { extraClosures: ['2099-01-05'] }); // a fresh instance: nothing cached yet
    const all = cal.sessionsInRange('1990-01-01', '2024-12-31');
    const again = cal.sessionsInRange('1990-01-01', '2024-12-31');
    expect(all.length).toBeGreaterThan(8700);
    // The same frozen session objects: the second range was read from the year tables, not rebuilt.
    // (How fast either is belongs to a benchmark, not to a test that a busy machine would fail.)
    expect(again).toHaveLength(all.length);
    expect(again.every((s, i) => s === all[i])).toBe(true);
  });

  it('rejects malformed input with InputError', () => {
    const xnys = getCalendar('XNYS');
    expect(() => xnys.sessionsInRange('2024-01-01', '2024-13-01')).toThrow(InputError);
    expect(() => xnys.session('20240101')).toThrow(InputError);
    expect(() => xnys.sessionDateOf(Number.NaN)).toThrow(InputError);
    expect(() => getCalendar('XLON' as 'XNYS')).toThrow(InputError);
    expect(() => getCalendar('XNYS', { extraClosures: ['2024-02-30'] })).toThrow(InputError);
  });
});

describe('calendar registry', () => {
  it('shares instances per code and set of extra closures', () => {
    expect(getCalendar('XNYS')).toBe(getCalendar('XNYS', { extraClosures: [] }));
    const a = getCalendar('XNYS', { extraClosures: ['2024-11-26', '2024-11-25'] });
    expect(getCalendar('XNYS', { extraClosures: ['2024-11-25', '2024-11-26', '2024-11-25'] })).toBe(a);
    expect(a).not.toBe(getCalendar('XNYS'));
    expect(getCalendar('CMES')).not.toBe(getCalendar('XNYS'));
  });

  it('extra closures remove sessions on top of the rules', () => {
    const xnys = getCalendar('XNYS', { extraClosures: ['2030-06-03'] });
    expect(xnys.session('2030-06-03')).toBeUndefined();
    expect(getCalendar('XNYS').session('2030-06-03')?.date).toBe('2030-06-03');
    expect(xnys.previousSession('2030-06-04').date).toBe('2030-05-31');
    const cmes = getCalendar('CMES', { extraClosures: ['2030-06-04'] });
    expect(cmes.session('2030-06-04')).toBeUndefined();
    // The next session still opens 17:00 Chicago the evening before its date.
    expect(cmes.session('2030-06-05')?.open).toBe(at('2030-06-04T22:00:00Z'));
    expect(cmes.isOpen(at('2030-06-04T15:00:00Z'))).toBe(false);
  });

  it('name and timezone', () => {
    expect([getCalendar('XNYS').name, getCalendar('XNYS').timezone]).toEqual(['XNYS', 'America/New_York']);
    expect([getCalendar('CMES').name, getCalendar('CMES').timezone]).toEqual(['CMES', 'America/Chicago']);
    expect([getCalendar('FX').name, getCalendar('FX').timezone]).toEqual(['FX', 'America/New_York']);
  });
});
