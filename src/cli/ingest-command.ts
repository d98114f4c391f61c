import type { Command } from 'commander';
import { InputError } from '../core/errors.js';
import { addFormatOption, addTimeZoneOption, formatRows, resolveFormat } from './output.js';

interface IngestOptions {
  config: string;
  source: string;
  symbols?: string;
  start?: string;
  end?: string;
  dryRun?: boolean;
  dataset?: string;
  format?: string;
  tz?: string;
}

/**
 * `ibpipe ingest --config F --source NAME [--symbols A,B] [--start D --end D] [--dry-run]`: drains
 * one configured source of any type (tws, file, postgres, module) into the raw store through the
 * same consumer loop as the `ingest` job. Without --start each source resumes from its own state
 * (watermarks, the backfill ledger, its files); `tws` (the implicit IB source when no source has
 * that name) fills every bar dataset of `bar_datasets` (or those `--dataset` names), each into
 * its own raw partition, starting at each instrument's newest stored session of that dataset, or
 * `default_sessions` completed sessions back. Prints one summary row (one per dataset when a tws
 * source fills several); exit 0 when everything planned was
 * committed, 1 when work is left unfinished (committed batches stay; re-running retries the
 * rest), 2 for bad input, config, a bad source module or `--dataset` with a non-tws source.
 */
export function registerIngestCommand(program: Command): void {
  addTimeZoneOption(
    addFormatOption(
      program
        .command('ingest')
        .description('drain one configured source (tws, file, postgres or module) into the raw store; resumes from the source\'s own state')
        .requiredOption('--config <file>', 'YAML config file')
        .requiredOption('--source <name>', 'a sources[] entry of the config (tws: IB history through the tws settings, also when not listed)')
        .option('--symbols <list>', 'comma-separated instrument keys (default: every instrument the source serves)')
        .option('--start <date>', 'first bar: YYYY-MM-DD (00:00 UTC) or an ISO-8601 instant with an offset (default: resume from the source\'s state)')
        .option('--end <date>', 'last day, inclusive (YYYY-MM-DD, UTC), or an exclusive ISO-8601 instant (default: now)')
        .option('--dataset <names>', 'tws sources only: bar_datasets[] entries to fill, comma-separated (default: every configured one)')
        .option('--dry-run', 'print what would be read, write nothing'),
    ),
  ).action(async (opts: IngestOptions) => {
    const { loadSettings } = await import('../config/settings.js');
    const { runIngestSources, sourcesFor } = await import('../jobs/ingest-sources-job.js');
    const { parseWindowEdge } = await import('../data-sources/ingestor.js');
    const { createIngestor, pickSourceEnv } = await import('../data-sources/ingestor-registry.js');
    const { createAppContext } = await import('../ops/app-context.js');
    const { resolveBarDatasets } = await import('../pipelines/bar-datasets.js');
    const { transformDatasets } = await import('../jobs/transform-job.js');
    const { createLogger } = await import('../ops/logging-setup.js');
    const { InstantFormatter } = await import('./instant-format.js');
    const format = resolveFormat(opts.format);
    const time = InstantFormatter.fromOption(opts.tz);
    const { settings } = loadSettings(opts.config, process.env);
    const symbols = opts.symbols?.split(',').map((s) => s.trim()).filter(Boolean);
    const start = opts.start === undefined ? undefined : parseWindowEdge(opts.start, 'start');
    const end = opts.end === undefined ? undefined : parseWindowEdge(opts.end, 'end');
    if (start !== undefined && end !== undefined && start >= end) throw new InputError(`--start ${opts.start} is not before --end ${opts.end}`);
    const sources = sourcesFor(settings.sources, [opts.source]);
    const cfg = sources.find((s) => s.name === opts.source);
    if (!cfg) throw new InputError(`--source: no source named ${JSON.stringify(opts.source)} in ${opts.config} (have: ${[...settings.sources.map((s) => s.name), 'tws'].join(', ')})`);
    if (opts.dataset !== undefined && cfg.type !== 'tws') {
      throw new InputError(`--dataset: bar datasets are filled by tws sources only; ${cfg.name} is a ${cfg.type} source (drop --dataset)`);
    }
    // The same dataset lookup as `ibpipe backfill --dataset`: every configured dataset by default.
    const datasets = cfg.type === 'tws' ? transformDatasets({ settings }, opts.dataset) : undefined;
    // Logs go to stderr so that stdout stays the command's machine-readable result.
    const logger = createLogger({ level: settings.logging.level, format: 'json', destination: process.stderr });
    const ctx = await createAppContext(settings, { logger, sourceEnv: pickSourceEnv(settings.sources, process.env) });
    const ac = new AbortController();
    const onSignal = (sig: NodeJS.Signals): void => {
      logger.warn({ signal: sig, source: cfg.name }, 'ingest interrupted; committed batches stay, the next run resumes');
      ac.abort(new Error(`interrupted by ${sig}`));
    };
    process.once('SIGINT', onSignal);
    process.once('SIGTERM', onSignal);
    try {
      const deps = {
        ...ctx,
        sources,
        instruments: settings.instruments,
        barSize: settings.tws.historical_bar_size,
        env: ctx.sourceEnv,
        tws: settings.tws,
        calendarFor: (symbol: string) => ctx.calendars.calendarFor(symbol),
        barDatasets: resolveBarDatasets(settings),
      };
      const several = (datasets?.length ?? 0) > 1;
      const request = { symbols, start, end, signal: ac.signal };
      if (opts.dryRun) {
        const rows: Record<string, unknown>[] = [];
        for (const ds of datasets ?? [undefined]) {
          const items = await createIngestor(cfg, ds === undefined ? deps : { ...deps, twsDataset: ds }).plan(request);
          rows.push(...items.map((w) => ({
            source: cfg.name,
            ...(several && ds ? { dataset: ds.name } : {}),
            item: w.label,
          symbols: w.symbols.join(' '),
          start: w.start === null ? null : time.fromEpochMs(w.start),
          end: w.end === null ? null : time.fromEpochMs(w.end),
            rows: w.rows,
          })));
        }
        process.stdout.write(`${formatRows(rows, format, ['source', ...(several ? ['dataset'] : []), 'item', 'symbols', 'start', 'end', 'rows'])}\n`);
        return;
      }
      const summaries = await runIngestSources(deps, { ...request, sources: [cfg.name], datasets });
      const rows = summaries.map((summary) => ({
        source: summary.source,
        ...(several ? { dataset: summary.dataset } : {}),
        type: cfg.type,
        batches: summary.batches,
        batches_written: summary.batchesWritten,
        rows_read: summary.rowsRead,
        rows_written: summary.rowsWritten,
        unfinished: summary.unfinished.length,
        complete: summary.unfinished.length === 0,
      }));
      if (rows.length > 0) process.stdout.write(`${formatRows(rows, format)}\n`);
      for (const s of summaries) for (const u of s.unfinished) process.stderr.write(`unfinished: ${several ? `${s.dataset ?? ''}: ` : ''}${u}\n`);
      if (summaries.some((s) => s.unfinished.length > 0)) process.exitCode = 1;
    } finally {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
      await ctx.close();
      logger.flush();
    }
  });
}
