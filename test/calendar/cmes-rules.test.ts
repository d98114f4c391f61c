import { describe, expect, it } from 'vitest';
import { getCalendar } from '../../src/calendar/calendar-registry.js';

/**
 * CME Globex equity futures after the reference table ends (2027-07-16), written from the
 * rules the table follows: a session labelled D runs 17:00 Chicago on D-1 → 17:00 on D; closed
 * on New Year's Day, Good Friday and Christmas (observed); 12:00 close on the other US
 * holidays, the day after Thanksgiving and Christmas Eve. Chicago is UTC-6 (CST) / UTC-5 (CDT).
 * Globex halts daily 16:00-17:00 Chicago: a break at the end of every 17:00-close session.
 */
const cmes = getCalendar('CMES');
const at = (iso: string): number => Date.parse(iso);
const MIN = 60_000;

describe('CMES holiday rules after the table', () => {
  it('closed days: Christmas 2027 on a Saturday closes Friday 2027-12-24; Good Friday 2028-04-14; Christmas 2028-12-25', () => {
    expect(cmes.session('2027-12-24')).toBeUndefined();
    expect(cmes.session('2028-04-14')).toBeUndefined(); // Easter 2028 is April 16
    expect(cmes.session('2028-12-25')).toBeUndefined();
    // The Monday after Good Friday still opens Sunday evening.
    expect(cmes.session('2028-04-17')?.open).toBe(at('2028-04-16T22:00:00Z'));
  });

  it('a Saturday New Year (2028-01-01) is not observed: Friday 2027-12-31 is a full session', () => {
    expect(cmes.session('2027-12-31')).toEqual({
      date: '2027-12-31',
      open: at('2027-12-30T23:00:00Z'),
      close: at('2027-12-31T23:00:00Z'),
      breaks: [{ start: at('2027-12-31T22:00:00Z'), end: at('2027-12-31T23:00:00Z') }],
    });
    expect(cmes.nextSession('2027-12-31').date).toBe('2028-01-03');
  });

  it('12:00 Chicago closes on US holidays and around Thanksgiving', () => {
    const noon = (date: string, utcNoon: string): void => {
      expect(cmes.session(date)?.close, date).toBe(at(`${date}T${utcNoon}Z`));
    };
    noon('2027-09-06', '17:00:00'); // Labor Day (CDT)
    noon('2027-11-25', '18:00:00'); // Thanksgiving (CST)
    noon('2027-11-26', '18:00:00'); // day after Thanksgiving
    noon('2028-01-17', '18:00:00'); // Martin Luther King Jr. Day
    noon('2028-02-21', '18:00:00'); // Washington's Birthday
    noon('2028-05-29', '17:00:00'); // Memorial Day
    noon('2028-06-19', '17:00:00'); // Juneteenth (a Monday)
    noon('2028-07-04', '17:00:00'); // Independence Day (a Tuesday)
    expect(cmes.session('2027-11-24')?.close).toBe(at('2027-11-24T23:00:00Z'));
  });

  it('sessions are back to back within a week, Sunday evening to Friday 17:00', () => {
    const week = cmes.sessionsInRange('2028-03-06', '2028-03-10');
    expect(week.map((s) => s.date)).toEqual([
      '2028-03-06',
      '2028-03-07',
      '2028-03-08',
      '2028-03-09',
      '2028-03-10',
    ]);
    expect(week[0]?.open).toBe(at('2028-03-05T23:00:00Z')); // Sunday 17:00 CST
    week.forEach((s, i) => {
      if (i > 0) expect(s.open).toBe(week[i - 1]?.close);
    });
  });
});

describe('CMES across daylight-saving changes', () => {
  it('week of 2028-03-12 (clocks forward at 02:00 Sunday, before the 17:00 open)', () => {
    expect(cmes.session('2028-03-10')).toEqual({
      date: '2028-03-10',
      open: at('2028-03-09T23:00:00Z'),
      close: at('2028-03-10T23:00:00Z'),
      breaks: [{ start: at('2028-03-10T22:00:00Z'), end: at('2028-03-10T23:00:00Z') }], // 16:00 CST
    });
    expect(cmes.session('2028-03-13')).toEqual({
      date: '2028-03-13',
      open: at('2028-03-12T22:00:00Z'),
      close: at('2028-03-13T22:00:00Z'),
      breaks: [{ start: at('2028-03-13T21:00:00Z'), end: at('2028-03-13T22:00:00Z') }], // 16:00 CDT
    });
  });

  it('1380 one-minute bars on a regular day (24 h less the halt), 1140 on a 12:00 close that opened 17:00 the day before', () => {
    expect(cmes.expectedBarStarts(cmes.session('2024-11-26')!, MIN)).toHaveLength(23 * 60);
    const friday = cmes.expectedBarStarts(cmes.session('2024-11-29')!, MIN);
    expect(friday).toHaveLength(19 * 60);
    expect([friday[0], friday.at(-1)]).toEqual([at('2024-11-28T23:00:00Z'), at('2024-11-29T17:59:00Z')]);
  });
});

describe('CMES daily maintenance halt (16:00-17:00 Chicago)', () => {
  // Every minute from the open for 23 hours: the halt is the session's last hour.
  const minutes = (fromIso: string, n: number): number[] => Array.from({ length: n }, (_, i) => at(fromIso) + i * MIN);

  it('winter (CST, UTC-6): 2024-11-26 trades 2024-11-25T23:00Z-2024-11-26T22:00Z; no bar starts in [22:00Z, 23:00Z)', () => {
    const s = cmes.session('2024-11-26')!;
    expect([s.open, s.close]).toEqual([at('2024-11-25T23:00:00Z'), at('2024-11-26T23:00:00Z')]); // the table's bounds stay
    expect(s.breaks).toEqual([{ start: at('2024-11-26T22:00:00Z'), end: at('2024-11-26T23:00:00Z') }]);
    const starts = cmes.expectedBarStarts(s, MIN);
    expect(starts).toEqual(minutes('2024-11-25T23:00:00Z', 1380));
    expect(starts.at(-1)).toBe(at('2024-11-26T21:59:00Z'));
    expect(starts.filter((t) => t >= at('2024-11-26T22:00:00Z') && t < at('2024-11-26T23:00:00Z'))).toEqual([]);
  });

  it('summer (CDT, UTC-5): 2024-07-16 trades 2024-07-15T22:00Z-2024-07-16T21:00Z; no bar starts in [21:00Z, 22:00Z)', () => {
    const s = cmes.session('2024-07-16')!;
    expect([s.open, s.close]).toEqual([at('2024-07-15T22:00:00Z'), at('2024-07-16T22:00:00Z')]);
    expect(s.breaks).toEqual([{ start: at('2024-07-16T21:00:00Z'), end: at('2024-07-16T22:00:00Z') }]);
    const starts = cmes.expectedBarStarts(s, MIN);
    expect(starts).toEqual(minutes('2024-07-15T22:00:00Z', 1380));
    expect(starts.filter((t) => t >= at('2024-07-16T21:00:00Z') && t < at('2024-07-16T22:00:00Z'))).toEqual([]);
  });

  it('other frequencies: 276 five-minute and 23 hourly bars; a 4-hour bar starting 13:00 runs into the halt and is kept', () => {
    const s = cmes.session('2024-11-26')!;
    expect(cmes.expectedBarStarts(s, 5 * MIN)).toHaveLength(276);
    expect(cmes.expectedBarStarts(s, 60 * MIN)).toHaveLength(23);
    // 17:00, 21:00, 01:00, 05:00, 09:00, 13:00 CST.
    expect(cmes.expectedBarStarts(s, 240 * MIN)).toEqual(
      ['2024-11-25T23:00', '2024-11-26T03:00', '2024-11-26T07:00', '2024-11-26T11:00', '2024-11-26T15:00', '2024-11-26T19:00'].map((d) => at(`${d}:00Z`)),
    );
  });

  it('isOpen is false in the halt, which still belongs to its session for sessionAt and partitioning', () => {
    // Winter, Tuesday 2024-11-26: halt 22:00Z-23:00Z, then Wednesday's session.
    expect(cmes.isOpen(at('2024-11-26T21:59:59.999Z'))).toBe(true);
    for (const iso of ['2024-11-26T22:00:00Z', '2024-11-26T22:30:00Z', '2024-11-26T22:59:59.999Z']) {
      expect(cmes.isOpen(at(iso)), iso).toBe(false);
      expect(cmes.sessionAt(at(iso))?.date, iso).toBe('2024-11-26');
      expect(cmes.sessionDateOf(at(iso)), iso).toBe('2024-11-26');
    }
    expect(cmes.isOpen(at('2024-11-26T23:00:00Z'))).toBe(true);
    expect(cmes.sessionAt(at('2024-11-26T23:00:00Z'))?.date).toBe('2024-11-27');
    // Summer, Tuesday 2024-07-16: halt 21:00Z-22:00Z.
    expect(cmes.isOpen(at('2024-07-16T20:59:59.999Z'))).toBe(true);
    expect(cmes.isOpen(at('2024-07-16T21:00:00Z'))).toBe(false);
    expect(cmes.sessionDateOf(at('2024-07-16T21:30:00Z'))).toBe('2024-07-16');
    expect(cmes.isOpen(at('2024-07-16T22:00:00Z'))).toBe(true);
    // Friday 2024-11-22: the halt hour, then the weekend.
    expect(cmes.isOpen(at('2024-11-22T22:30:00Z'))).toBe(false);
    expect(cmes.sessionAt(at('2024-11-22T22:30:00Z'))?.date).toBe('2024-11-22');
    expect(cmes.isOpen(at('2024-11-22T23:30:00Z'))).toBe(false);
  });

  it('a 12:00 early close ends before the halt: no break, open until 12:00', () => {
    const s = cmes.session('2024-11-29')!;
    expect(s.breaks).toBeUndefined();
    expect(cmes.isOpen(at('2024-11-29T17:59:59.999Z'))).toBe(true);
    expect(cmes.isOpen(at('2024-11-29T18:00:00Z'))).toBe(false);
  });

  it('XNYS and FX sessions have no breaks', () => {
    expect(getCalendar('XNYS').session('2024-11-26')).toEqual({ date: '2024-11-26', open: at('2024-11-26T14:30:00Z'), close: at('2024-11-26T21:00:00Z') });
    expect(getCalendar('FX').session('2024-11-26')).toEqual({ date: '2024-11-26', open: at('2024-11-25T22:00:00Z'), close: at('2024-11-26T22:00:00Z') });
    expect('breaks' in getCalendar('FX').session('2024-11-26')!).toBe(false);
  });
});

describe('CMES trading day of an instant (17:00 Chicago boundary)', () => {
  it('labels the evening with the next date, also outside sessions', () => {
    expect(cmes.sessionDateOf(at('2024-03-10T21:59:59Z'))).toBe('2024-03-10'); // Sunday 16:59 CDT, closed
    expect(cmes.isOpen(at('2024-03-10T21:59:59Z'))).toBe(false);
    expect(cmes.sessionDateOf(at('2024-03-10T22:00:00Z'))).toBe('2024-03-11'); // Sunday 17:00 CDT, Monday session
    expect(cmes.sessionAt(at('2024-03-10T22:00:00Z'))?.date).toBe('2024-03-11');
    // Thanksgiving 2024: closed from 12:00 to 17:00 CST, then Friday's session.
    expect(cmes.isOpen(at('2024-11-28T20:00:00Z'))).toBe(false);
    expect(cmes.sessionDateOf(at('2024-11-28T20:00:00Z'))).toBe('2024-11-28');
    expect(cmes.sessionDateOf(at('2024-11-28T23:00:00Z'))).toBe('2024-11-29');
    // Christmas 2024 (closed): the trading day of the morning is still the 25th.
    expect(cmes.sessionDateOf(at('2024-12-25T15:00:00Z'))).toBe('2024-12-25');
    expect(cmes.session('2024-12-25')).toBeUndefined();
  });
});
