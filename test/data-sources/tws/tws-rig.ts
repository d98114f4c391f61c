import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { InstrumentCalendars } from '../../../src/calendar/instrument-calendars.js';
import { instrumentConfigSchema } from '../../../src/config/instrument-config.js';
import { ManualClock, SystemClock, type Clock } from '../../../src/core/clock.js';
import type { Instrument } from '../../../src/core/instruments.js';
import type { IbApiFactory } from '../../../src/data-sources/tws/ib-api-port.js';
import { twsConfigSchema, type TwsConfig } from '../../../src/data-sources/tws/tws-config.js';
import { TwsClient } from '../../../src/data-sources/tws/tws-client.js';
import { TwsIngestor } from '../../../src/data-sources/tws/tws-ingestor.js';
import { createLogger } from '../../../src/ops/logging-setup.js';
import { startSimGateway, type SimGateway, type SimGatewayOptions } from '../../../src/sim/sim-server.js';
import { Lake } from '../../../src/storage/lake.js';
import { RawStore } from '../../../src/storage/raw-store.js';
import { CountingApiFactory, SimDriver } from '../../support/sim-driver.js';

/** Instruments as a user would configure them (the sim serves these with fixed conIds). */
export const AAPL: Instrument = instrumentConfigSchema.parse({
  key: 'AAPL', sec_type: 'STK', symbol: 'AAPL', exchange: 'SMART', primary_exchange: 'NASDAQ', currency: 'USD', calendar: 'XNYS',
});
export const MSFT: Instrument = instrumentConfigSchema.parse({
  key: 'MSFT', sec_type: 'STK', symbol: 'MSFT', exchange: 'SMART', primary_exchange: 'NASDAQ', currency: 'USD', calendar: 'XNYS',
});

/** Captures JSON log lines (the sim logs every request it receives with its time). */
export class LogSink extends Writable {
  readonly lines: Record<string, unknown>[] = [];
  override _write(chunk: Buffer, _enc: string, cb: () => void): void {
    for (const line of chunk.toString('utf8').split('\n')) {
      if (line.trim()) this.lines.push(JSON.parse(line) as Record<string, unknown>);
    }
    cb();
  }
  /** Historical-data requests the sim received, in order, with the sim clock's time of arrival (epoch ms). */
  historicalRequests(): Array<{ at: number; end: string; symbol: string; keepUpToDate: boolean }> {
    return this.lines
      .filter((l) => l['event'] === 'request' && l['type'] === 'historicalData')
      .map((l) => ({ at: Number(l['sim_time']), end: String(l['end']), symbol: String(l['symbol']), keepUpToDate: l['keep_up_to_date'] === true }));
  }
}

export interface Rig {
  readonly dir: string;
  readonly sim: SimGateway;
  readonly simLog: LogSink;
  readonly clock: Clock;
  readonly lake: Lake;
  readonly rawStore: RawStore;
  readonly config: TwsConfig;
  readonly client: TwsClient;
  readonly ingestor: TwsIngestor;
  readonly calendars: InstrumentCalendars;
  close(): Promise<void>;
}

export async function startRig(opts: {
  instruments?: readonly Instrument[];
  clock?: Clock;
  timeScale?: number;
  sim?: Partial<SimGatewayOptions>;
  tws?: Record<string, unknown>;
  /** Wraps the client's connections (e.g. to count their frames). */
  apiFactory?: IbApiFactory;
}): Promise<Rig> {
  const dir = mkdtempSync(join(tmpdir(), 'ibpipe-'));
  const clock = opts.clock ?? new SystemClock();
  const timeScale = opts.timeScale ?? 1;
  const simLog = new LogSink();
  const sim = await startSimGateway({
    port: 0,
    clock,
    pacingTimeScale: timeScale,
    logger: createLogger({ level: 'info', format: 'json', destination: simLog }),
    ...opts.sim,
  });
  const lake = await Lake.open({ root: dir });
  const instruments = opts.instruments ?? [AAPL, MSFT];
  const calendars = new InstrumentCalendars(instruments);
  const rawStore = new RawStore(lake, calendars);
  const config = twsConfigSchema.parse({ host: '127.0.0.1', port: sim.port, client_id: 11, pacing_time_scale: timeScale, ...opts.tws });
  const client = TwsClient.fromConfig(config, { clock, ...(opts.apiFactory ? { apiFactory: opts.apiFactory } : {}) });
  const ingestor = new TwsIngestor({
    client,
    rawStore,
    stateDir: lake.path('state'),
    calendarFor: (s) => calendars.calendarFor(s),
    clock,
    config,
  });
  return {
    dir,
    sim,
    simLog,
    clock,
    lake,
    rawStore,
    config,
    client,
    ingestor,
    calendars,
    async close() {
      await client.disconnect();
      await sim.close();
      await lake.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** The rig's TWS ingestor as a source (`Ingestor`, as `ibpipe ingest --source tws` builds it): it owns the rig's client. */
export function twsSourceOn(rig: Rig, instruments: readonly Instrument[]): TwsIngestor {
  return new TwsIngestor({
    client: rig.client,
    ownsClient: true,
    rawStore: rig.rawStore,
    stateDir: rig.lake.path('state'),
    calendarFor: (s) => rig.calendars.calendarFor(s),
    clock: rig.clock,
    config: rig.config,
    instruments,
  });
}

export interface ManualRig extends Rig {
  readonly clock: ManualClock;
  readonly driver: SimDriver;
  /** Frame counts of the rig client's connections (for a driver that also watches other clients). */
  readonly wire: CountingApiFactory;
}

/**
 * A rig whose sim, client and stores share a ManualClock that a SimDriver moves only when
 * nothing is in flight: pacing windows, timeouts and live streams run in IB's real durations
 * at no real cost, and the outcome does not depend on how busy the machine is.
 */
export async function startManualRig(start: number, opts: Omit<Parameters<typeof startRig>[0], 'clock' | 'timeScale' | 'apiFactory'> = {}): Promise<ManualRig> {
  const clock = new ManualClock(start);
  const clientId = Number((opts.tws as { client_id?: unknown } | undefined)?.client_id ?? 11);
  const wire = new CountingApiFactory(clientId);
  const rig = await startRig({ ...opts, clock, timeScale: 1, apiFactory: wire.factory });
  return { ...rig, clock, wire, driver: new SimDriver(clock, rig.sim, wire, { idle: () => !rig.lake.busy }) };
}

/** Every minute bar start of XNYS regular hours on the given days, written out independently of the calendar code. */
export function nyseMinuteStarts(days: ReadonlyArray<{ date: string; openUtc: string; closeUtc: string }>): number[] {
  const out: number[] = [];
  for (const d of days) {
    const open = Date.parse(`${d.date}T${d.openUtc}:00Z`);
    const close = Date.parse(`${d.date}T${d.closeUtc}:00Z`);
    for (let t = open; t < close; t += 60_000) out.push(t);
  }
  return out;
}
