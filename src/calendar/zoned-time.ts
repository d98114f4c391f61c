import { MS_PER_DAY, type DayNumber } from './civil-date.js';

/**
 * Wall-clock time in an IANA zone ↔ UTC instants, using the zone data built into Node (Intl),
 * so DST rules (including historical ones) come from tzdata rather than from hand-written rules.
 * Pure functions; formatters are cached per zone because constructing them is expensive.
 */
const formatters = new Map<string, Intl.DateTimeFormat>();

function formatterFor(zone: string): Intl.DateTimeFormat {
  let f = formatters.get(zone);
  if (!f) {
    f = new Intl.DateTimeFormat('en-US', {
      timeZone: zone,
      hourCycle: 'h23',
      era: 'short',
      year: 'numeric',
      month: 'numeric',
      day: 'numeric',
      hour: 'numeric',
      minute: 'numeric',
      second: 'numeric',
    });
    formatters.set(zone, f);
  }
  return f;
}

/** Throws RangeError for an unknown zone name (Intl's own check). */
export function assertTimeZone(zone: string): void {
  formatterFor(zone);
}

/** Offset of the zone's wall clock from UTC at an instant, in ms (New York in winter: -5 h). */
export function zoneOffsetMs(zone: string, instant: number): number {
  const whole = Math.floor(instant / 1000) * 1000;
  let year = 0;
  let month = 1;
  let day = 1;
  let hour = 0;
  let minute = 0;
  let second = 0;
  let bc = false;
  for (const part of formatterFor(zone).formatToParts(whole)) {
    switch (part.type) {
      case 'year':
        year = Number(part.value);
        break;
      case 'month':
        month = Number(part.value);
        break;
      case 'day':
        day = Number(part.value);
        break;
      case 'hour':
        hour = Number(part.value);
        break;
      case 'minute':
        minute = Number(part.value);
        break;
      case 'second':
        second = Number(part.value);
        break;
      case 'era':
        bc = part.value === 'BC' || part.value === 'B';
        break;
      default:
        break;
    }
  }
  const wall = new Date(0);
  wall.setUTCFullYear(bc ? 1 - year : year, month - 1, day);
  wall.setUTCHours(hour, minute, second, 0);
  return wall.getTime() - whole;
}

/** A wall-clock reading: local civil day plus milliseconds since local midnight. */
export interface LocalTime {
  readonly day: DayNumber;
  readonly msOfDay: number;
}

/** Wall-clock reading of an instant in a zone. */
export function instantToLocal(zone: string, instant: number): LocalTime {
  const local = instant + zoneOffsetMs(zone, instant);
  const day = Math.floor(local / MS_PER_DAY);
  return { day, msOfDay: local - day * MS_PER_DAY };
}

/**
 * UTC instant of a wall-clock time. Ambiguous readings (the repeated hour when clocks go back)
 * resolve to the earlier instant; non-existent ones (the skipped hour when clocks go forward)
 * are pushed forward by the gap, like Temporal's `compatible` disambiguation.
 */
export function localToInstant(zone: string, day: DayNumber, msOfDay: number): number {
  const wall = day * MS_PER_DAY + msOfDay;
  // Real zones change offset at most once within two days, so the offsets a day before and a
  // day after bracket every candidate, and when they agree the offset is constant in between.
  const before = zoneOffsetMs(zone, wall - MS_PER_DAY);
  const after = zoneOffsetMs(zone, wall + MS_PER_DAY);
  if (before === after) return wall - before;
  const candidates = [wall - before, wall - after].filter((c) => zoneOffsetMs(zone, c) === wall - c);
  if (candidates.length > 0) return Math.min(...candidates);
  return wall - before;
}
