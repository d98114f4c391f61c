import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type Contract, type ContractDetails, EventName, IBApi } from '@stoqey/ib';
import { LIBRARY_MAX_REQ_PER_SEC } from '../../src/data-sources/tws/ib-api-port.js';
import { ManualClock } from '../../src/core/clock.js';
import { startSimGateway } from '../../src/sim/sim-server.js';

/**
 * Records IB payloads exactly as the unmodified @stoqey/ib client delivers them from the
 * simulated gateway, for the pure mapping tests (test/data-sources/tws/ib-bar-mapping.test.ts).
 * Re-record after changing the sim's market or the library: `npx tsx test/support/record-ib-payloads.ts`.
 * ib-payloads-fresh.test.ts records again and compares, so committed fixtures cannot drift.
 */

/** One historicalData request and the events it produced: `[time, open, high, low, close, volume, count, wap]` (undefined as null). */
export interface BarPayloadFixture {
  readonly name: string;
  readonly request: {
    readonly symbol: string;
    readonly endDateTime: string;
    readonly durationStr: string;
    readonly barSize: string;
    readonly whatToShow: string;
    readonly useRth: boolean;
    readonly formatDate: 1 | 2;
  };
  /** What contract details said of the instrument (the mapping needs conId and zone). */
  readonly contract: { readonly conId: number; readonly timeZoneId: string };
  readonly bars: ReadonlyArray<readonly [string, number, number, number, number, number, number | null, number]>;
  readonly finished: string;
}

export interface ContractDetailsFixture {
  readonly name: string;
  readonly request: Contract;
  readonly details: ContractDetails[];
}

const STOCK = (symbol: string): Contract => ({ symbol, secType: 'STK' as Contract['secType'], exchange: 'SMART', currency: 'USD' });

/** The recorded cases: 1-min bars of a series with and without volume, both date formats, and daily bars. */
export const CASES: ReadonlyArray<BarPayloadFixture['request'] & { name: string }> = [
  { name: 'aapl-1min-trades-epoch', symbol: 'AAPL', endDateTime: '20241125-14:35:00', durationStr: '300 S', barSize: '1 min', whatToShow: 'TRADES', useRth: true, formatDate: 2 },
  { name: 'aapl-1min-midpoint-epoch', symbol: 'AAPL', endDateTime: '20241125-14:35:00', durationStr: '300 S', barSize: '1 min', whatToShow: 'MIDPOINT', useRth: true, formatDate: 2 },
  { name: 'aapl-1min-trades-zoned', symbol: 'AAPL', endDateTime: '20241125-14:35:00', durationStr: '300 S', barSize: '1 min', whatToShow: 'TRADES', useRth: true, formatDate: 1 },
  { name: 'aapl-1day-trades', symbol: 'AAPL', endDateTime: '20241130-00:00:00', durationStr: '1 W', barSize: '1 day', whatToShow: 'TRADES', useRth: true, formatDate: 1 },
];

async function withClient<T>(port: number, fn: (api: IBApi, nextId: () => number) => Promise<T>): Promise<T> {
  const api = new IBApi({ host: '127.0.0.1', port, maxReqPerSec: LIBRARY_MAX_REQ_PER_SEC });
  api.on(EventName.error, () => undefined);
  await new Promise<void>((resolve) => {
    api.once(EventName.nextValidId, () => resolve());
    api.connect(71);
  });
  let id = 9_000;
  try {
    return await fn(api, () => id++);
  } finally {
    api.disconnect();
  }
}

function contractDetails(api: IBApi, reqId: number, contract: Contract): Promise<ContractDetails[]> {
  return new Promise((resolve) => {
    const all: ContractDetails[] = [];
    const onDetails = (id: number, d: ContractDetails): void => {
      if (id === reqId) all.push(d);
    };
    const onEnd = (id: number): void => {
      if (id !== reqId) return;
      api.off(EventName.contractDetails, onDetails);
      api.off(EventName.contractDetailsEnd, onEnd);
      resolve(all);
    };
    api.on(EventName.contractDetails, onDetails);
    api.on(EventName.contractDetailsEnd, onEnd);
    api.reqContractDetails(reqId, contract);
  });
}

function historical(api: IBApi, reqId: number, contract: Contract, c: BarPayloadFixture['request']): Promise<{ bars: BarPayloadFixture['bars'][number][]; finished: string }> {
  return new Promise((resolve) => {
    const bars: BarPayloadFixture['bars'][number][] = [];
    const onBar = (id: number, time: string, open: number, high: number, low: number, close: number, volume: number, count: number | undefined, wap: number): void => {
      if (id !== reqId) return;
      if (time.startsWith('finished')) {
        api.off(EventName.historicalData, onBar);
        resolve({ bars, finished: time });
      } else bars.push([time, open, high, low, close, volume, count ?? null, wap]);
    };
    api.on(EventName.historicalData, onBar);
    api.reqHistoricalData(reqId, contract, c.endDateTime, c.durationStr, c.barSize as never, c.whatToShow as never, c.useRth ? 1 : 0, c.formatDate, false);
  });
}

/** The sim's clock while recording (Monday 2024-12-02 12:00 UTC): contract details list the trading hours of the days after it. */
export const RECORDED_AT = Date.UTC(2024, 11, 2, 12, 0);

/** Starts a sim on a clock stopped at RECORDED_AT, records every case through a plain IBApi client, stops the sim. */
export async function recordIbPayloads(): Promise<{ bars: BarPayloadFixture[]; contracts: ContractDetailsFixture[] }> {
  const sim = await startSimGateway({ port: 0, pacingEnabled: false, clock: new ManualClock(RECORDED_AT) });
  try {
    return await withClient(sim.port, async (api, nextId) => {
      const details = await contractDetails(api, nextId(), STOCK('AAPL'));
      const first = details[0];
      if (!first?.contract.conId) throw new Error('the sim returned no AAPL contract');
      const contract: Contract = { ...STOCK('AAPL'), conId: first.contract.conId };
      const bars: BarPayloadFixture[] = [];
      for (const { name, ...request } of CASES) {
        const got = await historical(api, nextId(), contract, request);
        bars.push({ name, request, contract: { conId: first.contract.conId, timeZoneId: first.timeZoneId ?? '' }, ...got });
      }
      return { bars, contracts: [{ name: 'aapl-contract-details', request: STOCK('AAPL'), details }] };
    });
  } finally {
    await sim.close();
  }
}

export const FIXTURE_DIR = fileURLToPath(new URL('../fixtures/ib-payloads/', import.meta.url));

/** The file content of a fixture (stable key order, one bar per line for reviewable diffs). */
export function fixtureText(f: BarPayloadFixture | ContractDetailsFixture): string {
  if (!('bars' in f)) return `${JSON.stringify(f, null, 2)}\n`;
  const { bars, ...rest } = f;
  const head = JSON.stringify(rest, null, 2).replace(/\n}$/, '');
  return `${head},\n  "bars": [\n${bars.map((b) => `    ${JSON.stringify(b)}`).join(',\n')}\n  ]\n}\n`;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const { bars, contracts } = await recordIbPayloads();
  for (const f of [...bars, ...contracts]) writeFileSync(join(FIXTURE_DIR, `${f.name}.json`), fixtureText(f));
  console.log(`wrote ${bars.length + contracts.length} fixtures to ${FIXTURE_DIR}`);
}
