import { MS_PER_DAY, dayFromYmd } from '../calendar/civil-date.js';
import { instantToLocal, localToInstant } from '../calendar/zoned-time.js';

/**
 * How a gateway reads and writes the time-related fields of historical requests: end dates,
 * durations, bar sizes, and the date strings it puts in replies. Pure functions; texts of the
 * refusals are the gateway's (they end up in error 321 as `cause - <text>`).
 */

/** An end date as the gateway read it. `zoneless` requests get warning 2174 but still run. */
export type EndDate =
  | { readonly kind: 'now' }
  | { readonly kind: 'instant'; readonly instant: number; readonly zoneless: boolean };

/**
 * Parses an API end date: `""` (now), `yyyymmdd-hh:mm:ss` (UTC), `yyyymmdd hh:mm:ss <zone>`,
 * `hh:mm:ss <zone>` (today in that zone), or the legacy zone-less `yyyymmdd hh:mm:ss`, read in
 * the gateway's login zone. Returns undefined for text the gateway rejects (error 10314).
 */
export function parseEndDate(text: string, gatewayZone: string, now: number): EndDate | undefined {
  const s = text.trim();
  if (s === '') return { kind: 'now' };
  const utc = /^(\d{8})-(\d{2}:\d{2}:\d{2})$/.exec(s);
  if (utc) {
    const instant = civilInstant(utc[1], utc[2] as string, 'UTC', now);
    return instant === undefined ? undefined : { kind: 'instant', instant, zoneless: false };
  }
  const words = s.split(/\s+/);
  const numeric = words.filter((w) => /^\d/.test(w));
  const zoneWords = words.filter((w) => !/^\d/.test(w));
  const zone = zoneWords.length > 0 ? canonicalZone(zoneWords.join(' ')) : gatewayZone;
  if (zone === undefined) return undefined;
  let instant: number | undefined;
  if (numeric.length === 2) instant = civilInstant(numeric[0], numeric[1] as string, zone, now);
  else if (numeric.length === 1) instant = civilInstant(undefined, numeric[0] as string, zone, now);
  if (instant === undefined) return undefined;
  return { kind: 'instant', instant, zoneless: zoneWords.length === 0 };
}

/** An IANA-resolvable zone for a name the gateway accepts (`US/Eastern`, `UTC`, `GMT`, …). */
export function canonicalZone(name: string): string | undefined {
  if (/^(utc|gmt)$/i.test(name)) return 'UTC';
  try {
    return new Intl.DateTimeFormat('en-US', { timeZone: name }).resolvedOptions().timeZone;
  } catch {
    return undefined;
  }
}

function civilInstant(date: string | undefined, time: string, zone: string, now: number): number | undefined {
  const t = /^(\d{1,2}):(\d{2}):(\d{2})$/.exec(time);
  if (!t) return undefined;
  const [hh, mm, ss] = [Number(t[1]), Number(t[2]), Number(t[3])];
  if (hh > 23 || mm > 59 || ss > 59) return undefined;
  let day: number;
  if (date === undefined) {
    day = instantToLocal(zone, now).day;
  } else {
    const d = /^(\d{4})(\d{2})(\d{2})$/.exec(date);
    if (!d) return undefined;
    const [y, mo, dd] = [Number(d[1]), Number(d[2]), Number(d[3])];
    if (y < 1978 || y > 3000 || mo < 1 || mo > 12 || dd < 1 || dd > 31) return undefined;
    day = dayFromYmd(y, mo, dd);
  }
  return localToInstant(zone, day, ((hh * 60 + mm) * 60 + ss) * 1000);
}

export type DurationUnit = 'S' | 'D' | 'W' | 'M' | 'Y';

export interface Duration {
  readonly count: number;
  readonly unit: DurationUnit;
}

/** A duration or the gateway's refusal text for it. */
export type DurationResult = { ok: true; duration: Duration } | { ok: false; cause: string };

/** Parses `<int> <unit>` as the gateway validates it (a bare number is seconds). */
export function parseDuration(text: string): DurationResult {
  const s = text.trim();
  if (s === '') return { ok: false, cause: 'Historical data request duration not specified.' };
  const withUnit = /^\d+$/.test(s) ? `${s} S` : s;
  const m = /^(\d+) ([SDWMYsdwmy])$/.exec(withUnit);
  if (!m) {
    return {
      ok: false,
      cause:
        'When specifying a unit, historical data request duration format is integer{SPACE}unit (S|D|W|M|Y).',
    };
  }
  const count = Number(m[1]);
  const unit = (m[2] as string).toUpperCase() as DurationUnit;
  if (count < 1 || (unit === 'S' && count < 30))
    return { ok: false, cause: 'Historical data requested duration is invalid.' };
  if (unit === 'S' && count > 86_400)
    return { ok: false, cause: 'Historical data request for greater than 86400 seconds rejected.' };
  if (unit === 'D' && count > 365)
    return {
      ok: false,
      cause: 'Historical data requests for durations longer than 365 days must be made in years.',
    };
  if (unit === 'W' && count > 52)
    return {
      ok: false,
      cause: 'Historical data request for durations longer than 52 weeks must be made in years.',
    };
  if (unit === 'M' && count > 12)
    return {
      ok: false,
      cause: 'Historical data request for durations longer than 12 months must be made in years.',
    };
  return { ok: true, duration: { count, unit } };
}

/** Nominal length of a duration in seconds, for comparing against a bar size's limit. */
export function nominalSeconds(d: Duration): number {
  const unit = { S: 1, D: 86_400, W: 7 * 86_400, M: 31 * 86_400, Y: 366 * 86_400 }[d.unit];
  return d.count * unit;
}

/**
 * Instant `d` before `end`, counted on the wall clock of `zone` for calendar units (a day is a
 * calendar day here; trading-day semantics of `D` for the data window live in the market).
 */
export function subtractDuration(end: number, d: Duration, zone: string): number {
  if (d.unit === 'S') return end - d.count * 1000;
  const { day, msOfDay } = instantToLocal(zone, end);
  if (d.unit === 'D') return localToInstant(zone, day - d.count, msOfDay);
  if (d.unit === 'W') return localToInstant(zone, day - 7 * d.count, msOfDay);
  const date = new Date(day * MS_PER_DAY);
  const months = d.unit === 'M' ? d.count : 12 * d.count;
  const target = new Date(Date.UTC(date.getUTCFullYear(), date.getUTCMonth() - months, 1));
  // Clamp the day of month (31 March minus one month is 29 February or 28 February).
  const lastDay = new Date(Date.UTC(target.getUTCFullYear(), target.getUTCMonth() + 1, 0)).getUTCDate();
  const dom = Math.min(date.getUTCDate(), lastDay);
  return localToInstant(zone, dayFromYmd(target.getUTCFullYear(), target.getUTCMonth() + 1, dom), msOfDay);
}

/** A bar size the gateway accepts: intraday sizes have a length, the rest are calendar bars. */
export type BarSpec =
  | { readonly kind: 'intraday'; readonly ms: number; readonly name: string }
  | { readonly kind: 'day' | 'week' | 'month'; readonly name: string };

const INTRADAY_BAR_SECONDS: Readonly<Record<string, number>> = {
  '1 secs': 1,
  '5 secs': 5,
  '10 secs': 10,
  '15 secs': 15,
  '30 secs': 30,
  '1 min': 60,
  '2 mins': 120,
  '3 mins': 180,
  '5 mins': 300,
  '10 mins': 600,
  '15 mins': 900,
  '20 mins': 1200,
  '30 mins': 1800,
  '1 hour': 3600,
  '2 hours': 7200,
  '3 hours': 10_800,
  '4 hours': 14_400,
  '8 hours': 28_800,
};

export const INVALID_BAR_SIZE_CAUSE =
  'Historical data bar size setting is invalid. Legal ones are: 1 secs, 5 secs, 10 secs, 15 secs, 30 secs, 1 min, ' +
  '2 mins, 3 mins, 5 mins, 10 mins, 15 mins, 20 mins, 30 mins, 1 hour, 2 hours, 3 hours, 4 hours, 8 hours, 1 day, 1W, 1M';

/** The bar size named by barSizeSetting (case-insensitive), or undefined (error 321). */
export function parseBarSize(text: string): BarSpec | undefined {
  const s = text.trim().toLowerCase();
  const seconds = INTRADAY_BAR_SECONDS[s];
  if (seconds !== undefined) return { kind: 'intraday', ms: seconds * 1000, name: s };
  if (s === '1 day') return { kind: 'day', name: s };
  if (s === '1w' || s === '1 w' || s === '1 week') return { kind: 'week', name: '1W' };
  if (s === '1m' || s === '1 m' || s === '1 month') return { kind: 'month', name: '1M' };
  return undefined;
}

/**
 * Longest duration HMDS serves per bar size, in nominal seconds; longer gets 162 "Time length
 * exceed max.". Based on IB's step-size table, loosened where gateways are known to serve more
 * (several days of 1-min bars, ib_insync#268; 60 D of daily bars, with 61 D refused).
 */
export function maxDurationSeconds(bar: BarSpec): number {
  const day = 86_400;
  if (bar.kind !== 'intraday') return bar.kind === 'day' ? 20 * 366 * day : 40 * 366 * day;
  const s = bar.ms / 1000;
  if (s <= 1) return 2_000;
  if (s <= 5) return 10_000;
  if (s <= 15) return 28_800;
  if (s <= 30) return day;
  if (s <= 120) return 10 * day;
  if (s <= 1200) return 31 * day;
  if (s <= 1800) return 62 * day;
  return 366 * day;
}

/** `yyyymmdd hh:mm:ss <zone>`: how current gateways write instants (headers, formatDate=1 bars). */
export function formatIbDateTime(instant: number, ibZoneId: string): string {
  const { day, msOfDay } = instantToLocal(ibZoneId, instant);
  const totalSeconds = Math.floor(msOfDay / 1000);
  const hh = Math.floor(totalSeconds / 3600);
  const mm = Math.floor((totalSeconds % 3600) / 60);
  const ss = totalSeconds % 60;
  return `${formatIbDate(day)} ${pad2(hh)}:${pad2(mm)}:${pad2(ss)} ${ibZoneId}`;
}

/** `yyyymmdd` of a civil day number (daily, weekly and monthly bar labels). */
export function formatIbDate(day: number): string {
  return new Date(day * MS_PER_DAY).toISOString().slice(0, 10).replaceAll('-', '');
}

/** The connection time of the version reply: `yyyymmdd hh:mm:ss EST` (host zone abbreviation). */
export function formatConnectionTime(instant: number, zone: string): string {
  const { day, msOfDay } = instantToLocal(zone, instant);
  const totalSeconds = Math.floor(msOfDay / 1000);
  const abbrev =
    new Intl.DateTimeFormat('en-US', { timeZone: zone, timeZoneName: 'short' })
      .formatToParts(instant)
      .find((p) => p.type === 'timeZoneName')?.value ?? 'UTC';
  return `${formatIbDate(day)} ${pad2(Math.floor(totalSeconds / 3600))}:${pad2(Math.floor((totalSeconds % 3600) / 60))}:${pad2(totalSeconds % 60)} ${abbrev}`;
}

function pad2(n: number): string {
  return n < 10 ? `0${n}` : String(n);
}
