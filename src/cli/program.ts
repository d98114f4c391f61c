import { Command, CommanderError } from 'commander';
import { ConfigError, IbpipeError, exitCodeOf } from '../core/errors.js';
import { registerBackfillCommand } from './backfill-command.js';
import { registerCalendarCommands } from './calendar-command.js';
import { registerConfigCommands } from './config-command.js';
import { registerDaemonCommand } from './daemon-command.js';
import { registerDashboardCommand } from './dashboard-command.js';
import { registerDemoCommand } from './demo-command.js';
import { registerFeaturesCommands } from './features-command.js';
import { registerIngestCommand } from './ingest-command.js';
import { registerIngestDbCommand } from './ingest-db-command.js';
import { registerIngestFileCommand } from './ingest-file-command.js';
import { registerRunCommand } from './run-command.js';
import { registerSimCommand } from './sim-command.js';
import { registerSqlCommand } from './sql-command.js';
import { registerStatusCommand } from './status-command.js';
import { registerTrainCommand } from './train-command.js';

/**
 * Builds the `ibpipe` command tree; each command group lives in its own file.
 *
 * Start-up stays lazy: arguments are parsed before anything heavy loads. A `*-command.ts` file
 * imports only commander, types, sibling CLI files and the dependency-free core at its top,
 * registers its options, and imports the modules it runs inside its action
 * (`const { x } = await import('../…')`), so `ibpipe sql` never loads the simulator and
 * `ibpipe --help` loads no DuckDB, IB client or config schema (lint rule in eslint.config.js;
 * test/cli/lazy-commands.test.ts checks the loaded modules).
 */
export function buildProgram(): Command {
  const program = new Command('ibpipe')
    .description('Interactive Brokers market data → curated bars, features, datasets and predictions')
    .showHelpAfterError()
    .exitOverride()
    // `.env` feeds config overrides: read it only when a command is about to run, not for help.
    .hook('preAction', async () => {
      const { config: loadDotenv } = await import('dotenv');
      loadDotenv({ quiet: true });
    });
  registerConfigCommands(program);
  registerDaemonCommand(program);
  registerDashboardCommand(program);
  registerDemoCommand(program);
  registerCalendarCommands(program);
  registerIngestCommand(program);
  registerIngestFileCommand(program);
  registerIngestDbCommand(program);
  registerBackfillCommand(program);
  registerSqlCommand(program);
  registerStatusCommand(program);
  registerRunCommand(program);
  registerFeaturesCommands(program);
  registerTrainCommand(program);
  registerSimCommand(program);
  return program;
}

export async function main(argv: readonly string[]): Promise<number> {
  const program = buildProgram();
  try {
    await program.parseAsync([...argv], { from: 'user' });
    return typeof process.exitCode === 'number' ? process.exitCode : 0;
  } catch (err) {
    if (err instanceof CommanderError) {
      return err.exitCode === 0 ? 0 : 2;
    }
    if (err instanceof ConfigError) {
      process.stderr.write(`${err.issues.length > 0 ? err.issues.join('\n') : err.message}\n`);
    } else if (err instanceof IbpipeError) {
      process.stderr.write(`error [${err.code}]: ${err.message}\n`);
    } else {
      process.stderr.write(`error: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    }
    return exitCodeOf(err);
  }
}
