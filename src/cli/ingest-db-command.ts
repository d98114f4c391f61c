import type { Command } from 'commander';
import { InputError } from '../core/errors.js';
import { addFormatOption, formatRows, resolveFormat } from './output.js';

interface IngestDbOptions {
  config: string;
  source?: string;
  symbols?: string;
  start?: string;
  end?: string;
  dryRun?: boolean;
  format?: string;
}

/** `ibpipe ingest-db --config F [--source NAME] [--symbols A,B] [--start D --end D]`: PostgreSQL / TimescaleDB bars into the raw store. */
export function registerIngestDbCommand(program: Command): void {
  addFormatOption(
    program
      .command('ingest-db')
      .description('load bars from the configured PostgreSQL / TimescaleDB sources into the raw store, incrementally from each symbol\'s watermark')
      .requiredOption('--config <file>', 'YAML config file')
      .option('--source <name>', 'only this source (default: every postgres source)')
      .option('--symbols <list>', 'comma-separated instrument keys (default: every instrument the source serves)')
      .option('--start <date>', 'first bar to read: YYYY-MM-DD (00:00 UTC) or an ISO-8601 instant with an offset')
      .option('--end <date>', 'last day to read, inclusive (YYYY-MM-DD, UTC), or an exclusive ISO-8601 instant')
      .option('--dry-run', 'print what would be read per symbol, write nothing'),
  ).action(async (opts: IngestDbOptions) => {
    const { loadSettings } = await import('../config/settings.js');
    const { runIngestSources } = await import('../jobs/ingest-sources-job.js');
    const { parseWindowEdge } = await import('../data-sources/ingestor.js');
    const { createIngestor, pickSourceEnv } = await import('../data-sources/ingestor-registry.js');
    const { createAppContext } = await import('../ops/app-context.js');
    const { createLogger } = await import('../ops/logging-setup.js');
    const format = resolveFormat(opts.format);
    const { settings } = loadSettings(opts.config, process.env);
    const symbols = opts.symbols?.split(',').map((s) => s.trim()).filter(Boolean);
    const start = opts.start === undefined ? undefined : parseWindowEdge(opts.start, 'start');
    const end = opts.end === undefined ? undefined : parseWindowEdge(opts.end, 'end');
    if (start !== undefined && end !== undefined && start >= end) throw new InputError(`--start ${opts.start} is not before --end ${opts.end}`);
    // Logs go to stderr so that stdout stays the command's machine-readable result.
    const logger = createLogger({ level: settings.logging.level, format: 'json', destination: process.stderr });
    // Only the variables the configured sources read leave process.env, and only here.
    const ctx = await createAppContext(settings, { logger, sourceEnv: pickSourceEnv(settings.sources, process.env) });
    try {
      const deps = {
        ...ctx,
        sources: settings.sources,
        instruments: settings.instruments,
        barSize: settings.tws.historical_bar_size,
        env: ctx.sourceEnv,
      };
      const params = { sources: opts.source === undefined ? undefined : [opts.source], types: ['postgres'] as const, symbols, start, end };
      if (opts.dryRun) {
        const rows = [];
        for (const cfg of settings.sources.filter((s) => s.type === 'postgres' && (opts.source === undefined || s.name === opts.source))) {
          for (const w of await createIngestor(cfg, deps).plan({ symbols, start, end })) {
            rows.push({
              source: cfg.name,
              symbol: w.symbols.join(' '),
              rows: w.rows,
              first: w.start === null ? null : new Date(w.start).toISOString(),
              end: w.end === null ? null : new Date(w.end).toISOString(),
            });
          }
        }
        process.stdout.write(`${formatRows(rows, format, ['source', 'symbol', 'rows', 'first', 'end'])}\n`);
        return;
      }
      const summaries = await runIngestSources(deps, params);
      const rows = summaries.map((s) => ({
        source: s.source,
        batches: s.batches,
        batches_written: s.batchesWritten,
        rows_read: s.rowsRead,
        rows_written: s.rowsWritten,
      }));
      process.stdout.write(`${formatRows(rows, format)}\n`);
    } finally {
      await ctx.close();
    }
  });
}
