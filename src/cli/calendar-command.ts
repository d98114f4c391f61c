import type { Command } from 'commander';
import type { CalendarCode } from '../calendar/calendar-registry.js';
import { InputError } from '../core/errors.js';
import { addFormatOption, formatRows, resolveFormat } from './output.js';

const CODES: readonly CalendarCode[] = ['XNYS', 'CMES', 'FX'];

interface SessionsOptions {
  calendar: string;
  start: string;
  end: string;
  format?: string;
  config?: string;
}

/** `ibpipe calendar sessions`: the session table of a calendar over a date range. */
export function registerCalendarCommands(program: Command): void {
  const calendar = program
    .command('calendar')
    .description('trading calendars: sessions, holidays, early closes');
  addFormatOption(
    calendar
      .command('sessions')
      .description(
        'print session,open,close (session date; open/close as UTC instants) for each session in [start, end]',
      )
      .requiredOption('--calendar <code>', `calendar: ${CODES.join(' | ')}`)
      .requiredOption('--start <date>', 'first session date, YYYY-MM-DD')
      .requiredOption('--end <date>', 'last session date, YYYY-MM-DD')
      .option('--config <file>', 'config file whose calendars.extra_closures apply'),
  ).action(async (opts: SessionsOptions) => {
    const { getCalendar } = await import('../calendar/calendar-registry.js');
    const { loadSettings } = await import('../config/settings.js');
    const { InstantFormatter } = await import('./instant-format.js');
    // `2024-11-29T14:30:00Z`: sessions never start mid-second, so no fraction is ever printed.
    const isoInstant = (ms: number): string => InstantFormatter.utc.fromEpochMs(ms);
    const code = opts.calendar.toUpperCase();
    if (!(CODES as readonly string[]).includes(code)) {
      throw new InputError(
        `--calendar: expected one of ${CODES.join(', ')}, got ${JSON.stringify(opts.calendar)}`,
      );
    }
    const format = resolveFormat(opts.format);
    const extraClosures = opts.config
      ? loadSettings(opts.config, process.env).settings.calendars.extra_closures[code as CalendarCode]
      : undefined;
    const sessions = getCalendar(code as CalendarCode, { extraClosures }).sessionsInRange(
      opts.start,
      opts.end,
    );
    // Trading breaks inside a session (CME's daily 16:00-17:00 Chicago halt) are listed in JSON and
    // the table; the CSV keeps its `session,open,close` contract.
    const rows = sessions.map((s) => ({
      session: s.date,
      open: isoInstant(s.open),
      close: isoInstant(s.close),
      ...(s.breaks?.length ? { breaks: s.breaks.map((b) => `${isoInstant(b.start)}/${isoInstant(b.end)}`).join(' ') } : {}),
    }));
    const hasBreaks = format === 'table' && rows.some((r) => 'breaks' in r);
    process.stdout.write(`${formatRows(rows, format, hasBreaks ? ['session', 'open', 'close', 'breaks'] : ['session', 'open', 'close'])}\n`);
  });
}
