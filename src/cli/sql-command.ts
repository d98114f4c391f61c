import type { Command } from 'commander';
import { addFormatOption, formatRows, resolveFormat } from './output.js';

/** `ibpipe sql --config F "SELECT …"`: ad-hoc queries over the lake's views (safe while the daemon writes). */
export function registerSqlCommand(program: Command): void {
  addFormatOption(
    program
      .command('sql')
      .description('query the lake; views: raw_bars, curated_bars, features_<group>, predictions, dq_results, job_runs, backfill_ledger, raw_batches')
      .requiredOption('--config <file>', 'YAML config file')
      .argument('<query>', 'SQL to run'),
  ).action(async (query: string, opts: { config: string; format?: string }) => {
    const { loadSettings } = await import('../config/settings.js');
    const { createAppContext } = await import('../ops/app-context.js');
    const { createLakeViews } = await import('../storage/lake-views.js');
    const format = resolveFormat(opts.format);
    const { settings } = loadSettings(opts.config, process.env);
    const ctx = await createAppContext(settings);
    try {
      await createLakeViews(ctx.lake, ctx.rawStore);
      const rows = await ctx.lake.query(query);
      process.stdout.write(`${formatRows(rows, format)}\n`);
    } finally {
      await ctx.close();
    }
  });
}
