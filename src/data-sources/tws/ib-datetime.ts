import { dayFromYmd, formatIsoDate } from '../../calendar/civil-date.js';
import type { TradingCalendar } from '../../calendar/trading-calendar.js';
import { instantToLocal, localToInstant } from '../../calendar/zoned-time.js';
import { InputError } from '../../core/errors.js';

/**
 * Date-time strings at the IB edge (tws-protocol.md §2.3, §2.5). Requests always carry an
 * explicit zone; bar times are parsed in both formatDate forms into UTC epoch ms.
 */

/** `yyyymmdd-hh:mm:ss`: IB reads the dash form as UTC. */
const UTC_DASH = /^\d{8}-\d{2}:\d{2}:\d{2}$/;
/** `yyyymmdd hh:mm:ss <zone>`: explicit IB/IANA zone name. */
const ZONED = /^\d{8} \d{2}:\d{2}:\d{2} [A-Za-z][A-Za-z0-9_+/-]*$/;

/** Formats an instant as IB's UTC end-date form `yyyymmdd-hh:mm:ss`. */
export function formatIbUtc(instant: number): string {
  if (!Number.isFinite(instant)) throw new RangeError(`not an instant: ${instant}`);
  const iso = new Date(instant).toISOString(); // 2024-11-25T21:00:00.000Z
  return `${iso.slice(0, 4)}${iso.slice(5, 7)}${iso.slice(8, 10)}-${iso.slice(11, 19)}`;
}

/** Parses IB's UTC dash form back to epoch ms. */
export function parseIbUtc(text: string): number {
  if (!UTC_DASH.test(text)) throw new InputError(`not an IB UTC date-time (yyyymmdd-hh:mm:ss): ${JSON.stringify(text)}`);
  return Date.UTC(+text.slice(0, 4), +text.slice(4, 6) - 1, +text.slice(6, 8), +text.slice(9, 11), +text.slice(12, 14), +text.slice(15, 17));
}

/** True when an endDateTime carries an explicit zone (or is "" = now, required for keepUpToDate). */
export function hasExplicitZone(endDateTime: string): boolean {
  return endDateTime === '' || UTC_DASH.test(endDateTime) || ZONED.test(endDateTime);
}

/**
 * Throws unless endDateTime carries an explicit zone. A zone-less `yyyymmdd hh:mm:ss` is read by
 * IB in the gateway's login zone (warning 2174), which silently shifts every window.
 */
export function assertExplicitZone(endDateTime: string): string {
  if (!hasExplicitZone(endDateTime)) {
    throw new InputError(`refusing to send a zone-less IB date-time ${JSON.stringify(endDateTime)}; use yyyymmdd-hh:mm:ss (UTC)`);
  }
  return endDateTime;
}

function wallToInstant(ymd: string, hms: string | undefined, zone: string): number {
  const day = dayFromYmd(+ymd.slice(0, 4), +ymd.slice(4, 6), +ymd.slice(6, 8));
  const ms = hms === undefined ? 0 : (+hms.slice(0, 2) * 3600 + +hms.slice(3, 5) * 60 + +hms.slice(6, 8)) * 1000;
  return localToInstant(zone, day, ms);
}

/**
 * Parses a bar time as IB sends it, to UTC epoch ms of the bar start:
 * - `1732545000` (formatDate 2, epoch seconds);
 * - `20241125 09:30:00 US/Eastern` (formatDate 1, zone of the instrument);
 * - `20241125  09:30:00` (formatDate 1 from older gateways: two spaces, no zone → `fallbackZone`);
 * - `20241125` (daily and longer bars in both forms → local midnight in `fallbackZone`).
 */
export function parseIbBarTime(text: string, fallbackZone: string): number {
  const t = text.trim();
  if (/^\d{9,11}$/.test(t)) return Number(t) * 1000;
  if (/^\d{8}$/.test(t)) return wallToInstant(t, undefined, fallbackZone);
  const m = /^(\d{8})\s+(\d{2}:\d{2}:\d{2})(?:\s+(\S+))?$/.exec(t);
  if (m) {
    try {
      return wallToInstant(m[1] as string, m[2], m[3] ?? fallbackZone);
    } catch (err) {
      throw new InputError(`IB bar time ${JSON.stringify(text)}: unknown time zone`, { cause: err });
    }
  }
  const dash = /^(\d{8})-(\d{2}:\d{2}:\d{2})$/.exec(t);
  if (dash) return parseIbUtc(t);
  throw new InputError(`unrecognised IB bar time ${JSON.stringify(text)}`);
}

/**
 * IB stamps a daily bar with its session date only (`yyyymmdd`, which parseIbBarTime reads as
 * local midnight of `ibZone`, the contract's zone). ibpipe stamps a daily bar at its session's
 * open (DESIGN §4: ts is the bar's start), so the grid of a daily dataset is the calendar's list
 * of sessions and the partition date is the session date. A date with no session (IB serving a
 * bar the calendar does not know) keeps its midnight: the transform sets it aside as off-grid.
 */
export function dailyBarStart(ts: number, ibZone: string, calendar: Pick<TradingCalendar, 'session'>): number {
  const date = formatIsoDate(instantToLocal(ibZone, ts).day);
  return calendar.session(date)?.open ?? ts;
}
