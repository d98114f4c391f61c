import { assertTimeZone, zoneOffsetMs } from '../calendar/zoned-time.js';

/**
 * The strict value rules of every ingest edge (CSV, Parquet, PostgreSQL, CLI window edges): one
 * grammar and one set of refusal messages, implemented here in JS and in bar-value-sql.ts for
 * DuckDB (test/data-sources/bar-value-rules.test.ts holds both to the same table of cases).
 *
 * - Instants: ISO-8601 with `Z` or an offset, calendar-valid (no rollover of 2024-02-30 into
 *   March, no `T24:00`, no leap second), or an epoch number whose unit (s, ms, us, ns) follows
 *   from its magnitude; a zone-less time only with a declared zone, and never a local time that
 *   a DST change skips or repeats. Every instant must lie in the plausible range below.
 * - Numbers: decimal notation only (sign, digits, point, exponent): no hex, no `Infinity`/`NaN`
 *   text, no digit separators, nothing that overflows a double.
 */

/** First instant an ingested bar may have: before it a value is a mistake (a truncated epoch, a wrong unit, a 1900 default). */
export const PLAUSIBLE_FROM_MS = Date.UTC(1980, 0, 1);
/** End (exclusive) of the plausible range. The range spans a factor below 1000 in every epoch unit, so units never overlap. */
export const PLAUSIBLE_TO_MS = Date.UTC(2100, 0, 1);
export const PLAUSIBLE_RANGE_TEXT = '1980-01-01 .. 2100-01-01 UTC';

export type EpochUnit = 's' | 'ms' | 'us' | 'ns';
/** Epoch units by size, with how many of them make a millisecond (as a divisor of the value). */
export const EPOCH_UNITS: readonly { unit: EpochUnit; perMs: number }[] = [
  { unit: 's', perMs: 1e-3 },
  { unit: 'ms', perMs: 1 },
  { unit: 'us', perMs: 1e3 },
  { unit: 'ns', perMs: 1e6 },
];

/** `YYYY-MM-DD[T ]hh:mm[:ss[.fraction]][Z|±hh[:mm]]` (groups: y mo d h mi s f z sg oh om). */
export const ISO_INSTANT_PATTERN =
  '^(\\d{4})-(\\d{2})-(\\d{2})[Tt ](\\d{2}):(\\d{2})(?::(\\d{2})(?:\\.(\\d{1,9}))?)?(?:([Zz])|([+-])(\\d{2})(?::?(\\d{2}))?)?$';
export const ISO_GROUPS = ['y', 'mo', 'd', 'h', 'mi', 's', 'f', 'z', 'sg', 'oh', 'om'] as const;
/** A plain date: refused as an instant, with its own message. */
export const DATE_ONLY_PATTERN = '^\\d{4}-\\d{2}-\\d{2}$';
/** An epoch number: optional sign, digits, optional fraction (no exponent: epochs are written out). */
export const EPOCH_PATTERN = '^[+-]?\\d{1,20}(?:\\.\\d{1,9})?$';
/** A decimal number. */
export const DECIMAL_PATTERN = '^[+-]?(?:\\d+\\.?\\d*|\\.\\d+)(?:[eE][+-]?\\d{1,4})?$';

const ISO_RE = new RegExp(ISO_INSTANT_PATTERN);
const DATE_ONLY_RE = new RegExp(DATE_ONLY_PATTERN);
const EPOCH_RE = new RegExp(EPOCH_PATTERN);
const DECIMAL_RE = new RegExp(DECIMAL_PATTERN);

/** Refusal messages, shared word for word by the JS and SQL implementations. */
export const PROBLEMS = {
  missing: 'value is missing',
  instantShape: 'is not an ISO-8601 instant with Z or an offset (2024-11-26T14:30:00Z) nor an epoch number (s, ms, us or ns)',
  dateOnly: 'is a date without a time of day; expected an instant',
  calendarDate: 'is not a calendar date (no such day in that month)',
  timeOfDay: 'is not a time of day (hours 00-23, minutes and seconds 00-59)',
  offset: 'has an invalid UTC offset (hours 00-23, minutes 00-59)',
  zoneless: 'has no zone (Z or an offset); write one, or declare the zone of the column (ts_timezone / --ts-timezone)',
  nonexistent: 'does not exist in the declared zone (skipped by a daylight-saving change)',
  ambiguous: 'is ambiguous in the declared zone (repeated by a daylight-saving change); write it with an offset',
  range: `is outside the plausible range ${PLAUSIBLE_RANGE_TEXT}`,
  epochRange: `as an epoch number is outside the plausible range ${PLAUSIBLE_RANGE_TEXT} in every unit (s, ms, us, ns)`,
  decimal: 'is not a decimal number (digits with optional sign, point and exponent; no hex, Infinity or NaN)',
  nonFinite: 'is NaN or infinite',
  overflow: 'is too large for a double',
  integer: 'is not an integer',
} as const;
export type Problem = (typeof PROBLEMS)[keyof typeof PROBLEMS];

export type Parsed<T> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly problem: Problem };

const ok = <T>(value: T): Parsed<T> => ({ ok: true, value });
const no = (problem: Problem): Parsed<never> => ({ ok: false, problem });

export function isPlausibleInstant(ms: number): boolean {
  return ms >= PLAUSIBLE_FROM_MS && ms < PLAUSIBLE_TO_MS;
}

/** The unit in which an epoch value is a plausible instant (at most one: see PLAUSIBLE_TO_MS), or null. */
export function inferEpochUnit(value: number): EpochUnit | null {
  for (const u of EPOCH_UNITS) {
    const ms = value / u.perMs;
    if (isPlausibleInstant(Math.floor(ms))) return u.unit;
  }
  return null;
}

function daysInMonth(year: number, month: number): number {
  if (month === 2) return (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0 ? 29 : 28;
  return month === 4 || month === 6 || month === 9 || month === 11 ? 30 : 31;
}

/**
 * UTC instant of a wall-clock time in an IANA zone, refusing the readings a DST change skips
 * (nonexistent) or repeats (ambiguous) instead of guessing. `wallMs` is the wall time written as
 * if it were UTC (epoch ms of the same civil date and time).
 */
export function localToInstantStrict(zone: string, wallMs: number): Parsed<number> {
  // Real zones change offset at most once in two days: the offsets a day either side are the
  // only candidates, and a candidate is right when the zone reads it back as the same wall time.
  const before = zoneOffsetMs(zone, wallMs - 86_400_000);
  const after = zoneOffsetMs(zone, wallMs + 86_400_000);
  if (before === after) return ok(wallMs - before);
  const valid = [wallMs - before, wallMs - after].filter((c) => c + zoneOffsetMs(zone, c) === wallMs);
  if (valid.length === 0) return no(PROBLEMS.nonexistent);
  if (valid.length === 2) return no(PROBLEMS.ambiguous);
  return ok(valid[0] as number);
}

/**
 * Parses an instant written as text (a CSV cell, a CLI argument). `zone` is the declared zone of
 * zone-less values; without one they are refused. Fractions below a millisecond are cut off.
 */
export function parseInstantText(text: string, zone?: string): Parsed<number> {
  const s = text.trim();
  if (s === '') return no(PROBLEMS.missing);
  if (EPOCH_RE.test(s)) return parseEpochText(s);
  const m = ISO_RE.exec(s);
  if (!m) return no(DATE_ONLY_RE.test(s) ? PROBLEMS.dateOnly : PROBLEMS.instantShape);
  const [y, mo, d, h, mi] = [1, 2, 3, 4, 5].map((i) => Number(m[i]));
  const sec = m[6] === undefined ? 0 : Number(m[6]);
  if ((mo as number) < 1 || (mo as number) > 12 || (d as number) < 1 || (d as number) > daysInMonth(y as number, mo as number)) return no(PROBLEMS.calendarDate);
  if ((h as number) > 23 || (mi as number) > 59 || sec > 59) return no(PROBLEMS.timeOfDay);
  const fracMs = m[7] === undefined ? 0 : Number(m[7].padEnd(3, '0').slice(0, 3));
  const wall = Date.UTC(y as number, (mo as number) - 1, d as number, h as number, mi as number, sec, fracMs);
  let ms: number;
  if (m[8] !== undefined) ms = wall;
  else if (m[9] !== undefined) {
    const oh = Number(m[10]);
    const om = m[11] === undefined ? 0 : Number(m[11]);
    if (oh > 23 || om > 59) return no(PROBLEMS.offset);
    ms = wall - (m[9] === '-' ? -1 : 1) * (oh * 60 + om) * 60_000;
  } else {
    if (zone === undefined) return no(PROBLEMS.zoneless);
    const r = localToInstantStrict(zone, wall);
    if (!r.ok) return r;
    ms = r.value;
  }
  return isPlausibleInstant(ms) ? ok(ms) : no(PROBLEMS.range);
}

/** An epoch number (already matching EPOCH_PATTERN) to epoch ms, its unit read from its magnitude; exact (no double rounding). */
function parseEpochText(s: string): Parsed<number> {
  const m = /^([+-]?)(\d+)(?:\.(\d+))?$/.exec(s) as RegExpExecArray;
  if (m[1] === '-') return no(PROBLEMS.epochRange);
  const int = BigInt(m[2] as string);
  const millis = BigInt((m[3] ?? '').padEnd(3, '0').slice(0, 3));
  for (const ms of [int * 1000n + millis, int, int / 1000n, int / 1_000_000n]) {
    if (isPlausibleInstant(Number(ms))) return ok(Number(ms));
  }
  return no(PROBLEMS.epochRange);
}

/** Epoch ms of a numeric epoch value (a database or Parquet column), refusing implausible ones. */
export function epochToMs(value: number, unit: EpochUnit): Parsed<number> {
  if (!Number.isFinite(value)) return no(PROBLEMS.nonFinite);
  const perMs = (EPOCH_UNITS.find((u) => u.unit === unit) as { perMs: number }).perMs;
  const ms = Math.floor(value / perMs);
  return isPlausibleInstant(ms) ? ok(ms) : no(PROBLEMS.range);
}

/** A decimal number written as text; `integer` also demands a whole number. */
export function parseDecimalText(text: string, integer = false): Parsed<number> {
  const s = text.trim();
  if (s === '') return no(PROBLEMS.missing);
  if (!DECIMAL_RE.test(s)) return no(PROBLEMS.decimal);
  const v = Number(s);
  if (!Number.isFinite(v)) return no(PROBLEMS.overflow);
  if (integer && !Number.isSafeInteger(v)) return no(PROBLEMS.integer);
  return ok(v);
}

/** Throws RangeError unless zone is an IANA zone this Node knows. */
export function checkTimeZone(zone: string): void {
  assertTimeZone(zone);
}

/** A value for an error message: at most `max` characters, with the full length when cut. */
export function shownValue(text: string, fullLength = text.length, max = 60): string {
  if (fullLength <= max && text.length <= max) return JSON.stringify(text);
  return `${JSON.stringify(text.slice(0, max))}… (${fullLength.toLocaleString('en-US')} characters)`;
}
