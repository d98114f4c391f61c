import { assertTimeZone, zoneOffsetMs } from '../calendar/zoned-time.js';
import { InputError } from '../core/errors.js';

const NS_PER_MS = 1_000_000n;
/** The instants a JS Date can hold: ±100,000,000 days around 1970. */
const MAX_EPOCH_MS = 8.64e15;
const UTC_NAMES = new Set(['UTC', 'Etc/UTC']);

const pad = (n: number, width: number): string => String(n).padStart(width, '0');

/** ISO 8601 year: four digits for 0000–9999, otherwise the expanded ±YYYYYY form (as toISOString). */
function isoYear(y: number): string {
  return y >= 0 && y <= 9999 ? pad(y, 4) : `${y < 0 ? '-' : '+'}${pad(Math.abs(y), 6)}`;
}

/** Sub-second digits: none when zero, else milliseconds, micro- or nanoseconds, whichever is exact. */
function fraction(ns: number): string {
  if (ns === 0) return '';
  const digits = ns % 1_000_000 === 0 ? 3 : ns % 1000 === 0 ? 6 : 9;
  return `.${pad(ns, 9).slice(0, digits)}`;
}

/** `-05:00`; a zone whose offset has seconds (local mean time before 1883 in New York) gets `-04:56:02`. */
function offsetText(offsetMs: number): string {
  const abs = Math.abs(offsetMs) / 1000;
  const h = Math.floor(abs / 3600);
  const m = Math.floor((abs % 3600) / 60);
  const s = Math.round(abs % 60);
  return `${offsetMs < 0 ? '-' : '+'}${pad(h, 2)}:${pad(m, 2)}${s ? `:${pad(s, 2)}` : ''}`;
}

/**
 * How the CLI prints instants (`ibpipe sql`, `status`, `features latest`, `run` summaries): ISO
 * 8601 in UTC with `Z` (`2024-11-26T14:30:00Z`), or with `--tz ZONE` the wall-clock time in that
 * IANA zone with its offset at that instant (`2024-11-26T09:30:00-05:00`). Fractional seconds
 * appear only when non-zero, with as many digits as they need (3, 6 or 9). Dates are not
 * instants and never pass through here.
 */
export class InstantFormatter {
  /** The IANA zone (canonical name), or null for UTC with `Z`. */
  readonly zone: string | null;

  private constructor(zone: string | null) {
    this.zone = zone;
  }

  static readonly utc = new InstantFormatter(null);

  /** From `--tz`: absent, `UTC` or `Etc/UTC` print `Z`; an unknown zone is bad input (exit 2). */
  static fromOption(tz: string | undefined, flag = '--tz'): InstantFormatter {
    if (tz === undefined) return InstantFormatter.utc;
    let canonical: string;
    try {
      assertTimeZone(tz);
      canonical = new Intl.DateTimeFormat('en-US', { timeZone: tz }).resolvedOptions().timeZone;
    } catch {
      throw new InputError(`${flag}: unknown time zone ${JSON.stringify(tz)}; expected an IANA zone name such as America/New_York, Europe/London or UTC`);
    }
    return UTC_NAMES.has(canonical) ? InstantFormatter.utc : new InstantFormatter(canonical);
  }

  /** Epoch milliseconds (how ibpipe holds instants in JS) as ISO 8601. */
  fromEpochMs(ms: number): string {
    if (!Number.isFinite(ms) || Math.abs(ms) > MAX_EPOCH_MS) return String(ms);
    const whole = Math.floor(ms);
    const subNs = Math.round((ms - whole) * 1e6);
    return subNs === 1_000_000 ? this.#render(whole + 1, 0) : this.#render(whole, subNs);
  }

  /** Epoch nanoseconds (lossless DuckDB timestamps, see src/storage/query-table.ts) as ISO 8601. */
  fromEpochNanos(ns: bigint): string {
    let ms = ns / NS_PER_MS;
    let rem = ns % NS_PER_MS;
    if (rem < 0n) {
      rem += NS_PER_MS;
      ms -= 1n;
    }
    const n = Number(ms);
    return Math.abs(n) > MAX_EPOCH_MS ? ns.toString() : this.#render(n, Number(rem));
  }

  /**
   * One value known to be an instant: a number is epoch ms, a bigint epoch ns; null stays null
   * and text (DuckDB's `infinity`) is kept as it is.
   */
  value(v: unknown): unknown {
    if (typeof v === 'number') return this.fromEpochMs(v);
    if (typeof v === 'bigint') return this.fromEpochNanos(v);
    return v ?? null;
  }

  /** Rows with the instants of the named columns formatted (other columns untouched). */
  rows<R extends Record<string, unknown>>(rows: readonly R[], columns: Iterable<string>): Record<string, unknown>[] {
    const cols = [...columns];
    if (cols.length === 0) return [...rows];
    return rows.map((r) => {
      const out: Record<string, unknown> = { ...r };
      for (const c of cols) if (c in out) out[c] = this.value(out[c]);
      return out;
    });
  }

  /**
   * A copy of a JSON-like value with the instants at `paths` formatted. A path is dot-separated
   * keys; `key[]` steps into every element of the array at `key`, a bare `[]` into every element
   * of the current array (`asOf`, `reports[].overLimit[].start`, `[].first_ts`). Missing keys are
   * skipped, so a path covers the summaries that have it.
   */
  paths(value: unknown, paths: readonly string[]): unknown {
    let out = value;
    for (const p of paths) out = this.#at(out, p.split('.'));
    return out;
  }

  #at(v: unknown, segments: readonly string[]): unknown {
    const [head, ...rest] = segments;
    if (head === undefined) return this.value(v);
    const each = head.endsWith('[]');
    const key = each ? head.slice(0, -2) : head;
    const inner = (x: unknown): unknown => (each ? (Array.isArray(x) ? x.map((e) => this.#at(e, rest)) : x) : this.#at(x, rest));
    if (key === '') return inner(v);
    if (v === null || typeof v !== 'object' || Array.isArray(v) || !(key in v)) return v;
    const obj = v as Record<string, unknown>;
    return { ...obj, [key]: inner(obj[key]) };
  }

  #render(ms: number, subMsNs: number): string {
    const offset = this.zone === null ? 0 : zoneOffsetMs(this.zone, ms);
    const wall = new Date(ms + offset);
    const subSecondNs = (((ms % 1000) + 1000) % 1000) * 1_000_000 + subMsNs;
    const date = `${isoYear(wall.getUTCFullYear())}-${pad(wall.getUTCMonth() + 1, 2)}-${pad(wall.getUTCDate(), 2)}`;
    const time = `${pad(wall.getUTCHours(), 2)}:${pad(wall.getUTCMinutes(), 2)}:${pad(wall.getUTCSeconds(), 2)}${fraction(subSecondNs)}`;
    return `${date}T${time}${this.zone === null ? 'Z' : offsetText(offset)}`;
  }
}
