import type { Command } from 'commander';
import { InputError } from '../core/errors.js';
import { addFormatOption, formatRows, resolveFormat } from './output.js';

async function checkZoneOption(zone: string): Promise<string> {
  const { checkTimeZone } = await import('../data-sources/bar-value-rules.js');
  try {
    checkTimeZone(zone);
  } catch {
    throw new InputError(`--ts-timezone: ${JSON.stringify(zone)} is not an IANA time zone (e.g. America/New_York, UTC)`);
  }
  return zone;
}

/** `ibpipe ingest-file --config F FILE...`: CSV / Parquet bars into the raw store (source FILE). */
export function registerIngestFileCommand(program: Command): void {
  addFormatOption(
    program
      .command('ingest-file')
      .description('load CSV or Parquet bar files (symbol, ts, open, high, low, close, volume[, wap, trade_count]) into the raw store')
      .requiredOption('--config <file>', 'YAML config file')
      .option('--ts-timezone <zone>', 'IANA zone of zone-less ts values (e.g. America/New_York); without it they are refused')
      .argument('<files...>', 'CSV or Parquet files; each file is one idempotent batch'),
  ).action(async (files: string[], opts: { config: string; format?: string; tsTimezone?: string }) => {
    const { loadSettings } = await import('../config/settings.js');
    const { FileIngestor } = await import('../data-sources/file-ingestor.js');
    const { createAppContext } = await import('../ops/app-context.js');
    const format = resolveFormat(opts.format);
    const { settings } = loadSettings(opts.config, process.env);
    const tsTimezone = opts.tsTimezone === undefined ? undefined : await checkZoneOption(opts.tsTimezone);
    const ctx = await createAppContext(settings);
    try {
      const ingestor = new FileIngestor({
        rawStore: ctx.rawStore,
        lake: ctx.lake,
        clock: ctx.clock,
        instruments: settings.instruments,
        barSize: settings.tws.historical_bar_size,
        tsTimezone,
      });
      // Check every file before writing any, so one bad file leaves the lake untouched.
      const checked = [];
      for (const f of files) checked.push(await ingestor.checkFile(f));
      const results = [];
      for (const c of checked) results.push(await ingestor.writeFile(c));
      const rows = results.map((r) => ({ file: r.file, batch_id: r.batchId, rows: r.rows, status: r.written ? 'written' : 'already ingested', dates: r.dates.join(' ') }));
      process.stdout.write(`${formatRows(rows, format)}\n`);
    } finally {
      await ctx.close();
    }
  });
}
