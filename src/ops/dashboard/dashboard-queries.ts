import { existsSync, readdirSync } from 'node:fs';
import { Cron } from 'croner';
import type { InstrumentCalendars } from '../../calendar/instrument-calendars.js';
import type { Session, TradingCalendar } from '../../calendar/trading-calendar.js';
import type { Settings } from '../../config/settings.js';
import { frequencyMs } from '../../core/bars.js';
import type { Clock } from '../../core/clock.js';
import { addDays, parseDateLabel } from '../../core/dates.js';
import { InputError } from '../../core/errors.js';
import { assertInstrumentKey } from '../../core/instruments.js';
import { sqlIdent, sqlString } from '../../core/sql.js';
import { type BackfillLedgerRecord, type BackfillStatus } from '../../data-sources/tws/backfill-ledger.js';
import { curatedDatasetFor, TRANSFORM_SOURCE_DATASET, type DqFailureRecord, type DqResultRecord } from '../../pipelines/transform-pipeline.js';
import type { FeatureRegistryRecord } from '../../storage/feature-store.js';
import type { Lake, LakeRow } from '../../storage/lake.js';
import type { RawStore } from '../../storage/raw-store.js';
import { JsonlLedger } from '../../storage/state-store.js';
import type { HealthReport, MarketDataService } from '../daemon.js';
import { JobLedger, type JobRunRecord } from '../job-ledger.js';
import {
  coverageCell,
  expectedBarsAt,
  heatmapDates,
  missingRuns,
  regularSessionLength,
  weekdaysBack,
  type CoverageCell,
  type CuratedAggregate,
  type MissingRun,
  type StoredSlot,
} from './coverage-math.js';
import { FileAggregateCache } from './file-aggregate-cache.js';
import { stateLedgerPath } from '../../storage/state-ledgers.js';

const DATE = /^\d{4}-\d{2}-\d{2}$/;
const DATE_DIR = /^date=(\d{4}-\d{2}-\d{2})$/;
const NAME = /^[A-Za-z0-9._-]{1,64}$/;
const COLUMN = /^[a-z][a-z0-9_]{0,62}$/;

/** What the daemon offers the dashboard; absent when `ibpipe dashboard` serves a lake alone. */
export interface DashboardDaemon {
  health(): HealthReport;
  readonly scheduler: { nextRuns(): { job: string; next: number | null }[]; running(): string[] };
  readonly ledger: JobLedger;
  readonly market: MarketDataService | null;
}

/** The pieces of the app context the dashboard reads (never writes). */
export interface DashboardSource {
  readonly settings: Readonly<Settings>;
  readonly clock: Clock;
  readonly lake: Lake;
  readonly calendars: InstrumentCalendars;
  readonly rawStore: Pick<RawStore, 'visibleFiles' | 'listDates' | 'latestBarTimes'>;
}

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

export interface GapReportView {
  readonly symbol: string;
  readonly date: string;
  readonly calendar: string;
  readonly timezone: string;
  readonly session: Session | null;
  readonly regularLengthMs: number;
  readonly cell: CoverageCell;
  readonly runs: MissingRun[];
  /** Raw rows stored for the session (every version) and distinct bar starts among them. */
  readonly raw: { rows: number; bars: number };
  readonly quarantined: LakeRow[];
  readonly dq: { run_at: number; severity: string; published: boolean; session: DqResultRecord['sessions'][number] | null; failures: DqFailureRecord[] } | null;
}

export interface DqOverview {
  readonly dates: string[];
  readonly rules: { name: string; type: string; severity: string; action: string }[];
  /** failures[rule][i] for dates[i] (null: rule not evaluated that date). */
  readonly failures: Record<string, (number | null)[]>;
  readonly latest: DqResultRecord | null;
  readonly runs: number;
}

export interface DqDateView {
  readonly date: string;
  readonly records: DqResultRecord[];
}

export interface QuarantineView {
  readonly date: string;
  readonly dataset: string;
  readonly symbol: string | null;
  readonly rule: string | null;
  readonly total: number;
  readonly rows: LakeRow[];
  readonly byRule: { rule: string; stage: string; n: number }[];
}

export interface JobSummary {
  readonly name: string;
  readonly kind: string;
  readonly schedule: string | null;
  readonly timezone: string | null;
  readonly enabled: boolean;
  readonly configured: boolean;
  readonly last: JobRunRecord | null;
  readonly lastOk: JobRunRecord | null;
  readonly next: number | null;
  /** `scheduler`: the running daemon's armed timer; `schedule`: computed from the cron expression. */
  readonly nextSource: 'scheduler' | 'schedule' | null;
  readonly okRuns: number;
  readonly failedRuns: number;
  readonly meanDurationMs: number | null;
  readonly running: boolean;
}

export interface BackfillRow {
  readonly instrument: string;
  readonly windows: number;
  readonly byStatus: Record<BackfillStatus, number>;
  readonly bars: number;
  readonly firstDate: string | null;
  readonly lastDate: string | null;
  readonly lastRecordedAt: number | null;
  readonly headTs: number | null;
  readonly lastError: string | null;
}

export interface FeatureChoice {
  readonly group: string;
  readonly version: string;
  readonly column: string;
}

export interface SeriesView {
  readonly symbol: string;
  readonly date: string;
  readonly timezone: string;
  readonly feature: FeatureChoice | null;
  readonly catalog: FeatureChoice[];
  readonly ts: number[];
  readonly close: (number | null)[];
  readonly imputed: boolean[];
  readonly imputation: (string | null)[];
  readonly featureValues: (number | null)[] | null;
  readonly featureMissing: string | null;
  readonly predictions: { model: string; date: string; columns: { name: string; type: string }[]; rows: LakeRow[] }[];
}

export interface LiveView {
  readonly mode: 'daemon' | 'no-daemon';
  readonly now: number;
  readonly connected: boolean | null;
  readonly health: HealthReport | null;
  readonly instruments: { symbol: string; lastBar: number | null; ageS: number | null; open: boolean; source: 'live' | 'stored' }[];
  readonly pacing: Record<string, unknown> | null;
}

type Mutable<T> = { -readonly [K in keyof T]: T[K] };

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function checkDate(date: string, what = 'date'): string {
  if (!DATE.test(date)) throw new InputError(`${what} must be YYYY-MM-DD, got ${JSON.stringify(date)}`);
  parseDateLabel(date, what);
  return date;
}

function dateDirs(dir: string): string[] {
  if (!existsSync(dir)) return [];
  const out: string[] = [];
  for (const d of readdirSync(dir)) {
    const m = DATE_DIR.exec(d);
    if (m) out.push(m[1] as string);
  }
  return out.sort();
}

/** Latest record per (dataset, symbol set) of one date: a re-run for the same symbols replaces the earlier one. */
function latestPerScope(records: readonly DqResultRecord[]): DqResultRecord[] {
  const by = new Map<string, DqResultRecord>();
  for (const r of records) {
    const key = `${r.dataset}|${[...r.symbols].sort().join(',')}`;
    const cur = by.get(key);
    if (!cur || r.run_at >= cur.run_at) by.set(key, r);
  }
  return [...by.values()].sort((a, b) => a.run_at - b.run_at);
}

/**
 * Read-only queries behind the dashboard pages. Each page reads only what it shows: exact date
 * partitions (never a glob), aggregated in DuckDB, with per-file aggregates cached by mtime so
 * a reload of an unchanged lake touches no Parquet at all.
 */
export class DashboardQueries {
  readonly #src: DashboardSource;
  readonly #daemon: DashboardDaemon | null;
  readonly #curatedAgg = new FileAggregateCache<Map<string, CuratedAggregate>>();
  readonly #quarantineAgg = new FileAggregateCache<Map<string, number>>();
  readonly #dq: JsonlLedger<DqResultRecord>;
  readonly #backfill: JsonlLedger<BackfillLedgerRecord>;
  readonly #features: JsonlLedger<FeatureRegistryRecord>;
  readonly #ledger: JobLedger;

  constructor(src: DashboardSource, daemon: DashboardDaemon | null = null) {
    this.#src = src;
    this.#daemon = daemon;
    this.#dq = new JsonlLedger(stateLedgerPath(src.lake, 'dq_results'));
    this.#backfill = new JsonlLedger(stateLedgerPath(src.lake, 'backfill_windows'));
    this.#features = new JsonlLedger(stateLedgerPath(src.lake, 'feature_registry'));
    this.#ledger = daemon?.ledger ?? new JobLedger(src.lake, src.clock);
  }

  get daemon(): DashboardDaemon | null {
    return this.#daemon;
  }

  get settings(): Readonly<Settings> {
    return this.#src.settings;
  }

  get dataset(): string {
    return curatedDatasetFor(this.#src.settings.gaps);
  }

  get freqMs(): number {
    return frequencyMs(this.#src.settings.gaps.frequency);
  }

  now(): number {
    return this.#src.clock.now();
  }

  symbols(): string[] {
    return this.#src.settings.instruments.map((i) => i.key);
  }

  /** A configured instrument key (InputError otherwise: the dashboard never reads unknown names). */
  checkSymbol(symbol: string): string {
    assertInstrumentKey(symbol);
    if (!this.#src.calendars.has(symbol)) throw new InputError(`unknown instrument ${JSON.stringify(symbol)}`);
    return symbol;
  }

  #curatedFile(date: string): string {
    return this.#src.lake.path('curated', this.dataset, `date=${date}`, 'data.parquet');
  }

  #quarantineFile(date: string, dataset = TRANSFORM_SOURCE_DATASET): string {
    return this.#src.lake.path('quarantine', dataset, `date=${date}`, 'data.parquet');
  }

  /** Session dates with a curated partition, ascending. */
  curatedDates(): string[] {
    return dateDirs(this.#src.lake.path('curated', this.dataset)).filter((d) => existsSync(this.#curatedFile(d)));
  }

  #dataDateRange(): { first: string | null; last: string | null } {
    const curated = this.curatedDates();
    const raw = this.#src.rawStore.listDates(this.#src.settings.tws.historical_bar_size);
    const all = [curated[0], curated.at(-1), raw[0], raw.at(-1)].filter((d): d is string => d !== undefined).sort();
    return { first: all[0] ?? null, last: all.at(-1) ?? null };
  }

  async #curatedAggregates(dates: readonly string[]): Promise<Map<string, Map<string, CuratedAggregate>>> {
    const files = dates.map((d) => this.#curatedFile(d));
    const byFile = await this.#curatedAgg.getMany(files, async (stale) => {
      const rows = await this.#src.lake.query<{ file: string; symbol: string; rows: number; observed: number; imputed: number; unfilled: number }>(
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
    const out = new Map<string, Map<string, CuratedAggregate>>();
    dates.forEach((d, i) => {
      const v = byFile.get(files[i] as string);
      if (v) out.set(d, v);
    });
    return out;
  }

  async #quarantineCounts(dates: readonly string[]): Promise<Map<string, Map<string, number>>> {
    const files = dates.map((d) => this.#quarantineFile(d));
    const byFile = await this.#quarantineAgg.getMany(files, async (stale) => {
      const rows = await this.#src.lake.query<{ file: string; symbol: string; n: number }>(
        `SELECT filename AS file, symbol, count(*) AS n FROM read_parquet([${stale.map(sqlString).join(', ')}], filename = true, hive_partitioning = false) GROUP BY ALL`,
      );
      const out = new Map<string, Map<string, number>>(stale.map((f) => [f, new Map()]));
      for (const r of rows) out.get(r.file)?.set(r.symbol, r.n);
      return out;
    });
    const out = new Map<string, Map<string, number>>();
    dates.forEach((d, i) => {
      const v = byFile.get(files[i] as string);
      if (v) out.set(d, v);
    });
    return out;
  }

  /** Sessions per calendar in [start, end] and each calendar's regular session length. */
  #calendarTables(start: string, end: string): Map<TradingCalendar, { sessions: Map<string, Session>; regular: number }> {
    const out = new Map<TradingCalendar, { sessions: Map<string, Session>; regular: number }>();
    for (const symbol of this.symbols()) {
      const cal = this.#src.calendars.calendarFor(symbol);
      if (out.has(cal)) continue;
      const sessions = new Map(cal.sessionsInRange(start, end).map((s) => [s.date, s]));
      const regular = regularSessionLength(cal.sessionsInRange(addDays(start, -28), addDays(end, 28)));
      out.set(cal, { sessions, regular });
    }
    return out;
  }

  /** Coverage of every configured instrument over a window of session dates. */
  async coverage(q: CoverageQuery = {}): Promise<CoverageView> {
    const now = this.now();
    const { first, last } = this.#dataDateRange();
    const today = this.#src.calendars.calendarFor(this.symbols()[0] as string).sessionDateOf(now);
    const end = q.end ? checkDate(q.end, 'end') : (last ?? today);
    const days = Math.max(1, Math.min(250, Math.trunc(q.days ?? 30)));
    let start = q.start ? checkDate(q.start, 'start') : weekdaysBack(end, days);
    if (!q.start && first && first > start && first <= end) start = first;
    if (start > end) throw new InputError(`start ${start} is after end ${end}`);
    if (parseDateLabel(end) - parseDateLabel(start) > 400 * 86_400_000) throw new InputError('the window may span at most 400 days');

    const tables = this.#calendarTables(start, end);
    const sessionDates = new Set<string>();
    for (const t of tables.values()) for (const d of t.sessions.keys()) sessionDates.add(d);
    const dates = heatmapDates(start, end, sessionDates);
    const withCurated = dates.filter((d) => existsSync(this.#curatedFile(d)));
    const [agg, quarantine] = await Promise.all([this.#curatedAggregates(withCurated), this.#quarantineCounts(dates.filter((d) => existsSync(this.#quarantineFile(d))))]);
    const freq = this.freqMs;
    const rows = this.#src.settings.instruments.map((inst) => {
      const cal = this.#src.calendars.calendarFor(inst.key);
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
    return { start, end, dates, rows, firstDataDate: first, lastDataDate: last, dataset: this.dataset, now };
  }

  /** Everything known about one instrument's session: missing runs, imputed bars, quarantined rows, DQ. */
  async gapReport(symbol: string, date: string): Promise<GapReportView> {
    this.checkSymbol(symbol);
    checkDate(date);
    const now = this.now();
    const cal = this.#src.calendars.calendarFor(symbol);
    const session = cal.session(date) ?? null;
    const regular = regularSessionLength(cal.sessionsInRange(addDays(date, -28), addDays(date, 28)));
    const freq = this.freqMs;
    const file = this.#curatedFile(date);
    const hasCurated = existsSync(file);
    const stored = new Map<number, StoredSlot>();
    let agg: CuratedAggregate | undefined;
    if (hasCurated) {
      const rows = await this.#src.lake.query<{ ts: number; is_imputed: boolean | null; imputation: string | null; close: number | null }>(
        `SELECT ts, is_imputed, imputation, close FROM read_parquet(${sqlString(file)}, hive_partitioning = false) WHERE symbol = ${sqlString(symbol)} ORDER BY ts`,
      );
      let observed = 0;
      let imputed = 0;
      let unfilled = 0;
      for (const r of rows) {
        const imp = r.is_imputed === true;
        stored.set(r.ts, { imputed: imp, imputation: r.imputation });
        if (imp) {
          imputed++;
          if (r.close === null) unfilled++;
        } else observed++;
      }
      agg = { rows: rows.length, observed, imputed, unfilled };
    }
    const quarantineFile = this.#quarantineFile(date);
    const quarantined = existsSync(quarantineFile)
      ? await this.#src.lake.query(
          `SELECT ts, stage, rule, reason, other_rules, open, high, low, close, volume, batch_id FROM read_parquet(${sqlString(quarantineFile)}, hive_partitioning = false) WHERE symbol = ${sqlString(symbol)} ORDER BY ts NULLS FIRST, stage, rule LIMIT 1000`,
        )
      : [];
    const cell = coverageCell({ symbol, date, session: session ?? undefined, regularLengthMs: regular, freqMs: freq, now, curated: agg, curatedPartition: hasCurated, quarantined: quarantined.length });
    const starts = session ? cal.expectedBarStarts(session, freq).slice(0, expectedBarsAt(session, freq, now)) : [];
    const runs = missingRuns(starts, stored);

    const rawFiles = this.#src.rawStore.visibleFiles(this.#src.settings.tws.historical_bar_size, [date]).get(date) ?? [];
    let raw = { rows: 0, bars: 0 };
    if (rawFiles.length > 0) {
      const [r] = await this.#src.lake.query<{ rows: number; bars: number }>(
        `SELECT count(*) AS rows, count(DISTINCT ts) AS bars FROM read_parquet([${rawFiles.map(sqlString).join(', ')}], hive_partitioning = false, union_by_name = true) WHERE symbol = ${sqlString(symbol)}`,
      );
      if (r) raw = r;
    }

    const dqRecords = latestPerScope(this.#dq.readAll().filter((r) => r.date === date && r.symbols.includes(symbol)));
    const latest = dqRecords.at(-1);
    const dq = latest
      ? {
          run_at: latest.run_at,
          severity: latest.severity,
          published: latest.published,
          session: latest.sessions.find((s) => s.symbol === symbol) ?? null,
          failures: latest.failures.filter((f) => f.symbol === symbol),
        }
      : null;
    return { symbol, date, calendar: cal.name, timezone: cal.timezone, session, regularLengthMs: regular, cell, runs, raw, quarantined, dq };
  }

  /** Failures per rule per session date (latest run per scope), over the last `days` dates with results. */
  dqOverview(days = 30): DqOverview {
    const all = this.#dq.readAll();
    const byDate = new Map<string, DqResultRecord[]>();
    for (const r of all) {
      let list = byDate.get(r.date);
      if (!list) byDate.set(r.date, (list = []));
      list.push(r);
    }
    const dates = [...byDate.keys()].sort().slice(-Math.max(1, Math.min(250, days)));
    const rules = new Map<string, { name: string; type: string; severity: string; action: string }>();
    const failures: Record<string, (number | null)[]> = {};
    dates.forEach((date, i) => {
      for (const rec of latestPerScope(byDate.get(date) ?? [])) {
        for (const m of rec.rules) {
          if (!rules.has(m.name)) rules.set(m.name, { name: m.name, type: m.type, severity: m.severity, action: m.action });
          const row = (failures[m.name] ??= new Array<number | null>(dates.length).fill(null));
          row[i] = (row[i] ?? 0) + m.failures;
        }
      }
    });
    let latest: DqResultRecord | null = null;
    for (const r of all) if (!latest || r.run_at >= latest.run_at) latest = r;
    return { dates, rules: [...rules.values()], failures, latest, runs: all.length };
  }

  /** The latest DQ results of one session date. */
  dqDate(date: string): DqDateView {
    checkDate(date);
    return { date, records: latestPerScope(this.#dq.readAll().filter((r) => r.date === date)) };
  }

  /** Quarantined rows of a date, optionally one symbol and/or rule (at most `limit` rows listed). */
  async quarantine(date: string, opts: { symbol?: string | null; rule?: string | null; dataset?: string | null; limit?: number } = {}): Promise<QuarantineView> {
    checkDate(date);
    const dataset = opts.dataset ?? TRANSFORM_SOURCE_DATASET;
    if (!/^[a-z][a-z0-9_]{0,63}$/.test(dataset)) throw new InputError(`invalid dataset ${JSON.stringify(dataset)}`);
    const symbol = opts.symbol ? this.checkSymbol(opts.symbol) : null;
    const rule = opts.rule ?? null;
    if (rule !== null && !NAME.test(rule)) throw new InputError(`invalid rule name ${JSON.stringify(rule)}`);
    const file = this.#quarantineFile(date, dataset);
    if (!existsSync(file)) return { date, dataset, symbol, rule, total: 0, rows: [], byRule: [] };
    const rel = `read_parquet(${sqlString(file)}, hive_partitioning = false)`;
    const where = [symbol ? `symbol = ${sqlString(symbol)}` : null, rule ? `rule = ${sqlString(rule)}` : null].filter(Boolean).join(' AND ');
    const cond = where ? `WHERE ${where}` : '';
    const limit = Math.max(1, Math.min(5000, opts.limit ?? 500));
    const rows = await this.#src.lake.query(
      `SELECT symbol, ts, stage, rule, reason, other_rules, open, high, low, close, volume, batch_id, ingestion_ts FROM ${rel} ${cond} ORDER BY symbol, ts NULLS FIRST, stage, rule LIMIT ${limit}`,
    );
    const byRule = await this.#src.lake.query<{ rule: string; stage: string; n: number }>(`SELECT rule, stage, count(*) AS n FROM ${rel} ${cond} GROUP BY ALL ORDER BY n DESC, rule`);
    return { date, dataset, symbol, rule, total: byRule.reduce((s, r) => s + r.n, 0), rows, byRule };
  }

  /** Recent runs, newest first. */
  recentRuns(limit = 50): JobRunRecord[] {
    return this.#ledger.runs().slice(-limit).reverse();
  }

  /** One line per job: configured jobs first, then jobs seen only in the ledger (manual runs). */
  jobSummaries(): JobSummary[] {
    const runs = this.#ledger.runs();
    const now = this.now();
    const armed = new Map((this.#daemon?.scheduler.nextRuns() ?? []).map((n) => [n.job, n.next]));
    const running = new Set(this.#daemon?.scheduler.running() ?? []);
    const names = [...this.#src.settings.jobs.map((j) => j.name), ...runs.map((r) => r.job)];
    const out: JobSummary[] = [];
    for (const name of [...new Set(names)]) {
      const cfg = this.#src.settings.jobs.find((j) => j.name === name);
      const mine = runs.filter((r) => r.job === name && r.status !== 'skipped');
      const recent = mine.slice(-20);
      const okDurations = recent.filter((r) => r.status === 'ok' && r.duration_ms !== null).map((r) => r.duration_ms as number);
      let next: number | null = null;
      let nextSource: JobSummary['nextSource'] = null;
      if (this.#daemon && armed.has(name)) {
        next = armed.get(name) ?? null;
        nextSource = 'scheduler';
      } else if (cfg?.schedule && cfg.enabled) {
        const cron = new Cron(cfg.schedule, { timezone: cfg.timezone, paused: true });
        next = cron.nextRun(new Date(now))?.getTime() ?? null;
        cron.stop();
        nextSource = 'schedule';
      }
      out.push({
        name,
        kind: cfg?.job ?? cfg?.name ?? mine.at(-1)?.kind ?? name,
        schedule: cfg?.schedule ?? (cfg && cfg.after.length > 0 ? `after ${cfg.after.join(', ')}` : null),
        timezone: cfg?.schedule ? cfg.timezone : null,
        enabled: cfg?.enabled ?? false,
        configured: cfg !== undefined,
        last: mine.at(-1) ?? null,
        lastOk: [...mine].reverse().find((r) => r.status === 'ok') ?? null,
        next,
        nextSource,
        okRuns: recent.filter((r) => r.status === 'ok').length,
        failedRuns: recent.filter((r) => r.status === 'failed' || r.status === 'abandoned').length,
        meanDurationMs: okDurations.length > 0 ? okDurations.reduce((a, b) => a + b, 0) / okDurations.length : null,
        running: running.has(name) || mine.at(-1)?.status === 'running',
      });
    }
    return out;
  }

  /** Backfill ledger per instrument: the latest outcome of every window it recorded. */
  backfill(): BackfillRow[] {
    const windows = new Map<string, Extract<BackfillLedgerRecord, { type: 'window' }>>();
    const heads = new Map<string, number | null>();
    for (const r of this.#backfill.readAll()) {
      if (r.type === 'head') heads.set(r.instrument, r.head_ts);
      else windows.set([r.instrument, r.bar_size, r.what_to_show, r.use_rth ? 1 : 0, r.window_start, r.window_end].join('|'), r);
    }
    const by = new Map<string, Mutable<BackfillRow>>();
    for (const w of windows.values()) {
      let row = by.get(w.instrument);
      if (!row) {
        row = { instrument: w.instrument, windows: 0, byStatus: { ok: 0, 'no-data': 0, pacing: 0, error: 0, timeout: 0 }, bars: 0, firstDate: null, lastDate: null, lastRecordedAt: null, headTs: heads.get(w.instrument) ?? null, lastError: null };
        by.set(w.instrument, row);
      }
      row.windows++;
      row.byStatus[w.status]++;
      row.bars += w.bars ?? 0;
      row.lastRecordedAt = Math.max(row.lastRecordedAt ?? 0, w.recorded_at);
      if (w.status === 'ok' || w.status === 'no-data') {
        if (row.firstDate === null || w.session_date < row.firstDate) row.firstDate = w.session_date;
        if (row.lastDate === null || w.session_date > row.lastDate) row.lastDate = w.session_date;
      } else if (w.error) row.lastError = `${w.session_date}: ${w.error}`;
    }
    return [...by.values()].sort((a, b) => compare(a.instrument, b.instrument));
  }

  /** Every feature column of every registered group version that has files on disk. */
  featureCatalog(): FeatureChoice[] {
    const out: FeatureChoice[] = [];
    const seen = new Set<string>();
    for (const r of [...this.#features.readAll()].reverse()) {
      const key = `${r.group}|${r.version}`;
      if (seen.has(key) || !NAME.test(r.group) || !NAME.test(r.version)) continue;
      seen.add(key);
      if (!existsSync(this.#src.lake.path('features', r.group, `v=${r.version}`))) continue;
      for (const c of r.columns) if (COLUMN.test(c)) out.push({ group: r.group, version: r.version, column: c });
    }
    return out.sort((a, b) => compare(a.group, b.group) || compare(b.version, a.version) || compare(a.column, b.column));
  }

  /** Curated close of one session with imputed bars marked, one feature overlaid, latest predictions. */
  async series(symbol: string, date: string | null, feature: string | null): Promise<SeriesView> {
    this.checkSymbol(symbol);
    const d = date ? checkDate(date) : (this.curatedDates().at(-1) ?? this.#src.calendars.calendarFor(symbol).sessionDateOf(this.now()));
    const cal = this.#src.calendars.calendarFor(symbol);
    const catalog = this.featureCatalog();
    let choice: FeatureChoice | null = null;
    if (feature) {
      const [g, v, c] = feature.split(':');
      choice = catalog.find((f) => f.group === g && f.version === v && f.column === c) ?? null;
      if (!choice) throw new InputError(`unknown feature ${JSON.stringify(feature)}: expected group:version:column from the registry`);
    } else choice = catalog[0] ?? null;

    const file = this.#curatedFile(d);
    const bars = existsSync(file)
      ? await this.#src.lake.queryColumns(`SELECT ts, close, coalesce(is_imputed, false) AS imp, imputation FROM read_parquet(${sqlString(file)}, hive_partitioning = false) WHERE symbol = ${sqlString(symbol)} ORDER BY ts`)
      : { names: [], columns: [[], [], [], []] };
    const ts = (bars.columns[0] ?? []) as number[];
    let featureValues: (number | null)[] | null = null;
    let featureMissing: string | null = null;
    if (choice) {
      const ffile = this.#src.lake.path('features', choice.group, `v=${choice.version}`, `date=${d}`, 'data.parquet');
      if (existsSync(ffile)) {
        const fr = await this.#src.lake.queryColumns(
          `SELECT ts, CAST(${sqlIdent(choice.column)} AS DOUBLE) AS v FROM read_parquet(${sqlString(ffile)}, hive_partitioning = false) WHERE symbol = ${sqlString(symbol)}`,
        );
        const byTs = new Map<number, number | null>();
        const fts = (fr.columns[0] ?? []) as number[];
        const fv = (fr.columns[1] ?? []) as (number | null)[];
        fts.forEach((t, i) => byTs.set(t, fv[i] ?? null));
        featureValues = ts.map((t) => byTs.get(t) ?? null);
      } else featureMissing = `no ${choice.group} v${choice.version} partition for ${d}`;
    }
    return {
      symbol,
      date: d,
      timezone: cal.timezone,
      feature: choice,
      catalog,
      ts,
      close: (bars.columns[1] ?? []) as (number | null)[],
      imputed: (bars.columns[2] ?? []) as boolean[],
      imputation: (bars.columns[3] ?? []) as (string | null)[],
      featureValues,
      featureMissing,
      predictions: await this.#predictions(symbol, d),
    };
  }

  /** Per model: the newest predictions partition on or before `date`, this symbol's latest rows. */
  async #predictions(symbol: string, date: string): Promise<SeriesView['predictions']> {
    const root = this.#src.lake.path('predictions');
    if (!existsSync(root)) return [];
    const out: SeriesView['predictions'] = [];
    for (const model of readdirSync(root).filter((m) => NAME.test(m)).sort()) {
      const d = dateDirs(this.#src.lake.path('predictions', model))
        .filter((x) => x <= date && existsSync(this.#src.lake.path('predictions', model, `date=${x}`, 'data.parquet')))
        .at(-1);
      if (!d) continue;
      const file = sqlString(this.#src.lake.path('predictions', model, `date=${d}`, 'data.parquet'));
      const columns = (await this.#src.lake.query<{ column_name: string; column_type: string }>(`DESCRIBE SELECT * FROM read_parquet(${file}, hive_partitioning = false)`)).map((c) => ({
        name: c.column_name,
        type: c.column_type,
      }));
      const names = new Set(columns.map((c) => c.name));
      const order = ['scoring_ts', 'ts', 'as_of', 'prediction_ts'].find((c) => names.has(c));
      const where = names.has('symbol') ? `WHERE symbol = ${sqlString(symbol)}` : '';
      const rows = await this.#src.lake.query(`SELECT * FROM read_parquet(${file}, hive_partitioning = false) ${where} ${order ? `ORDER BY ${sqlIdent(order)} DESC` : ''} LIMIT 20`);
      out.push({ model, date: d, columns, rows });
    }
    return out;
  }

  /** Connection, last bar per instrument, pacing: from the daemon, or the stored bars when there is none. */
  async live(): Promise<LiveView> {
    const now = this.now();
    const symbols = this.symbols();
    const openNow = (s: string): boolean => this.#src.calendars.calendarFor(s).isOpen(now);
    if (this.#daemon) {
      const health = this.#daemon.health();
      const last = this.#daemon.market?.lastBarTimes() ?? {};
      return {
        mode: 'daemon',
        now,
        connected: health.connected,
        health,
        instruments: symbols.map((s) => {
          const t = last[s] ?? null;
          return { symbol: s, lastBar: t, ageS: t === null ? null : Math.round((now - t) / 1000), open: openNow(s), source: 'live' };
        }),
        pacing: this.#daemon.market?.pacing?.() ?? null,
      };
    }
    const stored = await this.#src.rawStore.latestBarTimes(this.#src.settings.tws.historical_bar_size, 3);
    return {
      mode: 'no-daemon',
      now,
      connected: null,
      health: null,
      instruments: symbols.map((s) => {
        const t = stored.get(s) ?? null;
        return { symbol: s, lastBar: t, ageS: t === null ? null : Math.round((now - t) / 1000), open: openNow(s), source: 'stored' };
      }),
      pacing: null,
    };
  }
}
