/** How the dashboard writes instants, durations and numbers: in an exchange's zone, compactly. */

const formatters = new Map<string, Intl.DateTimeFormat>();

function formatter(timezone: string): Intl.DateTimeFormat {
  let f = formatters.get(timezone);
  if (!f) {
    f = new Intl.DateTimeFormat('en-CA', {
      timeZone: timezone,
      year: 'numeric',
      month: '2-digit',
      day: '2-digit',
      hour: '2-digit',
      minute: '2-digit',
      second: '2-digit',
      hourCycle: 'h23',
      timeZoneName: 'short',
    });
    formatters.set(timezone, f);
  }
  return f;
}

function parts(ms: number, timezone: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const p of formatter(timezone).formatToParts(new Date(ms))) out[p.type] = p.value;
  return out;
}

/** `2024-11-26 10:00:00 EST` */
export function formatInstant(ms: number | null | undefined, timezone: string): string {
  if (ms === null || ms === undefined || !Number.isFinite(ms)) return '—';
  const p = parts(ms, timezone);
  return `${p['year']}-${p['month']}-${p['day']} ${p['hour']}:${p['minute']}:${p['second']} ${p['timeZoneName']}`;
}

/** `10:00` (wall clock in the zone). */
export function formatClock(ms: number, timezone: string): string {
  const p = parts(ms, timezone);
  return `${p['hour']}:${p['minute']}`;
}

/** `850 ms`, `12.3 s`, `4 min 05 s`, `2 h 03 min`. */
export function formatDuration(ms: number | null | undefined): string {
  if (ms === null || ms === undefined || !Number.isFinite(ms)) return '—';
  if (ms < 1000) return `${Math.round(ms)} ms`;
  const s = ms / 1000;
  if (s < 60) return `${s.toFixed(1)} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} min ${String(Math.floor(s % 60)).padStart(2, '0')} s`;
  const h = Math.floor(m / 60);
  if (h < 48) return `${h} h ${String(m % 60).padStart(2, '0')} min`;
  return `${Math.floor(h / 24)} d ${h % 24} h`;
}

/** Integers with thousands separators; other numbers to at most `digits` decimals. */
export function formatNumber(v: unknown, digits = 4): string {
  if (v === null || v === undefined) return '—';
  if (typeof v !== 'number') return String(v);
  if (!Number.isFinite(v)) return String(v);
  if (Number.isInteger(v)) return v.toLocaleString('en-US');
  return v.toLocaleString('en-US', { maximumFractionDigits: digits });
}

/** `97.4 %` */
export function formatPercent(ratio: number | null): string {
  if (ratio === null) return '—';
  if (ratio >= 1) return '100 %';
  return `${(Math.floor(ratio * 1000) / 10).toFixed(1)} %`;
}
