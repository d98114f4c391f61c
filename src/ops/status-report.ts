import type { AppContext } from './app-context.js';
import { JobLedger } from './job-ledger.js';
import { barSizeMs } from '../core/bars.js';
import { resolveBarDatasets } from '../pipelines/bar-datasets.js';
import { latestWindowRecords, unbackedWindows } from '../data-sources/tws/backfill-ledger.js';
import { expectedBarStartsIn } from '../calendar/expected-bars.js';
import { openStateLedger, type DqResultRecord, type LiveGapRecord } from '../storage/state-ledgers.js';

export interface CoverageRow {
  symbol: string;
  date: string;
  expected: number;
  stored: number;
  missing: number;
  /** stored / expected (1 = complete); null on a day the exchange was closed. */
  ratio: number | null;
}

/** A backfill window recorded done whose rows are not in raw: the next backfill requests it again. */
export interface UnbackedWindowRow {
  symbol: string;
  session_date: string;
  batch_id: string;
  reason: string;
}

/** A live gap whose repair failed and whose bars are still not all stored. */
export interface LiveGapRow {
  symbol: string;
  /** The bar dataset of the stream, when not the classic one. */
  dataset?: string;
  /** Instants in epoch ms (printed as ISO 8601, see STATUS_REPORT_INSTANTS). */
  from: number;
  to: number;
  expected: number;
  stored: number;
  attempts: number;
  error: string | null;
  failed_at: number;
}

export interface StatusReport {
  coverage: CoverageRow[];
  unbacked_windows: UnbackedWindowRow[];
  /** Live gaps the daemon could not repair and that nothing has filled since. */
  live_gaps: LiveGapRow[];
  /** `started_at` in epoch ms (the CLI prints it as ISO 8601, see STATUS_REPORT_INSTANTS). */
  jobs: { job: string; status: string; trigger: string; started_at: number; duration_ms: number | null; error: string | null }[];
  dq: { date: string; severity: string; published: boolean; quarantined: number; imputed: number; unfilled: number; failing_rules: string }[];
}

/** Paths of the report's instants (epoch ms), in InstantFormatter.paths syntax (src/cli/instant-format.ts). */
export const STATUS_REPORT_INSTANTS: readonly string[] = ['jobs[].started_at', 'live_gaps[].from', 'live_gaps[].to', 'live_gaps[].failed_at'];

/**
 * What `ibpipe status` prints: raw coverage per symbol and session (stored distinct bars vs the
 * calendar's expected bars), backfill windows the ledger calls done whose rows are not in raw,
 * live gaps whose repair failed, the last run of every job, and the latest DQ result per date.
 */
export async function buildStatusReport(app: AppContext, options: { lastDates?: number } = {}): Promise<StatusReport> {
  const barSize = app.settings.tws.historical_bar_size;
  const dates = app.rawStore.listDates(barSize).slice(-(options.lastDates ?? 10));
  const coverage: CoverageRow[] = [];
  if (dates.length > 0) {
    const counts = await app.lake.query<{ symbol: string; date: string; n: number }>(
      `SELECT symbol, date, count(DISTINCT ts) AS n FROM ${app.rawStore.relationSql({ start: dates[0] as string, end: dates[dates.length - 1] as string, barSize, presentOnly: true })} GROUP BY symbol, date`,
    );
    const stored = new Map(counts.map((c) => [`${c.symbol}|${c.date}`, c.n]));
    for (const inst of app.settings.instruments) {
      const cal = app.calendars.calendarFor(inst.key);
      for (const date of dates) {
        const session = cal.session(date);
        const expected = session ? cal.expectedBarStarts(session, barSizeMs(barSize)).length : 0;
        const n = stored.get(`${inst.key}|${date}`) ?? 0;
        coverage.push({ symbol: inst.key, date, expected, stored: n, missing: Math.max(0, expected - n), ratio: expected ? Math.round((n / expected) * 1000) / 1000 : null });
      }
    }
  }
  const ledger = new JobLedger(app.lake, app.clock);
  const lastByJob = new Map<string, ReturnType<JobLedger['runs']>[number]>();
  for (const r of ledger.runs()) lastByJob.set(r.job, r);
  const jobs = [...lastByJob.values()].map((r) => ({
    job: r.job,
    status: r.status,
    trigger: r.trigger,
    started_at: r.started_at,
    duration_ms: r.duration_ms,
    error: r.error?.message ?? null,
  }));
  const dqLatest = new Map<string, DqResultRecord>();
  for (const r of openStateLedger(app.lake, 'dq_results').readAll()) dqLatest.set(r.date, r);
  const dq = [...dqLatest.values()]
    .sort((a, b) => a.date.localeCompare(b.date))
    .slice(-(options.lastDates ?? 10))
    .map((r) => ({
      date: r.date,
      severity: r.severity,
      published: r.published,
      quarantined: r.quarantined,
      imputed: r.gaps.imputed,
      unfilled: r.gaps.unfilled,
      failing_rules: r.failing_rules.join(' '),
    }));
  const done = [...latestWindowRecords(openStateLedger(app.lake, 'backfill_windows').readAll()).values()].filter(
    (r) => r.status === 'ok' || r.status === 'no-data',
  );
  const unbacked_windows = unbackedWindows(done, app.rawStore)
    .map((u) => ({ symbol: u.record.instrument, session_date: u.record.session_date, batch_id: u.record.batch_id ?? '', reason: u.reason }))
    .sort((a, b) => a.symbol.localeCompare(b.symbol) || a.session_date.localeCompare(b.session_date));
  return { coverage, unbacked_windows, live_gaps: await unrepairedLiveGaps(app), jobs, dq };
}

/**
 * Failed live-gap repairs (state/live_gaps.jsonl) not followed by a repair of the same gap,
 * checked against the data: a gap whose expected bars are all stored by now (a restart's
 * catch-up, a backfill) is not listed.
 */
async function unrepairedLiveGaps(app: AppContext): Promise<LiveGapRow[]> {
  const latest = new Map<string, LiveGapRecord>();
  for (const r of openStateLedger(app.lake, 'live_gaps').readAll()) {
    // Per stream: a gap of one series is repaired (or not) on its own.
    if (r.type === 'live_gap') latest.set(`${r.symbol}|${r.dataset ?? ''}|${r.from}|${r.to}`, r);
  }
  const datasets = resolveBarDatasets(app.settings);
  const known = new Set(app.settings.instruments.map((i) => i.key));
  const rows: LiveGapRow[] = [];
  for (const g of latest.values()) {
    if (g.status !== 'failed' || !known.has(g.symbol)) continue;
    // The classic stream's gaps (no dataset) are checked in its partition, another's in its dataset's.
    const ds = g.dataset === undefined ? undefined : datasets.find((d) => d.name === g.dataset);
    if (g.dataset !== undefined && ds === undefined) continue;
    const barSize = ds?.barSize ?? app.settings.tws.historical_bar_size;
    const series = ds?.series ?? null;
    const cal = app.calendars.calendarFor(g.symbol);
    const expected = expectedBarStartsIn(cal, g.from, g.to, barSizeMs(barSize)).length;
    const rel = app.rawStore.relationSql({ start: cal.sessionDateOf(g.from), end: cal.sessionDateOf(g.to - 1), barSize, series, symbols: [g.symbol], presentOnly: true });
    const [stored] = await app.lake.query<{ n: number }>(
      `SELECT count(DISTINCT ts) AS n FROM ${rel} WHERE epoch_ms(ts) >= ${Math.trunc(g.from)} AND epoch_ms(ts) < ${Math.trunc(g.to)}`,
    );
    const n = stored?.n ?? 0;
    if (n >= expected) continue;
    rows.push({
      symbol: g.symbol,
      ...(g.dataset === undefined ? {} : { dataset: g.dataset }),
      from: g.from,
      to: g.to,
      expected,
      stored: n,
      attempts: g.attempts,
      error: g.error ?? null,
      failed_at: g.recorded_at,
    });
  }
  return rows.sort((a, b) => a.symbol.localeCompare(b.symbol) || a.from - b.from);
}
