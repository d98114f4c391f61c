import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EventName, type ContractDetails } from '@stoqey/ib';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { REPO, runCli, waitForExit } from '../support/child.js';
import { AAPL, IbProbe } from '../sim/ib-probe.js';

/** `ibpipe sim` as a real child process: JSON log lines on stdout, the first one has the port. */
const dir = mkdtempSync(join(tmpdir(), 'ibpipe-sim-'));
const children: ChildProcess[] = [];
const probes: IbProbe[] = [];
afterEach(() => {
  for (const p of probes.splice(0)) p.disconnect();
  for (const c of children.splice(0)) if (c.exitCode === null) c.kill('SIGKILL');
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

interface LogLine {
  event?: string;
  port?: number;
  stats?: { requestsServed: number; pacingViolations: number; barsSent: number };
  [k: string]: unknown;
}

/** Starts the CLI (through bin/ibpipe.js, as `npx ibpipe` does) and collects its JSON lines. */
function startSim(args: string[]): {
  child: ChildProcess;
  lines: LogLine[];
  waitFor: (event: string) => Promise<LogLine>;
} {
  const child = spawn(process.execPath, [join(REPO, 'bin/ibpipe.js'), 'sim', ...args], {
    cwd: REPO,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.push(child);
  const lines: LogLine[] = [];
  let buf = '';
  const waiters: (() => void)[] = [];
  child.stdout?.on('data', (d: Buffer) => {
    buf += d.toString();
    let nl;
    while ((nl = buf.indexOf('\n')) >= 0) {
      lines.push(JSON.parse(buf.slice(0, nl)) as LogLine);
      buf = buf.slice(nl + 1);
    }
    for (const w of waiters.splice(0)) w();
  });
  const waitFor = (event: string): Promise<LogLine> =>
    new Promise((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`no ${event} line; got ${JSON.stringify(lines)}`)),
        180_000, // a bound on a hang: a child process starts slowly on a busy machine
      );
      const check = (): void => {
        const hit = lines.find((l) => l.event === event);
        if (hit) {
          clearTimeout(timer);
          resolve(hit);
        } else waiters.push(check);
      };
      check();
    });
  return { child, lines, waitFor };
}

describe('ibpipe sim (child process)', () => {
  it('starts standalone on a free port, serves the real client, logs requests and reports counts on SIGTERM', async () => {
    const sim = startSim(['--port', '0', '--speed', '60', '--now', '2024-12-02T15:00:00Z']);
    const ready = await sim.waitFor('ready');
    expect(ready.port).toBeGreaterThan(0);
    expect(ready).toMatchObject({ data: 'SIMULATED', speed: 60 });
    const ib = new IbProbe(ready.port as number);
    probes.push(ib);
    await ib.connect(51);
    const r = await ib.historical(
      1,
      AAPL,
      '20241127 16:00:00 US/Eastern',
      '23400 S',
      '1 min',
      'TRADES',
      1,
      2,
    );
    expect(r.bars).toHaveLength(390);
    await sim.waitFor('request');
    expect(sim.lines.find((l) => l.event === 'request')).toMatchObject({
      type: 'historicalData',
      symbol: 'AAPL',
      req_id: 1,
    });

    sim.child.kill('SIGUSR2');
    const stats = await sim.waitFor('stats');
    expect(stats.stats).toMatchObject({ requestsServed: 1, pacingViolations: 0, barsSent: 390 });
    sim.child.kill('SIGTERM');
    expect(await waitForExit(sim.child)).toBe(0);
    expect(sim.lines.find((l) => l.event === 'stopping')?.stats).toMatchObject({ requestsServed: 1 });
    expect(ib.decodeErrors()).toEqual([]);
  });

  it('serves the instruments of a standalone sim YAML', async () => {
    const sim = startSim(['--port', '0', '--config', 'config/sim.example.yaml', '--log-level', 'warn']);
    const ready = await sim.waitFor('ready');
    const ib = new IbProbe(ready.port as number);
    probes.push(ib);
    await ib.connect(52);
    const details: ContractDetails[] = [];
    ib.api.on(EventName.contractDetails, (_id: number, d: ContractDetails) => details.push(d));
    ib.api.reqContractDetails(7, {
      symbol: 'XOM',
      secType: 'STK' as never,
      exchange: 'SMART',
      currency: 'USD',
    });
    await ib.waitUntil(() => details.length === 1, 60_000, 'XOM details');
    expect(details[0]).toMatchObject({
      contract: { conId: 13977, primaryExch: 'NYSE' },
      longName: 'EXXON MOBIL CORP',
    });
    // warn level: no per-request info lines.
    expect(sim.lines.filter((l) => l.event === 'request')).toEqual([]);
  });

  it('rejects an invalid sim config with exit 2 and the offending path', async () => {
    const f = join(dir, 'bad-sim.yaml');
    writeFileSync(f, 'port: 4002\npacing: { time_scale: -1 }\nfaults: { latency_ms: 5, bogus: 1 }\n');
    const r = await runCli(['sim', '--port', '0', '--config', f]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('pacing.time_scale');
    expect(r.stderr).toContain('faults');
  });
});
