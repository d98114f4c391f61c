import { existsSync } from 'node:fs';
import type { Session } from '../../../calendar/trading-calendar.js';
import { addDays } from '../../../core/dates.js';
import { sqlString } from '../../../core/sql.js';
import type { DqFailureRecord, DqResultRecord } from '../../../pipelines/transform-pipeline.js';
import type { LakeRow } from '../../../storage/lake.js';
import { coverageCell, expectedBarsAt, missingRuns, regularSessionLength, type CoverageCell, type CuratedAggregate, type MissingRun, type StoredSlot } from '../coverage-math.js';
import { checkDate, latestPerScope, type DashboardContext } from '../dashboard-context.js';

// The gap report page: one instrument's session in detail.

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

/** Everything known about one instrument's session: missing runs, imputed bars, quarantined rows, DQ. */
export async function gapReport(ctx: DashboardContext, symbol: string, date: string): Promise<GapReportView> {
  ctx.checkSymbol(symbol);
  checkDate(date);
  const now = ctx.now();
  const cal = ctx.src.calendars.calendarFor(symbol);
  const session = cal.session(date) ?? null;
  const regular = regularSessionLength(cal.sessionsInRange(addDays(date, -28), addDays(date, 28)));
  const freq = ctx.freqMs;
  const file = ctx.curatedFile(date);
  const hasCurated = existsSync(file);
  const stored = new Map<number, StoredSlot>();
  let agg: CuratedAggregate | undefined;
  if (hasCurated) {
    const rows = await ctx.src.lake.query<{ ts: number; is_imputed: boolean | null; imputation: string | null; close: number | null }>(
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
  const quarantineFile = ctx.quarantineFile(date);
  const quarantined = existsSync(quarantineFile)
    ? await ctx.src.lake.query(
        `SELECT ts, stage, rule, reason, other_rules, open, high, low, close, volume, batch_id FROM read_parquet(${sqlString(quarantineFile)}, hive_partitioning = false) WHERE symbol = ${sqlString(symbol)} ORDER BY ts NULLS FIRST, stage, rule LIMIT 1000`,
      )
    : [];
  const cell = coverageCell({ symbol, date, session: session ?? undefined, regularLengthMs: regular, freqMs: freq, now, curated: agg, curatedPartition: hasCurated, quarantined: quarantined.length });
  const starts = session ? cal.expectedBarStarts(session, freq).slice(0, expectedBarsAt(session, freq, now)) : [];
  const runs = missingRuns(starts, stored);

  const rawFiles = ctx.src.rawStore.visibleFiles(ctx.src.settings.tws.historical_bar_size, [date]).get(date) ?? [];
  let raw = { rows: 0, bars: 0 };
  if (rawFiles.length > 0) {
    const [r] = await ctx.src.lake.query<{ rows: number; bars: number }>(
      `SELECT count(*) AS rows, count(DISTINCT ts) AS bars FROM read_parquet([${rawFiles.map(sqlString).join(', ')}], hive_partitioning = false, union_by_name = true) WHERE symbol = ${sqlString(symbol)}`,
    );
    if (r) raw = r;
  }

  const dqRecords = latestPerScope(ctx.dqLedger.readAll().filter((r) => r.date === date && r.symbols.includes(symbol)));
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
