import { describe, expect, it } from 'vitest';
import { getCalendar } from '../../src/calendar/calendar-registry.js';

/**
 * Dates after the reference table ends (2023-01-13), written from NYSE's published holiday and
 * early-close schedule for 2025 and 2026 (nyse.com/markets/hours-calendars), not from the code.
 * New York is UTC-5 in winter (EST) and UTC-4 in summer (EDT): a 09:30 open is 14:30Z or 13:30Z.
 */
const xnys = getCalendar('XNYS');
const MIN = 60_000;
const at = (iso: string): number => Date.parse(iso);

function weekdaysOf(year: number): string[] {
  const out: string[] = [];
  for (let t = Date.UTC(year, 0, 1); t <= Date.UTC(year, 11, 31); t += 86_400_000) {
    const wd = new Date(t).getUTCDay();
    if (wd !== 0 && wd !== 6) out.push(new Date(t).toISOString().slice(0, 10));
  }
  return out;
}

describe('XNYS holidays 2025 and 2026 (NYSE published calendar)', () => {
  const holidays: Record<number, string[]> = {
    2025: [
      '2025-01-01', // New Year's Day
      '2025-01-09', // national day of mourning, President Carter
      '2025-01-20', // Martin Luther King Jr. Day
      '2025-02-17', // Washington's Birthday
      '2025-04-18', // Good Friday
      '2025-05-26', // Memorial Day
      '2025-06-19', // Juneteenth
      '2025-07-04', // Independence Day
      '2025-09-01', // Labor Day
      '2025-11-27', // Thanksgiving
      '2025-12-25', // Christmas
    ],
    2026: [
      '2026-01-01',
      '2026-01-19',
      '2026-02-16',
      '2026-04-03', // Good Friday (Easter 2026-04-05)
      '2026-05-25',
      '2026-06-19',
      '2026-07-03', // Independence Day observed: July 4 2026 is a Saturday
      '2026-09-07',
      '2026-11-26',
      '2026-12-25',
    ],
  };
  const earlyCloses: Record<number, string[]> = {
    2025: ['2025-07-03', '2025-11-28', '2025-12-24'],
    2026: ['2026-11-27', '2026-12-24'],
  };

  it.each([2025, 2026])('%i: sessions are exactly the weekdays minus the holidays', (year) => {
    const expected = weekdaysOf(year).filter((d) => !(holidays[year] ?? []).includes(d));
    expect(expected).toHaveLength(year === 2025 ? 250 : 251);
    expect(xnys.sessionsInRange(`${year}-01-01`, `${year}-12-31`).map((s) => s.date)).toEqual(expected);
  });

  it.each([2025, 2026])('%i: early closes at 13:00 New York, every other session 09:30–16:00', (year) => {
    for (const s of xnys.sessionsInRange(`${year}-01-01`, `${year}-12-31`)) {
      const hours = (s.close - s.open) / 3_600_000;
      expect([s.date, hours]).toEqual([s.date, (earlyCloses[year] ?? []).includes(s.date) ? 3.5 : 6.5]);
    }
    expect(xnys.session('2025-11-28')).toEqual({
      date: '2025-11-28',
      open: at('2025-11-28T14:30:00Z'),
      close: at('2025-11-28T18:00:00Z'),
    });
    expect(xnys.session('2025-07-03')).toEqual({
      date: '2025-07-03',
      open: at('2025-07-03T13:30:00Z'),
      close: at('2025-07-03T17:00:00Z'),
    });
    expect(xnys.session('2026-12-24')?.close).toBe(at('2026-12-24T18:00:00Z'));
  });

  it('a Saturday holiday: July 4 2026 → closed Friday July 3, full day on Thursday July 2', () => {
    expect(xnys.session('2026-07-03')).toBeUndefined();
    expect(xnys.session('2026-07-02')).toEqual({
      date: '2026-07-02',
      open: at('2026-07-02T13:30:00Z'),
      close: at('2026-07-02T20:00:00Z'),
    });
    expect(xnys.nextSession('2026-07-02').date).toBe('2026-07-06');
  });

  it('a Saturday New Year is not observed: Friday 2027-12-31 trades; a Saturday Christmas closes Friday 2027-12-24', () => {
    expect(xnys.session('2027-12-31')?.close).toBe(at('2027-12-31T21:00:00Z'));
    expect(xnys.session('2027-12-24')).toBeUndefined();
    expect(xnys.session('2027-12-23')?.close).toBe(at('2027-12-23T21:00:00Z'));
  });

  it('a Sunday holiday moves to Monday: Independence Day 2027 → 2027-07-05', () => {
    expect(xnys.session('2027-07-05')).toBeUndefined();
    expect(xnys.previousSession('2027-07-05').date).toBe('2027-07-02');
  });
});

describe('XNYS across daylight-saving changes', () => {
  it('week of 2025-03-09 (clocks forward): open moves from 14:30Z to 13:30Z', () => {
    const s = xnys.sessionsInRange('2025-03-06', '2025-03-11');
    expect(s.map((x) => [x.date, new Date(x.open).toISOString(), new Date(x.close).toISOString()])).toEqual([
      ['2025-03-06', '2025-03-06T14:30:00.000Z', '2025-03-06T21:00:00.000Z'],
      ['2025-03-07', '2025-03-07T14:30:00.000Z', '2025-03-07T21:00:00.000Z'],
      ['2025-03-10', '2025-03-10T13:30:00.000Z', '2025-03-10T20:00:00.000Z'],
      ['2025-03-11', '2025-03-11T13:30:00.000Z', '2025-03-11T20:00:00.000Z'],
    ]);
  });

  it('week of 2026-11-01 (clocks back): open moves from 13:30Z to 14:30Z', () => {
    expect(xnys.session('2026-10-30')?.open).toBe(at('2026-10-30T13:30:00Z'));
    expect(xnys.session('2026-11-02')?.open).toBe(at('2026-11-02T14:30:00Z'));
    expect(xnys.session('2026-11-02')?.close).toBe(at('2026-11-02T21:00:00Z'));
  });

  it('bar starts are in UTC on both sides of the change', () => {
    const before = xnys.expectedBarStarts(xnys.session('2024-03-08')!, MIN);
    const after = xnys.expectedBarStarts(xnys.session('2024-03-11')!, MIN);
    expect([before[0], before.at(-1)]).toEqual([at('2024-03-08T14:30:00Z'), at('2024-03-08T20:59:00Z')]);
    expect([after[0], after.at(-1)]).toEqual([at('2024-03-11T13:30:00Z'), at('2024-03-11T19:59:00Z')]);
  });
});

describe('XNYS expected bar starts', () => {
  it('390 one-minute bars on a regular day, 09:30 to 15:59 New York', () => {
    const bars = xnys.expectedBarStarts(xnys.session('2024-11-25')!, MIN);
    expect(bars).toHaveLength(390);
    expect(bars[0]).toBe(at('2024-11-25T14:30:00Z'));
    expect(bars.at(-1)).toBe(at('2024-11-25T20:59:00Z'));
    expect(bars.every((t, i) => i === 0 || t - (bars[i - 1] ?? 0) === MIN)).toBe(true);
  });

  it('210 on the day after Thanksgiving 2024 (13:00 close), none on Thanksgiving', () => {
    const bars = xnys.expectedBarStarts(xnys.session('2024-11-29')!, MIN);
    expect(bars).toHaveLength(210);
    expect(bars.at(-1)).toBe(at('2024-11-29T17:59:00Z'));
    expect(xnys.session('2024-11-28')).toBeUndefined();
    expect(xnys.sessionsInRange('2024-11-28', '2024-11-28')).toEqual([]);
  });

  it('other frequencies: 78 five-minute bars, 7 hourly bars (the last one partial)', () => {
    const s = xnys.session('2024-11-25')!;
    expect(xnys.expectedBarStarts(s, 5 * MIN)).toHaveLength(78);
    expect(xnys.expectedBarStarts(s, 60 * MIN).at(-1)).toBe(at('2024-11-25T20:30:00Z'));
    expect(() => xnys.expectedBarStarts(s, 0)).toThrow(/positive/);
  });
});
