import type { Command } from 'commander';
import { InputError, StorageWriteError } from '../core/errors.js';
import type { Instrument } from '../core/instruments.js';
import type { BackfillProgress, BackfillSummary } from '../data-sources/tws/tws-ingestor.js';
import type { AppContext } from '../ops/app-context.js';
import { addFormatOption, formatRows, resolveFormat } from './output.js';

function drawProgress(p: BackfillProgress): void {
  const width = 30;
  const filled = p.total === 0 ? width : Math.round((p.done / p.total) * width);
  process.stderr.write(`\r[${'#'.repeat(filled)}${' '.repeat(width - filled)}] ${p.done}/${p.total} windows  ${p.instrument} ${p.sessionDate} ${p.status}   `);
  if (p.done === p.total) process.stderr.write('\n');
}

/** The summary row printed on stdout (also when the run stopped early). */
function summaryRow(summary: BackfillSummary | null, stopped: { code: string; path: string } | null): Record<string, unknown> {
  return {
    windows: summary?.windows ?? 0,
    skipped: summary?.skipped ?? 0,
    ok: summary?.byStatus.ok ?? 0,
    no_data: summary?.byStatus['no-data'] ?? 0,
    pacing: summary?.byStatus.pacing ?? 0,
    timeout: summary?.byStatus.timeout ?? 0,
    error: summary?.byStatus.error ?? 0,
    bars_written: summary?.barsWritten ?? 0,
    batches_written: summary?.batchesWritten ?? 0,
    commits: summary?.commits ?? 0,
    complete: (summary?.complete ?? false) && stopped === null,
    elapsed_ms: summary?.elapsedMs ?? 0,
    ...(stopped ? { stopped_by: stopped.code, stopped_at: stopped.path } : {}),
  };
}

/**
 * `ibpipe backfill --config F --symbols A,B --start D --end D`: historical bars from TWS / IB
 * Gateway (or the sim) into the raw store, resumable. Exit 0 only when every window ended ok
 * or no-data; 1 otherwise (re-running retries exactly the failed windows). When the lake refuses
 * a write (disk full, permission) the run stops: the summary still goes to stdout, and stderr
 * gets one line saying what failed, where, and what to do.
 */
export function registerBackfillCommand(program: Command): void {
  addFormatOption(
    program
      .command('backfill')
      .description('backfill historical bars from TWS / IB Gateway into the raw store (resumes from the backfill ledger)')
      .requiredOption('--config <file>', 'YAML config file')
      .requiredOption('--symbols <keys>', 'comma-separated instrument keys from the config')
      .requiredOption('--start <date>', 'first session date, YYYY-MM-DD')
      .requiredOption('--end <date>', 'last session date, YYYY-MM-DD')
      .option('--dataset <names>', 'bar_datasets[] entries to fill, comma-separated (default: every configured one)'),
  ).action(async (opts: { config: string; symbols: string; start: string; end: string; dataset?: string; format?: string }) => {
    const { parseIsoDate } = await import('../calendar/civil-date.js');
    const { loadSettings } = await import('../config/settings.js');
    const { TwsClient } = await import('../data-sources/tws/tws-client.js');
    const { twsIngestorFor } = await import('../ops/tws-ingestor-for.js');
    const { createAppContext } = await import('../ops/app-context.js');
    const { createLogger } = await import('../ops/logging-setup.js');
    const { transformDatasets } = await import('../jobs/transform-job.js');
    const format = resolveFormat(opts.format);
    parseIsoDate(opts.start, '--start');
    parseIsoDate(opts.end, '--end');
    if (opts.end < opts.start) throw new InputError(`--end ${opts.end} is before --start ${opts.start}`);
    const { settings } = loadSettings(opts.config, process.env);
    const keys = opts.symbols.split(',').map((s) => s.trim()).filter(Boolean);
    if (keys.length === 0) throw new InputError('--symbols: at least one instrument key is required');
    const instruments: Instrument[] = keys.map((k) => {
      const inst = settings.instruments.find((i) => i.key === k);
      if (!inst) throw new InputError(`--symbols: ${JSON.stringify(k)} is not an instrument in ${opts.config}`);
      return inst;
    });
    const datasets = transformDatasets({ settings }, opts.dataset);
    const tty = process.stderr.isTTY === true;
    // JSON progress lines go to stderr (stdout carries the result); on a TTY a progress bar replaces them.
    const logger = createLogger({ level: tty ? 'warn' : settings.logging.level, format: 'json', destination: process.stderr });
    let ctx: AppContext;
    try {
      ctx = await createAppContext(settings, { logger });
    } catch (err) {
      if (!(err instanceof StorageWriteError)) throw err;
      process.stdout.write(`${formatRows([summaryRow(null, err)], format)}\n`);
      process.stderr.write(`error [${err.code}]: ${err.message}\n`);
      process.exitCode = 1;
      logger.flush();
      return;
    }
    const client = TwsClient.fromConfig(settings.tws, { clock: ctx.clock, logger });
    const ac = new AbortController();
    const onSignal = (sig: NodeJS.Signals): void => {
      logger.warn({ signal: sig }, 'backfill interrupted; finished windows are in the ledger');
      ac.abort(new Error(`interrupted by ${sig}`));
    };
    process.once('SIGINT', onSignal);
    process.once('SIGTERM', onSignal);
    try {
      await client.connect(ac.signal);
      const ingestor = twsIngestorFor(ctx, client, logger);
      // One run per bar dataset, in declaration order (daily bars after the intraday ones they
      // are usually declared after); each paced by the same client, so IB's limits hold across them.
      const rows: Record<string, unknown>[] = [];
      let incomplete = false;
      for (const ds of datasets) {
        let summary: BackfillSummary | null = null;
        let stopped: { code: string; message: string; path: string } | null = null;
        try {
          summary = await ingestor.ingestHistoricalRange(instruments, opts.start, opts.end, {
            signal: ac.signal,
            dataset: ds,
            ...(tty ? { onProgress: drawProgress } : {}),
          });
          stopped = summary.stoppedBy ?? null;
        } catch (err) {
          // A refused write outside the window loop (e.g. the ledger line of a page already stored).
          if (!(err instanceof StorageWriteError)) throw err;
          stopped = err;
        }
        if (tty && stopped) process.stderr.write('\n');
        rows.push(datasets.length > 1 ? { dataset: ds.name, ...summaryRow(summary, stopped) } : summaryRow(summary, stopped));
        for (const f of summary?.failed ?? []) {
          process.stderr.write(`${datasets.length > 1 ? `${ds.name}: ` : ''}${f.sessionDate ? `window ${f.instrument} ${f.sessionDate}` : `instrument ${f.instrument}`}: ${f.status}${f.error ? ` (${f.error})` : ''}\n`);
        }
        if (stopped) process.stderr.write(`error [${stopped.code}]: ${stopped.message}\n`);
        if (stopped || !summary?.complete) incomplete = true;
        if (stopped) break;
      }
      process.stdout.write(`${formatRows(rows, format)}\n`);
      if (incomplete) process.exitCode = 1;
    } finally {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
      await client.disconnect();
      await ctx.close();
      logger.flush();
    }
  });
}
