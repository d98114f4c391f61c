import { existsSync, readdirSync } from 'node:fs';
import type { InstrumentCalendars } from '../../calendar/instrument-calendars.js';
import type { Settings } from '../../config/settings.js';
import { frequencyMs } from '../../core/bars.js';
import type { Clock } from '../../core/clock.js';
import { parseDateLabel } from '../../core/dates.js';
import { InputError } from '../../core/errors.js';
import { assertInstrumentKey } from '../../core/instruments.js';
import { type BackfillLedgerRecord } from '../../data-sources/tws/backfill-ledger.js';
import { curatedDatasetFor, TRANSFORM_SOURCE_DATASET, type DqResultRecord } from '../../pipelines/transform-pipeline.js';
import type { FeatureRegistryRecord } from '../../storage/feature-store.js';
import type { Lake } from '../../storage/lake.js';
import type { RawStore } from '../../storage/raw-store.js';
import { JsonlLedger } from '../../storage/state-store.js';
import { stateLedgerPath } from '../../storage/state-ledgers.js';
import type { HealthReport, MarketDataService } from '../daemon.js';
import { JobLedger } from '../job-ledger.js';
import type { CuratedAggregate } from './coverage-math.js';
import { FileAggregateCache } from './file-aggregate-cache.js';

const DATE = /^\d{4}-\d{2}-\d{2}$/;
const DATE_DIR = /^date=(\d{4}-\d{2}-\d{2})$/;
/** A name the dashboard reads from the lake or the ledgers (group, version, rule, model). */
export const NAME = /^[A-Za-z0-9._-]{1,64}$/;

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

export function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** A YYYY-MM-DD date label from a request (InputError naming `what` otherwise). */
export function checkDate(date: string, what = 'date'): string {
  if (!DATE.test(date)) throw new InputError(`${what} must be YYYY-MM-DD, got ${JSON.stringify(date)}`);
  parseDateLabel(date, what);
  return date;
}

/** The dates of the `date=` folders under `dir`, ascending. */
export function dateDirs(dir: string): string[] {
  if (!existsSync(dir)) return [];
  const out: string[] = [];
  for (const d of readdirSync(dir)) {
    const m = DATE_DIR.exec(d);
    if (m) out.push(m[1] as string);
  }
  return out.sort();
}

/** Latest record per (dataset, symbol set) of one date: a re-run for the same symbols replaces the earlier one. */
export function latestPerScope(records: readonly DqResultRecord[]): DqResultRecord[] {
  const by = new Map<string, DqResultRecord>();
  for (const r of records) {
    const key = `${r.dataset}|${[...r.symbols].sort().join(',')}`;
    const cur = by.get(key);
    if (!cur || r.run_at >= cur.run_at) by.set(key, r);
  }
  return [...by.values()].sort((a, b) => a.run_at - b.run_at);
}

/**
 * What every dashboard page's queries read (pages/<page>-queries.ts): the app context's pieces,
 * the daemon if there is one, the state ledgers, and the per-file aggregate caches that outlive
 * a request (cached by mtime, so a reload of an unchanged lake touches no Parquet at all). Pages
 * read only what they show: exact date partitions (never a glob), aggregated in DuckDB.
 */
export class DashboardContext {
  readonly src: DashboardSource;
  readonly daemon: DashboardDaemon | null;
  readonly curatedAgg = new FileAggregateCache<Map<string, CuratedAggregate>>();
  readonly quarantineAgg = new FileAggregateCache<Map<string, number>>();
  readonly dqLedger: JsonlLedger<DqResultRecord>;
  readonly backfillLedger: JsonlLedger<BackfillLedgerRecord>;
  readonly featureRegistry: JsonlLedger<FeatureRegistryRecord>;
  readonly jobLedger: JobLedger;

  constructor(src: DashboardSource, daemon: DashboardDaemon | null = null) {
    this.src = src;
    this.daemon = daemon;
    this.dqLedger = new JsonlLedger(stateLedgerPath(src.lake, 'dq_results'));
    this.backfillLedger = new JsonlLedger(stateLedgerPath(src.lake, 'backfill_windows'));
    this.featureRegistry = new JsonlLedger(stateLedgerPath(src.lake, 'feature_registry'));
    this.jobLedger = daemon?.ledger ?? new JobLedger(src.lake, src.clock);
  }

  get settings(): Readonly<Settings> {
    return this.src.settings;
  }

  get dataset(): string {
    return curatedDatasetFor(this.src.settings.gaps);
  }

  get freqMs(): number {
    return frequencyMs(this.src.settings.gaps.frequency);
  }

  now(): number {
    return this.src.clock.now();
  }

  symbols(): string[] {
    return this.src.settings.instruments.map((i) => i.key);
  }

  /** A configured instrument key (InputError otherwise: the dashboard never reads unknown names). */
  checkSymbol(symbol: string): string {
    assertInstrumentKey(symbol);
    if (!this.src.calendars.has(symbol)) throw new InputError(`unknown instrument ${JSON.stringify(symbol)}`);
    return symbol;
  }

  curatedFile(date: string): string {
    return this.src.lake.path('curated', this.dataset, `date=${date}`, 'data.parquet');
  }

  quarantineFile(date: string, dataset = TRANSFORM_SOURCE_DATASET): string {
    return this.src.lake.path('quarantine', dataset, `date=${date}`, 'data.parquet');
  }

  /** Session dates with a curated partition, ascending. */
  curatedDates(): string[] {
    return dateDirs(this.src.lake.path('curated', this.dataset)).filter((d) => existsSync(this.curatedFile(d)));
  }

  /** First and last session dates holding curated or raw data (null for an empty lake). */
  dataDateRange(): { first: string | null; last: string | null } {
    const curated = this.curatedDates();
    const raw = this.src.rawStore.listDates(this.src.settings.tws.historical_bar_size);
    const all = [curated[0], curated.at(-1), raw[0], raw.at(-1)].filter((d): d is string => d !== undefined).sort();
    return { first: all[0] ?? null, last: all.at(-1) ?? null };
  }
}
