import type { Command } from 'commander';
import { InputError } from '../core/errors.js';

/** Resolves on the first SIGTERM or SIGINT. */
export function shutdownSignal(): Promise<NodeJS.Signals> {
  return new Promise((resolve) => {
    const on = (sig: NodeJS.Signals): void => {
      process.off('SIGTERM', on);
      process.off('SIGINT', on);
      resolve(sig);
    };
    process.on('SIGTERM', on);
    process.on('SIGINT', on);
  });
}

/** `ibpipe daemon --config F`: the long-running service (systemd / Docker). */
export function registerDaemonCommand(program: Command): void {
  program
    .command('daemon')
    .description('run the service: TWS connection, live bars, catch-up backfill, scheduled jobs, /healthz and /metrics')
    .requiredOption('--config <file>', 'YAML config file')
    .option('--no-live', 'do not connect to TWS (scheduled jobs only)')
    .option('--clock <spec>', 'run on a simulated clock START,SPEED[,REAL_START_MS] (replays and tests against the sim)')
    .action(async (opts: { config: string; live: boolean; clock?: string }) => {
      const { loadSettings } = await import('../config/settings.js');
      const { ScaledClock } = await import('../core/clock.js');
      const { pickSourceEnv } = await import('../data-sources/ingestor-registry.js');
      const { Daemon } = await import('../ops/daemon.js');
      const { dashboardRouteTable } = await import('../ops/dashboard/dashboard-routes.js');
      const { createLogger } = await import('../ops/logging-setup.js');
      const { twsMarketFactory } = await import('../ops/tws-market-service.js');
      const { settings } = loadSettings(opts.config, process.env);
      let clock;
      try {
        clock = opts.clock ? ScaledClock.parse(opts.clock) : undefined;
      } catch (err) {
        throw new InputError(`--clock: ${(err as Error).message}`);
      }
      const logger = createLogger({ level: settings.logging.level, format: settings.logging.format });
      const stop = shutdownSignal();
      const daemon = await Daemon.start({ settings, logger, sourceEnv: pickSourceEnv(settings.sources, process.env), prefixRoutes: (d) => dashboardRouteTable({ app: d.app, daemon: d }), ...(clock ? { clock } : {}), ...(opts.live ? { market: twsMarketFactory() } : {}) });
      const sig = await stop;
      logger.info({ signal: sig }, 'shutdown requested');
      await daemon.stop();
      logger.flush();
    });
}
