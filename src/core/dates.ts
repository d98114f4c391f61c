import { InputError } from './errors.js';

const DATE = /^\d{4}-\d{2}-\d{2}$/;
const DAY_MS = 86_400_000;

/** Parses a YYYY-MM-DD label to the epoch ms of its UTC midnight; throws InputError otherwise. */
export function parseDateLabel(label: string, what = 'date'): number {
  if (!DATE.test(label)) throw new InputError(`${what}: expected YYYY-MM-DD, got ${JSON.stringify(label)}`);
  const ms = Date.parse(`${label}T00:00:00Z`);
  if (Number.isNaN(ms) || new Date(ms).toISOString().slice(0, 10) !== label) {
    throw new InputError(`${what}: ${JSON.stringify(label)} is not a calendar date`);
  }
  return ms;
}

export function formatDateLabel(utcMidnightMs: number): string {
  return new Date(utcMidnightMs).toISOString().slice(0, 10);
}

/** Every calendar date label in [start, end], inclusive. */
export function dateLabelsBetween(start: string, end: string): string[] {
  const a = parseDateLabel(start, 'start');
  const b = parseDateLabel(end, 'end');
  if (b < a) throw new InputError(`end ${end} is before start ${start}`);
  const out: string[] = [];
  for (let t = a; t <= b; t += DAY_MS) out.push(formatDateLabel(t));
  return out;
}

export function addDays(label: string, days: number): string {
  return formatDateLabel(parseDateLabel(label) + days * DAY_MS);
}
