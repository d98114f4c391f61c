import { describe, expect, it } from 'vitest';
import { dayFromYmd, formatIsoDate, parseIsoDate, weekdayOf } from '../../src/calendar/civil-date.js';
import { instantToLocal, localToInstant, zoneOffsetMs } from '../../src/calendar/zoned-time.js';

const H = 3_600_000;
const at = (iso: string): number => Date.parse(iso);
const day = (iso: string): number => parseIsoDate(iso);

describe('civil dates', () => {
  it('round-trips and rejects impossible dates', () => {
    expect(formatIsoDate(day('2024-02-29'))).toBe('2024-02-29');
    expect(day('1970-01-01')).toBe(0);
    expect(weekdayOf(day('2024-11-28'))).toBe(4); // a Thursday
    expect(dayFromYmd(2024, 3, 0)).toBe(day('2024-02-29'));
    for (const bad of ['2023-02-29', '2024-13-01', '2024-1-01', 'x', '2024-04-31'])
      expect(() => parseIsoDate(bad)).toThrow(/YYYY-MM-DD/);
  });
});

describe('zoned time', () => {
  it('knows the offsets of US, European and half-hour zones', () => {
    expect(zoneOffsetMs('America/New_York', at('2024-01-15T12:00:00Z'))).toBe(-5 * H);
    expect(zoneOffsetMs('America/New_York', at('2024-07-15T12:00:00Z'))).toBe(-4 * H);
    expect(zoneOffsetMs('America/Chicago', at('2024-07-15T12:00:00Z'))).toBe(-5 * H);
    expect(zoneOffsetMs('Europe/London', at('2024-07-15T12:00:00Z'))).toBe(1 * H);
    expect(zoneOffsetMs('Asia/Kolkata', at('2024-07-15T12:00:00Z'))).toBe(5.5 * H);
    // US rules before 2007: DST began on the first Sunday in April.
    expect(zoneOffsetMs('America/New_York', at('2006-03-20T12:00:00Z'))).toBe(-5 * H);
    expect(zoneOffsetMs('America/New_York', at('2007-03-20T12:00:00Z'))).toBe(-4 * H);
  });

  it('changes offset exactly at the transition instant', () => {
    // 2024-03-10 02:00 EST = 07:00Z; 2024-11-03 02:00 EDT = 06:00Z.
    expect(zoneOffsetMs('America/New_York', at('2024-03-10T06:59:59Z'))).toBe(-5 * H);
    expect(zoneOffsetMs('America/New_York', at('2024-03-10T07:00:00Z'))).toBe(-4 * H);
    expect(zoneOffsetMs('America/New_York', at('2024-11-03T05:59:59Z'))).toBe(-4 * H);
    expect(zoneOffsetMs('America/New_York', at('2024-11-03T06:00:00Z'))).toBe(-5 * H);
  });

  it('maps wall time to instants, pushing skipped times forward and taking the earlier of repeated ones', () => {
    const ny = 'America/New_York';
    expect(localToInstant(ny, day('2024-03-10'), 1 * H)).toBe(at('2024-03-10T06:00:00Z'));
    expect(localToInstant(ny, day('2024-03-10'), 2.5 * H)).toBe(at('2024-03-10T07:30:00Z')); // 02:30 does not exist → 03:30 EDT
    expect(localToInstant(ny, day('2024-03-10'), 3 * H)).toBe(at('2024-03-10T07:00:00Z'));
    expect(localToInstant(ny, day('2024-11-03'), 1.5 * H)).toBe(at('2024-11-03T05:30:00Z')); // 01:30 twice → EDT one
    expect(localToInstant(ny, day('2024-11-03'), 2 * H)).toBe(at('2024-11-03T07:00:00Z'));
    expect(localToInstant('Asia/Kolkata', day('2024-07-15'), 9 * H)).toBe(at('2024-07-15T03:30:00Z'));
  });

  it('maps instants to wall time', () => {
    expect(instantToLocal('America/New_York', at('2024-11-03T06:30:00Z'))).toEqual({
      day: day('2024-11-03'),
      msOfDay: 1.5 * H,
    });
    expect(instantToLocal('America/Chicago', at('2024-01-01T05:59:59.500Z'))).toEqual({
      day: day('2023-12-31'),
      msOfDay: 24 * H - 500,
    });
  });
});
