import type { Command } from 'commander';
import { addFormatOption, formatRows, resolveFormat } from './output.js';

/**
 * `ibpipe sql --config F "SELECT …"`: one read-only query over the lake's views and files under
 * the lake root (safe while the daemon writes); anything that would write, attach, load or set
 * is refused with exit 2, as is a statement DuckDB cannot run.
 */
export function registerSqlCommand(program: Command): void {
  addFormatOption(
    program
      .command('sql')
      .description('read-only query over the lake; views: raw_bars, curated_bars, features_<group>, predictions, dq_results, job_runs, backfill_ledger, raw_batches')
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
      // Locked before the user's statement is even parsed: whatever slips past the statement
      // check still cannot touch a file outside the lake, load an extension or change a setting.
      await ctx.lake.confineToLake();
      const rows = await ctx.lake.queryReadOnly(query);
      process.stdout.write(`${formatRows(rows, format)}\n`);
    } finally {
      await ctx.close();
    }
  });
}
