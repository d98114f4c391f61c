import { existsSync } from 'node:fs';
import type { Session, TradingCalendar } from '../../../calendar/trading-calendar.js';
import { addDays, parseDateLabel } from '../../../core/dates.js';
import { InputError } from '../../../core/errors.js';
import { sqlString } from '../../../core/sql.js';
import { coverageCell, heatmapDates, regularSessionLength, weekdaysBack, type CoverageCell, type CuratedAggregate } from '../coverage-math.js';
import { checkDate, type DashboardContext } from '../dashboard-context.js';

// The coverage page: one cell per (instrument, session date) of a window.

export interface CoverageQuery {
  start?: string;
  end?: string;
  /** Weekday columns when start is not given (default 30). */
  days?: number;
}

export interface CoverageView {
  readonly start: string;
  readonly end: string;
  readonly dates: string[];
  readonly rows: { symbol: string; calendar: string; cells: CoverageCell[] }[];
  /** First and last session dates holding curated or raw data, null for an empty lake. */
  readonly firstDataDate: string | null;
  readonly lastDataDate: string | null;
  readonly dataset: string;
  readonly now: number;
}

/** Per-file values keyed by the date of each file (`files[i]` is the file of `dates[i]`); dates without a value left out. */
function byDate<V>(dates: readonly string[], files: readonly string[], byFile: ReadonlyMap<string, V>): Map<string, V> {
  const out = new Map<string, V>();
  dates.forEach((d, i) => {
    const v = byFile.get(files[i] as string);
    if (v) out.set(d, v);
  });
  return out;
}

/** Per date, per symbol: rows, observed, imputed and unfilled bars of the curated partition (cached per file). */
async function curatedAggregates(ctx: DashboardContext, dates: readonly string[]): Promise<Map<string, Map<string, CuratedAggregate>>> {
  const files = dates.map((d) => ctx.curatedFile(d));
  const byFile = await ctx.curatedAgg.getMany(files, async (stale) => {
    const rows = await ctx.src.lake.query<{ file: string; symbol: string; rows: number; observed: number; imputed: number; unfilled: number }>(
      `SELECT filename AS file, symbol, count(*) AS rows,
              count(*) FILTER (WHERE NOT coalesce(is_imputed, false)) AS observed,
              count(*) FILTER (WHERE coalesce(is_imputed, false)) AS imputed,
              count(*) FILTER (WHERE coalesce(is_imputed, false) AND close IS NULL) AS unfilled
         FROM read_parquet([${stale.map(sqlString).join(', ')}], filename = true, hive_partitioning = false)
        GROUP BY ALL`,
    );
    const out = new Map<string, Map<string, CuratedAggregate>>(stale.map((f) => [f, new Map()]));
    for (const r of rows) out.get(r.file)?.set(r.symbol, { rows: r.rows, observed: r.observed, imputed: r.imputed, unfilled: r.unfilled });
    return out;
  });
  return byDate(dates, files, byFile);
}

/** Per date, per symbol: quarantined rows (cached per file). */
async function quarantineCounts(ctx: DashboardContext, dates: readonly string[]): Promise<Map<string, Map<string, number>>> {
  const files = dates.map((d) => ctx.quarantineFile(d));
  const byFile = await ctx.quarantineAgg.getMany(files, async (stale) => {
    const rows = await ctx.src.lake.query<{ file: string; symbol: string; n: number }>(
      `SELECT filename AS file, symbol, count(*) AS n FROM read_parquet([${stale.map(sqlString).join(', ')}], filename = true, hive_partitioning = false) GROUP BY ALL`,
    );
    const out = new Map<string, Map<string, number>>(stale.map((f) => [f, new Map()]));
    for (const r of rows) out.get(r.file)?.set(r.symbol, r.n);
    return out;
  });
  return byDate(dates, files, byFile);
}

/** Sessions per calendar in [start, end] and each calendar's regular session length. */
function calendarTables(ctx: DashboardContext, start: string, end: string): Map<TradingCalendar, { sessions: Map<string, Session>; regular: number }> {
  const out = new Map<TradingCalendar, { sessions: Map<string, Session>; regular: number }>();
  for (const symbol of ctx.symbols()) {
    const cal = ctx.src.calendars.calendarFor(symbol);
    if (out.has(cal)) continue;
    const sessions = new Map(cal.sessionsInRange(start, end).map((s) => [s.date, s]));
    const regular = regularSessionLength(cal.sessionsInRange(addDays(start, -28), addDays(end, 28)));
    out.set(cal, { sessions, regular });
  }
  return out;
}

/** Coverage of every configured instrument over a window of session dates. */
export async function coverageView(ctx: DashboardContext, q: CoverageQuery = {}): Promise<CoverageView> {
  const now = ctx.now();
  const { first, last } = ctx.dataDateRange();
  const today = ctx.src.calendars.calendarFor(ctx.symbols()[0] as string).sessionDateOf(now);
  const end = q.end ? checkDate(q.end, 'end') : (last ?? today);
  const days = Math.max(1, Math.min(250, Math.trunc(q.days ?? 30)));
  let start = q.start ? checkDate(q.start, 'start') : weekdaysBack(end, days);
  if (!q.start && first && first > start && first <= end) start = first;
  if (start > end) throw new InputError(`start ${start} is after end ${end}`);
  if (parseDateLabel(end) - parseDateLabel(start) > 400 * 86_400_000) throw new InputError('the window may span at most 400 days');

  const tables = calendarTables(ctx, start, end);
  const sessionDates = new Set<string>();
  for (const t of tables.values()) for (const d of t.sessions.keys()) sessionDates.add(d);
  const dates = heatmapDates(start, end, sessionDates);
  const withCurated = dates.filter((d) => existsSync(ctx.curatedFile(d)));
  const [agg, quarantine] = await Promise.all([curatedAggregates(ctx, withCurated), quarantineCounts(ctx, dates.filter((d) => existsSync(ctx.quarantineFile(d))))]);
  const freq = ctx.freqMs;
  const rows = ctx.src.settings.instruments.map((inst) => {
    const cal = ctx.src.calendars.calendarFor(inst.key);
    const t = tables.get(cal) as { sessions: Map<string, Session>; regular: number };
    const cells = dates.map((date) =>
      coverageCell({
        symbol: inst.key,
        date,
        session: t.sessions.get(date),
        regularLengthMs: t.regular,
        freqMs: freq,
        now,
        curated: agg.get(date)?.get(inst.key),
        curatedPartition: agg.has(date),
        quarantined: quarantine.get(date)?.get(inst.key) ?? 0,
      }),
    );
    return { symbol: inst.key, calendar: inst.calendar, cells };
  });
  return { start, end, dates, rows, firstDataDate: first, lastDataDate: last, dataset: ctx.dataset, now };
}
