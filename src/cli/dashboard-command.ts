import type { Command } from 'commander';
import { InputError } from '../core/errors.js';
import { shutdownSignal } from './daemon-command.js';

function parsePort(v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0 || n > 65535) throw new InputError(`--port must be an integer in [0, 65535], got ${JSON.stringify(v)}`);
  return n;
}

/**
 * `ibpipe dashboard --config F [--port P]`: the operator dashboard over an existing lake,
 * without the daemon (live state then says "no daemon"). Read-only: safe next to a running
 * daemon or job. Stops on SIGTERM / SIGINT.
 */
export function registerDashboardCommand(program: Command): void {
  program
    .command('dashboard')
    .description('serve the read-only operator dashboard (coverage, data quality, jobs, series) over an existing lake')
    .requiredOption('--config <file>', 'YAML config file')
    .option('--port <port>', 'port to listen on (default: http.port of the config; 0 picks a free one)')
    .option('--host <host>', 'address to bind (default: http.host of the config, loopback)')
    .action(async (opts: { config: string; port?: string; host?: string }) => {
      const { loadSettings } = await import('../config/settings.js');
      const { createAppContext } = await import('../ops/app-context.js');
      const { dashboardRouteTable } = await import('../ops/dashboard/dashboard-routes.js');
      const { HttpServer } = await import('../ops/http-server.js');
      const { createLogger } = await import('../ops/logging-setup.js');
      const { settings } = loadSettings(opts.config, process.env);
      const port = opts.port !== undefined ? parsePort(opts.port) : settings.http.port;
      const host = opts.host ?? settings.http.host;
      const logger = createLogger({ level: settings.logging.level, format: settings.logging.format });
      const stop = shutdownSignal();
      const app = await createAppContext(settings, { logger });
      try {
        const server = await HttpServer.listen({ host, port, logger: logger.child({ component: 'http' }), routes: {}, prefixRoutes: dashboardRouteTable({ app }) });
        logger.info({ url: `${server.url}/dashboard`, lake: app.lake.root }, 'dashboard serving');
        const sig = await stop;
        logger.info({ signal: sig }, 'shutdown requested');
        await server.close();
      } finally {
        await app.close();
        logger.flush();
      }
    });
}
