import type { Command } from 'commander';
import { InputError } from '../core/errors.js';
import { shutdownSignal } from './daemon-command.js';

/** `ibpipe demo` (= `npm start`): the embedded default on simulated data. */
export function registerDemoCommand(program: Command): void {
  program
    .command('demo')
    .description('run the whole pipeline on SIMULATED data: built-in IB Gateway simulator + local lake (./data/demo)')
    .option('--once', 'stop after the batch part (backfill, transform, features, dataset, training, scoring)')
    .option('--lake <dir>', 'lake folder (default: data/demo in the package)')
    .option('--sessions <n>', 'completed sessions to backfill', '3')
    .option('--speed <n>', 'simulated seconds per real second for the live part', '60')
    .option('--log-level <level>', 'log level for the JSON logs on stderr', 'warn')
    .action(async (opts: { once?: boolean; lake?: string; sessions: string; speed: string; logLevel: string }) => {
      const { runDemo } = await import('../ops/demo.js');
      const { createLogger } = await import('../ops/logging-setup.js');
      const sessions = Number(opts.sessions);
      const speed = Number(opts.speed);
      if (!Number.isInteger(sessions) || sessions < 1 || sessions > 20) throw new InputError('--sessions: expected an integer 1..20');
      if (!(speed > 0 && speed <= 10_000)) throw new InputError('--speed: expected a number in (0, 10000]');
      // stdout carries the summary; JSON logs go to stderr so both stay readable.
      const logger = createLogger({ level: opts.logLevel, format: 'json', destination: process.stderr });
      await runDemo({ logger, once: opts.once === true, sessions, speed, ...(opts.lake ? { lake: opts.lake } : {}), until: shutdownSignal() });
    });
}
