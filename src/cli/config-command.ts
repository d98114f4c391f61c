import type { Command } from 'commander';
import { ConfigError } from '../core/errors.js';

/** `ibpipe config check FILE` and `ibpipe config schema`. */
export function registerConfigCommands(program: Command): void {
  const config = program.command('config').description('validate config files and print the config schema');
  config
    .command('check')
    .description('validate a config file and load the user modules it names; print every problem as `path: message` (exit 2 when invalid)')
    .argument('<file>', 'YAML config file')
    .action(async (file: string) => {
      const { loadSettings } = await import('../config/settings.js');
      try {
        const { settings } = loadSettings(file, process.env);
        // A module that does not load fails a run at its first job; report it here instead.
        const { userModuleIssues } = await import('../config/user-module-issues.js');
        const moduleIssues = await userModuleIssues(settings);
        if (moduleIssues.length > 0) {
          for (const issue of moduleIssues) process.stderr.write(`${issue}\n`);
          process.exitCode = 2;
          return;
        }
        process.stdout.write(`${file}: ok (${settings.instruments.length} instruments)\n`);
      } catch (err) {
        if (err instanceof ConfigError) {
          for (const issue of err.issues) process.stderr.write(`${issue}\n`);
          process.exitCode = 2;
          return;
        }
        throw err;
      }
    });
  config
    .command('schema')
    .description('print the JSON Schema of the config file (for editors)')
    .action(async () => {
      const { settingsJsonSchema } = await import('../config/settings.js');
      process.stdout.write(`${JSON.stringify(settingsJsonSchema(), null, 2)}\n`);
    });
}
