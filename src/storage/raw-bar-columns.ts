import { BAR_SIZES, rawPartitionToken, type BarEvent, type BarSize } from '../core/bars.js';
import { InputError } from '../core/errors.js';
import { isValidInstrumentKey } from '../core/instruments.js';
import { sqlEnum, sqlEnumConstant, sqlList, sqlString } from '../core/sql.js';

/** Maps an instrument key and an instant to its partition (trading session) date. */
export interface SessionDateResolver {
  /** Throws InputError for an unknown symbol. */
  sessionDateOf(symbol: string, ts: number): string;
  /**
   * The calendar of a symbol (throws InputError for an unknown one): writeRelation maps whole
   * hours of instants to dates per calendar instead of asking per row.
   */
  calendarFor(symbol: string): { sessionDateOf(instant: number): string };
  /** Every symbol it knows (the configured instruments). */
  symbols(): readonly string[];
}

/** Bars of one raw batch (a backfill page, a live flush, a file) under their own batch id. */
export interface RawBatchPart {
  readonly batchId: string;
  readonly events: readonly BarEvent[];
  /** Only rows of these session dates are kept (re-writing what a lost file held); all when absent. */
  readonly onlyDates?: ReadonlySet<string>;
  /** A bar dataset's own what_to_show: the rows go to its own raw partition (`bar_size=1min-bid`). */
  readonly series?: string | null | undefined;
}

/** Numeric columns handed to DuckDB per row (Lake.withDoubles); everything else is a per-row key into `keys`. */
export const NUMERIC_COLUMNS = ['ts', 'open', 'high', 'low', 'close', 'volume', 'wap', 'trade_count', 'key', 'date_no'] as const;

/** What stays constant along a run of rows: one entry per distinct combination. */
interface RowKey {
  readonly source: string;
  readonly symbol: string;
  readonly conId: number | null;
  readonly whatToShow: string;
  readonly requestId: string | null;
  readonly batchId: string;
}

/** Per part: rows kept and the session dates they fall on. */
export interface EncodedPart {
  readonly batchId: string;
  rows: number;
  readonly dates: Set<string>;
}

/**
 * Bars of several parts as typed-array columns plus small dictionaries: what crosses into DuckDB
 * for a raw write (no value objects, one Float64Array per numeric column). `sorted` is true when
 * the rows already come in (date, symbol, ts) order, so the write needs no sort.
 */
export interface EncodedRawBars {
  readonly rowCount: number;
  readonly barSize: BarSize;
  /** `bar_size=` partition value (rawPartitionToken of the bar size and the parts' series). */
  readonly partition: string;
  readonly columns: Float64Array[];
  readonly keys: readonly RowKey[];
  /** Session dates, indexed by `date_no`, with their row counts. */
  readonly dates: readonly { date: string; rows: number }[];
  readonly parts: readonly EncodedPart[];
  readonly sorted: boolean;
}

function validateEvent(e: BarEvent): string | null {
  if (typeof e.symbol !== 'string' || !isValidInstrumentKey(e.symbol)) return `symbol ${JSON.stringify(e.symbol)} is not a valid instrument key`;
  if (typeof e.source !== 'string' || e.source.length === 0) return 'source is empty';
  if (!(e.barSize in BAR_SIZES)) return `bar size ${JSON.stringify(e.barSize)} is unknown`;
  if (!Number.isSafeInteger(e.ts) || e.ts <= 0) return `ts ${String(e.ts)} is not an epoch-ms instant`;
  for (const k of ['open', 'high', 'low', 'close', 'volume'] as const) {
    if (typeof e[k] !== 'number') return `${k} is not a number`;
  }
  if (e.wap !== null && typeof e.wap !== 'number') return 'wap is not a number';
  if (e.tradeCount !== null && !Number.isInteger(e.tradeCount)) return 'tradeCount is not an integer';
  if (e.conId !== null && !Number.isInteger(e.conId)) return 'conId is not an integer';
  return null;
}

/** A part's session dates per row, computed once per run of one symbol when its ends agree. */
function partDates(part: RawBatchPart, dates: SessionDateResolver): string[] {
  const ev = part.events;
  const out: string[] = new Array(ev.length);
  let i = 0;
  while (i < ev.length) {
    const first = ev[i] as BarEvent;
    let j = i + 1;
    while (j < ev.length && (ev[j] as BarEvent).symbol === first.symbol && (ev[j] as BarEvent).ts > (ev[j - 1] as BarEvent).ts) j++;
    // [i, j) is one symbol in ascending time: session dates only move forward along it, so equal
    // dates at both ends mean one date throughout.
    const a = dates.sessionDateOf(first.symbol, first.ts);
    const b = j - 1 > i ? dates.sessionDateOf(first.symbol, (ev[j - 1] as BarEvent).ts) : a;
    if (a === b) out.fill(a, i, j);
    else for (let k = i; k < j; k++) out[k] = dates.sessionDateOf(first.symbol, (ev[k] as BarEvent).ts);
    i = j;
  }
  return out;
}

/**
 * Checks every row (before anything is written) and lays the parts out as columns. Parts are
 * ordered by (first date, first symbol, first ts), so pages of one symbol-session each come out
 * sorted and the write can skip its sort. Throws InputError naming the part and row.
 */
export function encodeRawBars(parts: readonly RawBatchPart[], dateResolver: SessionDateResolver): EncodedRawBars {
  const barSize = parts.find((p) => p.events.length > 0)?.events[0]?.barSize ?? '1 min';
  const series = parts[0]?.series ?? null;
  for (const p of parts) {
    if ((p.series ?? null) !== series) throw new InputError(`batch ${p.batchId}: what_to_show partition ${String(p.series ?? null)} differs from ${String(series)} in one group`);
  }
  const perPart = parts.map((part) => {
    part.events.forEach((e, i) => {
      const problem = validateEvent(e);
      if (problem) throw new InputError(`batch ${part.batchId}: row ${i}: ${problem}`, { details: { batchId: part.batchId, row: i } });
      if (e.barSize !== barSize) throw new InputError(`batch ${part.batchId}: row ${i}: bar size ${e.barSize} differs from ${barSize}`);
    });
    return { part, dates: partDates(part, dateResolver) };
  });
  const first = (p: (typeof perPart)[number]): [string, string, number] => [p.dates[0] ?? '', p.part.events[0]?.symbol ?? '', p.part.events[0]?.ts ?? 0];
  const ordered = [...perPart].sort((x, y) => {
    const [da, sa, ta] = first(x);
    const [db, sb, tb] = first(y);
    return da < db ? -1 : da > db ? 1 : sa < sb ? -1 : sa > sb ? 1 : ta - tb;
  });

  let n = 0;
  for (const { part, dates } of perPart) n += part.onlyDates ? dates.filter((d) => part.onlyDates?.has(d)).length : part.events.length;
  const columns = NUMERIC_COLUMNS.map(() => new Float64Array(n));
  const [ts, open, high, low, close, volume, wap, tradeCount, keyCol, dateCol] = columns as [Float64Array, Float64Array, Float64Array, Float64Array, Float64Array, Float64Array, Float64Array, Float64Array, Float64Array, Float64Array];
  const keys: RowKey[] = [];
  const keyIndex = new Map<string, number>();
  const dateIndex = new Map<string, number>();
  const dateRows: { date: string; rows: number }[] = [];
  const encodedParts: EncodedPart[] = [];
  let sorted = true;
  let prevDate = '';
  let prevSymbol = '';
  let prevTs = -Infinity;
  let r = 0;
  for (const { part, dates } of ordered) {
    const ep: EncodedPart = { batchId: part.batchId, rows: 0, dates: new Set() };
    encodedParts.push(ep);
    let last: BarEvent | undefined;
    let key = -1;
    let lastDate = '';
    let dateNo = -1;
    part.events.forEach((e, i) => {
      const date = dates[i] as string;
      if (part.onlyDates && !part.onlyDates.has(date)) return;
      if (!last || e.symbol !== last.symbol || e.conId !== last.conId || e.source !== last.source || e.whatToShow !== last.whatToShow || e.requestId !== last.requestId) {
        const k = `${e.source}\u0000${e.symbol}\u0000${e.conId ?? ''}\u0000${e.whatToShow}\u0000${e.requestId ?? '\u0001'}\u0000${part.batchId}`;
        key = keyIndex.get(k) ?? -1;
        if (key < 0) {
          key = keys.length;
          keyIndex.set(k, key);
          keys.push({ source: e.source, symbol: e.symbol, conId: e.conId, whatToShow: e.whatToShow, requestId: e.requestId, batchId: part.batchId });
        }
        last = e;
      }
      if (date !== lastDate) {
        dateNo = dateIndex.get(date) ?? -1;
        if (dateNo < 0) {
          dateNo = dateRows.length;
          dateIndex.set(date, dateNo);
          dateRows.push({ date, rows: 0 });
        }
        lastDate = date;
        ep.dates.add(date);
      }
      (dateRows[dateNo] as { rows: number }).rows++;
      if (sorted && (date < prevDate || (date === prevDate && (e.symbol < prevSymbol || (e.symbol === prevSymbol && e.ts < prevTs))))) sorted = false;
      prevDate = date;
      prevSymbol = e.symbol;
      prevTs = e.ts;
      ts[r] = e.ts;
      open[r] = e.open;
      high[r] = e.high;
      low[r] = e.low;
      close[r] = e.close;
      volume[r] = e.volume;
      wap[r] = e.wap ?? NaN;
      tradeCount[r] = e.tradeCount ?? NaN;
      keyCol[r] = key;
      dateCol[r] = dateNo;
      r++;
      ep.rows++;
    });
  }
  return { rowCount: n, barSize, partition: rawPartitionToken(barSize, series), columns, keys, dates: dateRows, parts: encodedParts, sorted };
}

/** `[v0, v1, …][key + 1]`, or the literal itself when every key has the same value. */
function lookup(values: readonly (string | number | null)[], type: 'VARCHAR' | 'BIGINT'): string {
  const lit = (v: string | number | null): string => (v === null ? 'NULL' : typeof v === 'number' ? String(v) : sqlString(v));
  if (values.every((v) => v === values[0])) return `CAST(${lit(values[0] ?? null)} AS ${type})`;
  return `CAST([${values.map(lit).join(', ')}][CAST(key AS INTEGER) + 1] AS ${type})`;
}

/**
 * lookup for a text attribute as an enum (see sqlEnum): the Parquet writer writes it from the
 * enum's dictionary instead of hashing every row's string (about 45 % of a commit's COPY for the
 * four attribute columns); read back, it is text. Not for `symbol`, whose row-group statistics prune.
 */
function enumLookup(values: readonly (string | null)[]): string {
  const first = values[0] ?? null;
  if (values.every((v) => v === first)) return first === null ? 'CAST(NULL AS VARCHAR)' : sqlEnumConstant(first);
  return `(${sqlList(values, 'VARCHAR')}::${sqlEnum(values)}[])[CAST(key AS INTEGER) + 1]`;
}

/**
 * SELECT over the relation of `columns` (see NUMERIC_COLUMNS; Lake.withDoubles, where NaN
 * reads as NULL) that yields the raw file's columns for one session date, in (symbol, ts) order.
 */
export function rawFileSelect(enc: EncodedRawBars, relation: string, dateNo: number, ingestionTs: number): string {
  const k = enc.keys;
  const cols = [
    `${enumLookup(k.map((x) => x.source))} AS source`,
    `${lookup(k.map((x) => x.symbol), 'VARCHAR')} AS symbol`,
    `${lookup(k.map((x) => x.conId), 'BIGINT')} AS con_id`,
    `${enumLookup(k.map((x) => x.whatToShow))} AS what_to_show`,
    `CAST(epoch_ms(CAST(ts AS BIGINT)) AS TIMESTAMPTZ) AS ts`,
    'open, high, low, close, volume, wap',
    `CAST(trade_count AS BIGINT) AS trade_count`,
    `${enumLookup(k.map((x) => x.batchId))} AS batch_id`,
    `CAST(epoch_ms(CAST(${Math.trunc(ingestionTs)} AS BIGINT)) AS TIMESTAMPTZ) AS ingestion_ts`,
    `${enumLookup(k.map((x) => x.requestId))} AS request_id`,
  ];
  // Rows in order stay in order (one scan thread, a projection and a filter): the sort is only
  // paid for batches that arrive unordered (a live flush of many symbols).
  return `SELECT ${cols.join(', ')} FROM ${relation} WHERE date_no = ${dateNo}${enc.sorted ? '' : ' ORDER BY symbol, ts'}`;
}
