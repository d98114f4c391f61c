import type { Command } from 'commander';
import { addFormatOption, addTimeZoneOption, formatRows, jsonReplacer, resolveFormat } from './output.js';

/** `ibpipe status --config F`: coverage per symbol and day, last job runs, DQ summary. */
export function registerStatusCommand(program: Command): void {
  addTimeZoneOption(
    addFormatOption(
      program
        .command('status')
        .description('coverage per symbol and session (expected vs stored bars), live gaps whose repair failed, the last run of every job, DQ summary')
        .requiredOption('--config <file>', 'YAML config file')
        .option('--dates <n>', 'how many of the latest session dates to show', '10'),
    ),
  ).action(async (opts: { config: string; dates: string; format?: string; tz?: string }) => {
    const { InstantFormatter } = await import('./instant-format.js');
    const { loadSettings } = await import('../config/settings.js');
    const { createAppContext } = await import('../ops/app-context.js');
    const { buildStatusReport, STATUS_REPORT_INSTANTS } = await import('../ops/status-report.js');
    const format = resolveFormat(opts.format);
    const time = InstantFormatter.fromOption(opts.tz);
    const { settings } = loadSettings(opts.config, process.env);
    const app = await createAppContext(settings);
    try {
      const built = await buildStatusReport(app, { lastDates: Math.max(1, Number(opts.dates) || 10) });
      const report = time.paths(built, STATUS_REPORT_INSTANTS) as Record<keyof typeof built, Record<string, unknown>[]>;
      if (format === 'json') {
        process.stdout.write(`${JSON.stringify(report, jsonReplacer, 2)}\n`);
        return;
      }
      const sections: [string, Record<string, unknown>[]][] = [
        ['coverage (raw bars stored vs expected by the calendar)', report.coverage],
        ['backfill windows recorded done whose rows are not in raw (the next backfill requests them again)', report.unbacked_windows],
        ['live gaps whose repair failed (bars still missing)', report.live_gaps],
        ['jobs (last run of each)', report.jobs],
        ['data quality (latest transform per date)', report.dq],
      ];
      for (const [title, rows] of sections) {
        process.stdout.write(format === 'csv' ? `# ${title}\n` : `\n${title}\n`);
        process.stdout.write(`${rows.length ? formatRows(rows, format) : '(none)'}\n`);
      }
    } finally {
      await app.close();
    }
  });
}
