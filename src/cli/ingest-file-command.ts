import type { Command } from 'commander';
import { addFormatOption, formatRows, resolveFormat } from './output.js';

/** `ibpipe ingest-file --config F FILE...`: CSV / Parquet bars into the raw store (source FILE). */
export function registerIngestFileCommand(program: Command): void {
  addFormatOption(
    program
      .command('ingest-file')
      .description('load CSV or Parquet bar files (symbol, ts, open, high, low, close, volume[, wap, trade_count]) into the raw store')
      .requiredOption('--config <file>', 'YAML config file')
      .argument('<files...>', 'CSV or Parquet files; each file is one idempotent batch'),
  ).action(async (files: string[], opts: { config: string; format?: string }) => {
    const { loadSettings } = await import('../config/settings.js');
    const { FileIngestor } = await import('../data-sources/file-ingestor.js');
    const { createAppContext } = await import('../ops/app-context.js');
    const format = resolveFormat(opts.format);
    const { settings } = loadSettings(opts.config, process.env);
    const ctx = await createAppContext(settings);
    try {
      const ingestor = new FileIngestor({
        rawStore: ctx.rawStore,
        lake: ctx.lake,
        clock: ctx.clock,
        instruments: settings.instruments,
        barSize: settings.tws.historical_bar_size,
      });
      // Validate every file before writing any, so one bad file leaves the lake untouched.
      const batches = [];
      for (const f of files) batches.push(await ingestor.parseFile(f));
      const results = [];
      for (const b of batches) results.push(await ingestor.writeBatch(b));
      const rows = results.map((r) => ({ file: r.file, batch_id: r.batchId, rows: r.rows, status: r.written ? 'written' : 'already ingested', dates: r.dates.join(' ') }));
      process.stdout.write(`${formatRows(rows, format)}\n`);
    } finally {
      await ctx.close();
    }
  });
}
