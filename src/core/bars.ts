/** Bar sizes ibpipe knows, as IB spells them, with their length in ms. */
export const BAR_SIZES = {
  '5 secs': 5_000,
  '1 min': 60_000,
  '5 mins': 300_000,
  '15 mins': 900_000,
  '1 hour': 3_600_000,
  '1 day': 86_400_000,
} as const;
export type BarSize = keyof typeof BAR_SIZES;

/** Lake spelling of a bar size (`bar_size=1min` partition value, `bars_1min` dataset). */
export const BAR_SIZE_TOKENS: Record<BarSize, string> = {
  '5 secs': '5s',
  '1 min': '1min',
  '5 mins': '5min',
  '15 mins': '15min',
  '1 hour': '1h',
  '1 day': '1d',
};

const SERIES = /^[A-Z_]{1,16}$/;

/**
 * The `bar_size=` partition value of raw files: `1min`, `1d`; a bar dataset with its own
 * what_to_show gets a partition of its own, `1min-bid`, `1min-bidask` (pipelines/bar-datasets.ts).
 */
export function rawPartitionToken(barSize: BarSize, series?: string | null): string {
  const token = BAR_SIZE_TOKENS[barSize];
  if (!series) return token;
  if (!SERIES.test(series)) throw new RangeError(`what_to_show ${JSON.stringify(series)}: expected an IB series such as MIDPOINT`);
  return `${token}-${series.toLowerCase().replaceAll('_', '')}`;
}

export function barSizeMs(size: BarSize): number {
  return BAR_SIZES[size];
}

/** Frequency strings used in config (`1min`, `5min`, `5s`, `1h`, `1d`) to milliseconds. */
export function frequencyMs(freq: string): number {
  const m = /^(\d+)(s|min|h|d)$/.exec(freq);
  if (!m) throw new RangeError(`frequency ${JSON.stringify(freq)}: expected e.g. 5s, 1min, 5min, 1h, 1d`);
  const n = Number(m[1]);
  const unit = { s: 1_000, min: 60_000, h: 3_600_000, d: 86_400_000 }[m[2] as 's' | 'min' | 'h' | 'd'];
  return n * unit;
}

/**
 * One bar as the ingestion layer produces it: UTC epoch-ms bar start, numbers as IB sends them.
 * `source` is TWS, FILE or DB; `requestId` names the IB request (or file) that produced it.
 */
export interface BarEvent {
  source: string;
  symbol: string;
  conId: number | null;
  barSize: BarSize;
  whatToShow: string;
  ts: number;
  open: number;
  high: number;
  low: number;
  close: number;
  volume: number;
  wap: number | null;
  tradeCount: number | null;
  requestId: string | null;
}

/** Columns that carry a `<column>_imputed` gap-mask column in curated data. */
export const CURATED_MASK_COLUMNS = ['open', 'high', 'low', 'close', 'volume', 'wap', 'trade_count'] as const;
export type CuratedValueColumn = (typeof CURATED_MASK_COLUMNS)[number];
