import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { InvalidArgumentError, type Command } from 'commander';
import { ConfigError } from '../core/errors.js';

interface SimCommandOptions {
  port?: number;
  host?: string;
  config?: string;
  speed?: number;
  now?: string;
  pacingTimeScale?: number;
  statsInterval?: number;
  logLevel: string;
}

function positiveNumber(v: string): number {
  const n = Number(v);
  if (!(n > 0) || !Number.isFinite(n)) throw new InvalidArgumentError('expected a positive number');
  return n;
}

function port(v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0 || n > 65_535)
    throw new InvalidArgumentError('expected a port 0-65535 (0 = any free port)');
  return n;
}

function instant(v: string): string {
  if (!Number.isFinite(Date.parse(v)) || !/[zZ]|[+-]\d{2}:?\d{2}$/.test(v)) {
    throw new InvalidArgumentError('expected an ISO-8601 instant with a zone, e.g. 2024-11-27T14:30:00Z');
  }
  return v;
}

/**
 * `ibpipe sim`: the simulated IB Gateway. Logs one JSON line per request and violation; a
 * line with event "ready" (printed at any log level) carries the bound port. SIGUSR2 logs the counters; SIGINT or
 * SIGTERM logs them and stops.
 */
export function registerSimCommand(program: Command): void {
  program
    .command('sim')
    .description('run the simulated IB Gateway (speaks the TWS socket protocol; SIMULATED DATA)')
    .option('--port <port>', 'TCP port (0 = any free port; default 4002 or sim.port)', port)
    .option('--host <host>', 'interface to listen on (default 127.0.0.1 or sim.host)')
    .option('--config <file>', 'sim YAML, or an ibpipe config whose sim: slice and instruments are used')
    .option('--speed <factor>', 'virtual clock speed (60 = a minute per second)', positiveNumber)
    .option('--now <instant>', 'start the virtual clock at this instant (ISO-8601 with zone)', instant)
    .option('--pacing-time-scale <factor>', 'multiply pacing windows (e.g. 0.01 in tests)', positiveNumber)
    .option('--stats-interval <seconds>', 'log the counters every N wall-clock seconds', positiveNumber)
    .option('--log-level <level>', 'trace | debug | info | warn | error | silent', 'info')
    .action(async (opts: SimCommandOptions) => {
      const { applyEnvOverrides, parseYaml } = await import('../config/settings.js');
      const { createLogger } = await import('../ops/logging-setup.js');
      const { simSettingsSchema } = await import('../sim/sim-config.js');
      const { gatewayOptionsFrom, simClock, simSettingsFromDocument } = await import('../sim/sim-options.js');
      const { startSimGateway } = await import('../sim/sim-server.js');
      const { readTableFile } = await import('../storage/table-file.js');
      let doc: Record<string, unknown> = {};
      let source = 'defaults';
      if (opts.config) {
        source = resolve(opts.config);
        let text: string;
        try {
          text = readFileSync(source, 'utf8');
        } catch (err) {
          throw new ConfigError(
            `${source}: cannot read config file`,
            [`${source}: cannot read (${(err as Error).message})`],
            { cause: err },
          );
        }
        doc = parseYaml(text, source);
        applyEnvOverrides(doc, process.env);
      }
      const { settings, configured } = opts.config
        ? simSettingsFromDocument(doc, source, dirname(source))
        : { settings: simSettingsSchema.parse({}), configured: [] };
      const speed = opts.speed ?? settings.speed;
      const now = opts.now ?? settings.now;
      const logger = createLogger({ level: opts.logLevel, format: 'json' });
      const clock = simClock(speed, now);
      const gateway = await startSimGateway({
        ...gatewayOptionsFrom(
          {
            ...settings,
            ...(opts.pacingTimeScale === undefined
              ? {}
              : { pacing: { ...settings.pacing, time_scale: opts.pacingTimeScale } }),
          },
          configured,
          clock,
          logger,
        ),
        port: opts.port ?? settings.port,
        host: opts.host ?? settings.host,
        readReplayFile: readTableFile,
      });
      // Always printed, whatever the log level: scripts and tests read the bound port from it.
      const ready = {
        event: 'ready',
        host: gateway.host,
        port: gateway.port,
        speed,
        now: new Date(clock.now()).toISOString(),
        config: source,
        data: 'SIMULATED',
      };
      process.stdout.write(`${JSON.stringify(ready)}\n`);

      const timer = opts.statsInterval
        ? setInterval(
            () => logger.info({ event: 'stats', stats: gateway.stats() }, 'sim stats'),
            opts.statsInterval * 1000,
          )
        : undefined;
      const onStats = (): void => logger.info({ event: 'stats', stats: gateway.stats() }, 'sim stats');
      process.on('SIGUSR2', onStats);
      await new Promise<void>((done) => {
        const stop = (signal: string): void => {
          logger.info({ event: 'stopping', signal, stats: gateway.stats() }, `received ${signal}; stopping`);
          done();
        };
        process.once('SIGINT', () => stop('SIGINT'));
        process.once('SIGTERM', () => stop('SIGTERM'));
      });
      if (timer) clearInterval(timer);
      process.off('SIGUSR2', onStats);
      await gateway.close();
    });
}
