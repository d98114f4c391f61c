import type { Command } from 'commander';
import { InputError } from '../core/errors.js';

export type OutputFormat = 'table' | 'csv' | 'json';

export function addFormatOption(cmd: Command, formats: readonly OutputFormat[] = ['table', 'csv', 'json']): Command {
  return cmd.option('--format <format>', `output format: ${formats.join(' | ')} (default: table on a TTY, json otherwise)`);
}

/** `--tz ZONE`: the time zone instants are printed in (src/cli/instant-format.ts); default UTC. */
export function addTimeZoneOption(cmd: Command): Command {
  return cmd.option('--tz <zone>', 'print instants as local times of this IANA zone with their UTC offset, e.g. America/New_York (default: UTC, 2024-11-26T14:30:00Z)');
}

export function resolveFormat(value: unknown, formats: readonly OutputFormat[] = ['table', 'csv', 'json']): OutputFormat {
  if (value === undefined) return process.stdout.isTTY ? 'table' : 'json';
  if (typeof value === 'string' && (formats as readonly string[]).includes(value)) return value as OutputFormat;
  throw new InputError(`--format: expected one of ${formats.join(', ')}, got ${JSON.stringify(value)}`);
}

function cell(v: unknown): string {
  if (v === null || v === undefined) return '';
  if (typeof v === 'bigint') return v.toString();
  if (v instanceof Date) return v.toISOString();
  if (typeof v === 'object') return JSON.stringify(v, jsonReplacer);
  return String(v);
}

export function jsonReplacer(_key: string, v: unknown): unknown {
  return typeof v === 'bigint' ? (Number.isSafeInteger(Number(v)) ? Number(v) : v.toString()) : v;
}

function csvCell(v: unknown): string {
  const s = cell(v);
  return /[",\n\r]/.test(s) ? `"${s.replaceAll('"', '""')}"` : s;
}

/** Renders rows as an aligned table, CSV (RFC 4180) or a JSON array. */
export function formatRows(rows: readonly Record<string, unknown>[], format: OutputFormat, columns?: readonly string[]): string {
  const cols = columns ?? (rows[0] ? Object.keys(rows[0]) : []);
  if (format === 'json') return JSON.stringify(rows, jsonReplacer, 2);
  if (format === 'csv') {
    return [cols.map(csvCell).join(','), ...rows.map((r) => cols.map((c) => csvCell(r[c])).join(','))].join('\n');
  }
  const widths = cols.map((c) => Math.max(c.length, ...rows.map((r) => cell(r[c]).length)));
  const line = (vals: string[]): string => vals.map((v, i) => v.padEnd(widths[i] ?? 0)).join('  ').trimEnd();
  return [line([...cols]), line(widths.map((w) => '-'.repeat(w))), ...rows.map((r) => line(cols.map((c) => cell(r[c]))))].join('\n');
}
