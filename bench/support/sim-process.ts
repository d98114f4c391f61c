// A simulated IB Gateway in its own process, so a benchmark measures the client process alone.
// Started by startSimProcess (fork + IPC); argv[2] is a JSON SimProcessOptions.
import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { ScaledClock, SystemClock } from '../../src/core/clock.js';
import { silentLogger } from '../../src/ops/logging-setup.js';
import { startSimGateway, type SimStats } from '../../src/sim/sim-server.js';
import { benchSymbols, simInstruments } from './synthetic-market.js';

export interface SimProcessOptions {
  symbols: number;
  pacingTimeScale: number;
  /** Shared virtual clock: both processes build ScaledClock(start, speed, realStart). */
  clock?: { start: number; speed: number; realStart: number };
}

export interface SimProcess {
  readonly port: number;
  readonly pid: number;
  stats(): Promise<{ stats: SimStats; clients: { clientId: number; streams: number[] }[]; rssMb: number }>;
  close(): Promise<void>;
}

type Reply = { type: 'ready'; port: number } | { type: 'stats'; stats: SimStats; clients: { clientId: number; streams: number[] }[]; rssMb: number };

export async function startSimProcess(options: SimProcessOptions): Promise<SimProcess> {
  const child: ChildProcess = fork(fileURLToPath(import.meta.url), [JSON.stringify(options)], {
    execArgv: ['--import', 'tsx'],
    stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
  });
  const next = (type: Reply['type']): Promise<Reply> =>
    new Promise((resolve, reject) => {
      const onMessage = (m: Reply): void => {
        if (m.type !== type) return;
        child.off('message', onMessage);
        child.off('exit', onExit);
        resolve(m);
      };
      const onExit = (code: number | null): void => reject(new Error(`sim process exited (${String(code)})`));
      child.on('message', onMessage);
      child.once('exit', onExit);
    });
  const ready = (await next('ready')) as Extract<Reply, { type: 'ready' }>;
  return {
    port: ready.port,
    pid: child.pid ?? -1,
    async stats() {
      const reply = next('stats');
      child.send({ type: 'stats' });
      const r = (await reply) as Extract<Reply, { type: 'stats' }>;
      return { stats: r.stats, clients: r.clients, rssMb: r.rssMb };
    },
    async close() {
      if (child.exitCode !== null) return;
      const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
      child.send({ type: 'close' });
      await exited;
    },
  };
}

async function main(): Promise<void> {
  const opts = JSON.parse(process.argv[2] ?? '{}') as SimProcessOptions;
  const clock = opts.clock ? new ScaledClock(opts.clock.start, opts.clock.speed, opts.clock.realStart) : new SystemClock();
  const sim = await startSimGateway({
    port: 0,
    clock,
    builtinInstruments: false,
    instruments: simInstruments(benchSymbols(opts.symbols)),
    pacingTimeScale: opts.pacingTimeScale,
    logger: silentLogger(),
  });
  process.on('message', (m: { type: string }) => {
    if (m.type === 'stats') {
      process.send?.({ type: 'stats', stats: sim.stats(), clients: sim.clients(), rssMb: process.memoryUsage.rss() / 1024 / 1024 });
    } else if (m.type === 'close') {
      void sim.close().finally(() => process.exit(0));
    }
  });
  process.on('disconnect', () => void sim.close().finally(() => process.exit(0)));
  process.send?.({ type: 'ready', port: sim.port });
}

if (process.argv[1] === fileURLToPath(import.meta.url)) void main();
