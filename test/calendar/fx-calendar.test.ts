import { describe, expect, it } from 'vitest';
import { getCalendar } from '../../src/calendar/calendar-registry.js';

/**
 * FX 24x5 from its definition: the week runs Sunday 17:00 → Friday 17:00 New York; one session
 * per weekday, labelled by the weekday it ends on, from 17:00 the day before to 17:00 that day.
 * New York is UTC-5 (EST) / UTC-4 (EDT), so 17:00 is 22:00Z or 21:00Z.
 */
const fx = getCalendar('FX');
const at = (iso: string): number => Date.parse(iso);

describe('FX sessions', () => {
  it('five sessions a week covering Sunday 17:00 to Friday 17:00 without a gap', () => {
    const week = fx.sessionsInRange('2024-06-08', '2024-06-16'); // Saturday to Sunday
    expect(week.map((s) => s.date)).toEqual([
      '2024-06-10',
      '2024-06-11',
      '2024-06-12',
      '2024-06-13',
      '2024-06-14',
    ]);
    expect(week[0]?.open).toBe(at('2024-06-09T21:00:00Z'));
    expect(week.at(-1)?.close).toBe(at('2024-06-14T21:00:00Z'));
    week.forEach((s, i) => {
      expect(s.close - s.open).toBe(86_400_000);
      if (i > 0) expect(s.open).toBe(week[i - 1]?.close);
    });
  });

  it('trades through US holidays (no holiday rules)', () => {
    for (const d of ['2024-12-25', '2025-01-01', '2024-11-28', '2025-07-04'])
      expect(fx.session(d)?.date).toBe(d);
  });

  it('is shut over the weekend and labels weekend instants by the 17:00 boundary', () => {
    expect(fx.isOpen(at('2024-06-14T20:59:59Z'))).toBe(true); // Friday 16:59:59 EDT
    expect(fx.isOpen(at('2024-06-14T21:00:00Z'))).toBe(false); // Friday 17:00: weekend
    expect(fx.sessionDateOf(at('2024-06-14T21:00:00Z'))).toBe('2024-06-15');
    expect(fx.sessionDateOf(at('2024-06-15T16:00:00Z'))).toBe('2024-06-15');
    expect(fx.sessionDateOf(at('2024-06-16T20:59:59Z'))).toBe('2024-06-16'); // Sunday 16:59:59
    expect(fx.isOpen(at('2024-06-16T20:59:59Z'))).toBe(false);
    expect(fx.sessionAt(at('2024-06-16T21:00:00Z'))?.date).toBe('2024-06-17'); // Sunday 17:00 → Monday
  });

  it('follows New York daylight saving: 22:00Z in winter, 21:00Z in summer', () => {
    // Clocks go forward Sunday 2024-03-10 02:00, before that day's 17:00 open.
    expect(fx.session('2024-03-08')).toEqual({
      date: '2024-03-08',
      open: at('2024-03-07T22:00:00Z'),
      close: at('2024-03-08T22:00:00Z'),
    });
    expect(fx.session('2024-03-11')).toEqual({
      date: '2024-03-11',
      open: at('2024-03-10T21:00:00Z'),
      close: at('2024-03-11T21:00:00Z'),
    });
    expect(fx.expectedBarStarts(fx.session('2024-03-11')!, 60_000)).toHaveLength(1440);
  });

  it('honours extra closures from config', () => {
    const closed = getCalendar('FX', { extraClosures: ['2024-12-25'] });
    expect(closed.session('2024-12-25')).toBeUndefined();
    expect(closed.nextSession('2024-12-24').date).toBe('2024-12-26');
    expect(closed.session('2024-12-26')?.open).toBe(at('2024-12-25T22:00:00Z'));
    expect(fx.session('2024-12-25')).toBeDefined();
  });
});
