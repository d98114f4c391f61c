import type { Command } from 'commander';
import type { TradingCalendar } from '../calendar/trading-calendar.js';
import { dateLabelsBetween } from '../core/dates.js';
import { DataQualityError, InputError } from '../core/errors.js';
import type { JobSeries } from '../ops/job-definition.js';
import type { JobParams } from '../ops/job-ledger.js';
import { JOB_KINDS } from '../ops/job-kinds.js';
import { addFormatOption, addTimeZoneOption, formatRows, resolveFormat } from './output.js';

interface RunOptions {
  config: string;
  date?: string;
  start?: string;
  end?: string;
  symbols?: string[];
  format?: string;
  tz?: string;
  name?: string;
  model?: string;
  at?: string;
  group?: string;
  dataset?: string;
  version?: string;
  source?: string[];
}

/** `--symbols A,B` or `--symbols A B`: one list, order kept, duplicates dropped. */
export function parseSymbols(values: readonly string[] | undefined): string[] | undefined {
  if (!values) return undefined;
  const out = [...new Set(values.flatMap((v) => v.split(',')).map((s) => s.trim()).filter(Boolean))];
  if (out.length === 0) throw new InputError('--symbols: expected at least one instrument key');
  return out;
}

/** `--source a,b` or `--source a b`: one list, order kept, duplicates dropped. */
function parseNames(values: readonly string[], option: string): string[] {
  const out = [...new Set(values.flatMap((v) => v.split(',')).map((s) => s.trim()).filter(Boolean))];
  if (out.length === 0) throw new InputError(`${option}: expected at least one name`);
  return out;
}

/**
 * Session dates a per-date job runs for, ascending: `--date D` is taken as given (the job
 * decides what a closed day means); `--start/--end` is every date in the range on which at
 * least one of the symbols' exchanges has a session.
 */
export function planRunDates(opts: Pick<RunOptions, 'date' | 'start' | 'end'>, calendars: readonly TradingCalendar[]): string[] {
  if (opts.date !== undefined) {
    if (opts.start !== undefined || opts.end !== undefined) throw new InputError('give either --date or --start/--end, not both');
    dateLabelsBetween(opts.date, opts.date);
    return [opts.date];
  }
  if (opts.start === undefined || opts.end === undefined) throw new InputError('give --date D, or --start D and --end D');
  dateLabelsBetween(opts.start, opts.end);
  const dates = new Set<string>();
  for (const cal of new Set(calendars)) for (const s of cal.sessionsInRange(opts.start, opts.end)) dates.add(s.date);
  return [...dates].sort();
}

/**
 * `ibpipe run JOB --config F (--date D | --start D --end D) [--symbols A,B]`: runs one job once
 * per session date, in order, in this process — what cron, Airflow or Dagster call. Jobs come
 * from the job table (src/ops/job-table.ts): a new job is one entry there, nothing here.
 * Logs go to stderr, the per-date summary to stdout. Exit codes: 0 ok; 3 when a date's data
 * failed a DQ rule with action fail (the other dates still run); otherwise the first failing
 * date stops the range with its error's code (2 bad input or config, 1 job failed).
 */
export function registerRunCommand(program: Command): void {
  addTimeZoneOption(
    addFormatOption(
      program
        .command('run')
        .description(`run one job once per session date: ${JOB_KINDS.join(' | ')}`)
        .argument('<job>', 'job kind')
        .requiredOption('--config <file>', 'YAML config file')
        .option('--date <date>', 'session date (YYYY-MM-DD)')
        .option('--start <date>', 'first session date of a range')
        .option('--end <date>', 'last session date of a range (inclusive)')
        .option('--symbols <keys...>', 'instrument keys, comma- or space-separated (default: all configured)')
        .option('--name <name>', 'dataset: the datasets[] entry to build; align: the alignments[] entry (default: all)')
        .option('--dataset <name>', 'transform: the bar_datasets[] entry to curate, e.g. bars_1d; ingest: the bar datasets tws sources fill (default: every configured one)')
        .option('--group <name>', 'features: the feature_groups[] entry to compute (default: all)')
        .option('--version <version>', 'features: version label to write (default: the configured one; an older registered version recomputes its stored definition)')
        .option('--model <name>', 'score: the models[] entry to score with (default: all)')
        .option('--source <names...>', 'ingest: the sources[] entries to drain, comma- or space-separated (default: all configured)')
        .option('--at <instant>', 'score: scoring instant, ISO 8601 with a zone or epoch ms (default: every bar close of the date)'),
    ),
  ).action(async (job: string, opts: RunOptions) => {
    const { loadSettings } = await import('../config/settings.js');
    const { pickSourceEnv } = await import('../data-sources/source-env.js');
    const { createAppContext } = await import('../ops/app-context.js');
    const { JobLedger } = await import('../ops/job-ledger.js');
    const { jobDefinition } = await import('../ops/job-table.js');
    const { createLogger } = await import('../ops/logging-setup.js');
    const { executeJob, parseJobKind } = await import('../ops/orchestrator-adapter.js');
    const { parseScoringInstant } = await import('../scoring/batch-scoring.js');
    const { InstantFormatter } = await import('./instant-format.js');
    const format = resolveFormat(opts.format);
    const time = InstantFormatter.fromOption(opts.tz);
    const kind = parseJobKind(job);
    const def = jobDefinition(kind);
    if (!def) throw new InputError(`job ${kind} is not available in this build`);
    const { settings } = loadSettings(opts.config, process.env);
    const symbols = parseSymbols(opts.symbols);
    const extra: JobParams = {
      ...(opts.name !== undefined ? { name: opts.name } : {}),
      ...(opts.dataset !== undefined ? { dataset: opts.dataset } : {}),
      ...(opts.group !== undefined ? { group: opts.group } : {}),
      ...(opts.version !== undefined ? { version: opts.version } : {}),
      ...(opts.model !== undefined ? { model: opts.model } : {}),
      ...(opts.source !== undefined ? { sources: parseNames(opts.source, '--source') } : {}),
      ...(opts.at !== undefined ? { at: parseScoringInstant(opts.at) } : {}),
    };
    const logger = createLogger({ level: settings.logging.level, format: settings.logging.format, destination: process.stderr });
    const app = await createAppContext(settings, { logger, sourceEnv: pickSourceEnv(settings.sources, process.env) });
    const rows: Record<string, unknown>[] = [];
    const refused: string[] = [];
    let series: JobSeries | undefined;
    try {
      for (const s of symbols ?? []) app.calendars.calendarFor(s);
      const universe = symbols ?? app.calendars.symbols();
      const paramsList: JobParams[] = def.perDate
        ? planRunDates(opts, universe.map((s) => app.calendars.calendarFor(s))).map((date) => ({ date, ...(symbols ? { symbols } : {}), ...extra }))
        : [{ ...(opts.date ? { date: opts.date } : { start: opts.start, end: opts.end }), ...(symbols ? { symbols } : {}), ...extra }];
      const ledger = new JobLedger(app.lake, app.clock);
      // A range of a job that can compute several dates per pass (transform) runs as a series.
      series = def.perDate && def.series && paramsList.length > 1 ? def.series(app, paramsList) : undefined;
      for (const params of paramsList) {
        const run = await executeJob(app, kind, params, { ledger, trigger: 'manual', ...(series ? { series } : {}) });
        const label = params.date ?? `${params.start ?? ''}..${params.end ?? ''}`;
        if (run.error === null) {
          rows.push({ date: label, job: kind, status: 'ok', run_id: run.record.run_id, ...run.outcome?.display, ...run.record.counts, ...(format === 'json' ? { summary: time.paths(run.outcome?.summary, def.summaryInstants ?? []) } : {}) });
          continue;
        }
        const message = run.error instanceof Error ? run.error.message.split('\n')[0] : String(run.error);
        rows.push({ date: label, job: kind, status: run.error instanceof DataQualityError ? 'dq_failed' : 'failed', run_id: run.record.run_id, error: message });
        if (run.error instanceof DataQualityError) {
          refused.push(label);
          continue;
        }
        process.stdout.write(`${formatRows(rows, format, format === 'json' ? undefined : columnsOf(rows))}\n`);
        throw run.error;
      }
    } finally {
      await series?.close().catch(() => undefined);
      await app.close();
    }
    process.stdout.write(`${formatRows(rows, format, format === 'json' ? undefined : columnsOf(rows))}\n`);
    if (refused.length > 0) {
      throw new DataQualityError(`${kind}: data-quality rules refused to publish ${refused.length} date(s): ${refused.join(', ')}`);
    }
  });
}

/** Table/CSV columns: the union of keys over all rows, first-seen order. */
function columnsOf(rows: readonly Record<string, unknown>[]): string[] {
  return [...new Set(rows.flatMap((r) => Object.keys(r)))];
}
