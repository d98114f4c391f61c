import type { Command } from 'commander';
import { addFormatOption, addTimeZoneOption, formatRows, resolveFormat } from './output.js';

/**
 * `ibpipe sql --config F "SELECT …"`: one read-only query over the lake's views and files under
 * the lake root (safe while the daemon writes); anything that would write, attach, load or set
 * is refused with exit 2, as is a statement DuckDB cannot run. Columns DuckDB types as TIMESTAMP
 * WITH TIME ZONE or TIMESTAMP (any precision) print as ISO 8601 instants (UTC, or `--tz`); DATE
 * columns as `YYYY-MM-DD`; numbers stay numbers.
 */
export function registerSqlCommand(program: Command): void {
  addTimeZoneOption(
    addFormatOption(
      program
        .command('sql')
        .description('read-only query over the lake; views: raw_bars, curated_bars, features_<group>, predictions, dq_results, job_runs, backfill_ledger, raw_batches')
        .requiredOption('--config <file>', 'YAML config file')
        .argument('<query>', 'SQL to run'),
    ),
  ).action(async (query: string, opts: { config: string; format?: string; tz?: string }) => {
    const { InstantFormatter } = await import('./instant-format.js');
    const { loadSettingsCached } = await import('../config/settings-cache.js');
    const { createAppContext } = await import('../ops/app-context.js');
    const { createLakeViews } = await import('../storage/lake-views.js');
    const format = resolveFormat(opts.format);
    const time = InstantFormatter.fromOption(opts.tz);
    // Validated as `config check` would, or read back from an earlier identical validation (see the module).
    const { settings } = await loadSettingsCached(opts.config, process.env);
    const ctx = await createAppContext(settings);
    try {
      await createLakeViews(ctx.lake, ctx.rawStore);
      // Locked before the user's statement is even parsed: whatever slips past the statement
      // check still cannot touch a file outside the lake, load an extension or change a setting.
      await ctx.lake.confineToLake();
      const { columns, rows } = await ctx.lake.queryReadOnly(query);
      const instants = columns.filter((c) => c.kind === 'instant').map((c) => c.name);
      process.stdout.write(`${formatRows(time.rows(rows, instants), format, [...new Set(columns.map((c) => c.name))])}\n`);
    } finally {
      await ctx.close();
    }
  });
}
