import { InputError } from '../core/errors.js';

/**
 * Reads a CSV or Parquet file into plain rows (lower-case column names, timestamps as epoch ms).
 * Whoever starts the sim hands one in (the CLI passes storage's readTableFile), so the sim needs
 * no database of its own.
 */
export type ReplayTableReader = (file: string) => Promise<Record<string, unknown>[]>;

/**
 * Recorded bars the sim replays instead of synthesising (`replay_file` of a sim instrument).
 * Columns are parallel arrays sorted by bar start; `intervalMs` is the file's bar length (the
 * smallest gap between consecutive bars), below which bars are split evenly.
 */
export interface ReplaySeries {
  readonly intervalMs: number;
  readonly ts: readonly number[];
  readonly open: readonly number[];
  readonly high: readonly number[];
  readonly low: readonly number[];
  readonly close: readonly number[];
  readonly volume: readonly number[];
  readonly wap: readonly number[];
  readonly count: readonly number[];
}

const TS_COLUMNS = ['ts', 'time', 'timestamp', 'date', 'datetime'];

/**
 * Loads a CSV or Parquet file of bars (columns ts, open, high, low, close, volume[, wap,
 * count][, symbol]); ts is ISO-8601, a timestamp, or epoch seconds/ms of the bar start. With a
 * `symbol` column only the rows of `key` are used. Throws InputError for an unusable file.
 */
export async function loadReplaySeries(file: string, key: string, readRows: ReplayTableReader): Promise<ReplaySeries> {
  let rows: Record<string, unknown>[];
  try {
    rows = await readRows(file);
  } catch (err) {
    throw new InputError(`replay file ${file}: cannot read (${(err as Error).message})`, {
      cause: err,
      details: { file },
    });
  }
  const first = rows[0] ?? {};
  const tsCol = TS_COLUMNS.find((c) => c in first);
  const missing = ['open', 'high', 'low', 'close', 'volume'].filter((c) => !(c in first));
  if (!tsCol || missing.length > 0) {
    throw new InputError(
      `replay file ${file}: needs columns ts, open, high, low, close, volume (missing ${[...(tsCol ? [] : ['ts']), ...missing].join(', ')})`,
    );
  }
  const picked = 'symbol' in first ? rows.filter((r) => String(r['symbol']) === key) : rows;
  const bars = picked
    .map((r) => ({
      ts: toEpochMs(r[tsCol]),
      open: Number(r['open']),
      high: Number(r['high']),
      low: Number(r['low']),
      close: Number(r['close']),
      volume: Number(r['volume']),
      wap: r['wap'] === undefined || r['wap'] === null ? Number.NaN : Number(r['wap']),
      count: r['count'] === undefined || r['count'] === null ? 0 : Number(r['count']),
    }))
    .filter((b) => Number.isFinite(b.ts))
    .sort((a, b) => a.ts - b.ts);
  if (bars.length === 0) throw new InputError(`replay file ${file}: no bars for ${key}`);
  let interval = Number.POSITIVE_INFINITY;
  for (let i = 1; i < bars.length; i++) {
    const gap = (bars[i]?.ts as number) - (bars[i - 1]?.ts as number);
    if (gap > 0 && gap < interval) interval = gap;
  }
  if (!Number.isFinite(interval)) interval = 60_000;
  return {
    intervalMs: interval,
    ts: bars.map((b) => b.ts),
    open: bars.map((b) => b.open),
    high: bars.map((b) => b.high),
    low: bars.map((b) => b.low),
    close: bars.map((b) => b.close),
    volume: bars.map((b) => b.volume),
    wap: bars.map((b) => (Number.isFinite(b.wap) ? b.wap : (b.high + b.low + b.close) / 3)),
    count: bars.map((b) => b.count),
  };
}

function toEpochMs(v: unknown): number {
  if (typeof v === 'number') return v < 1e11 ? v * 1000 : v;
  if (typeof v === 'string') return /^\d+$/.test(v) ? toEpochMs(Number(v)) : Date.parse(v);
  return Number.NaN;
}

/** Index of the first bar starting at or after t. */
export function lowerBound(ts: readonly number[], t: number): number {
  let lo = 0;
  let hi = ts.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if ((ts[mid] as number) < t) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}
