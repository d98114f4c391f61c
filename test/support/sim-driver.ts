import type { ManualClock } from '../../src/core/clock.js';
import { createIbApi, type IbApiFactory, type IbApiPort } from '../../src/data-sources/tws/ib-api-port.js';
import type { SimGateway } from '../../src/sim/sim-server.js';

/** Frames one IBApi instance (one connection attempt) has sent and received. */
interface WireRecord {
  state: 'connecting' | 'open' | 'closed';
  sent: number;
  received: number;
}

type Listenable = { on(event: string, listener: (...args: never[]) => void): unknown };

/** Counts a connection's frames through the library's own events. */
function count(api: Listenable, rec: WireRecord): void {
  api.on('sent', () => {
    rec.sent++;
  });
  api.on('received', () => {
    rec.received++;
    if (rec.state === 'connecting') rec.state = 'open';
  });
  api.on('disconnected', () => {
    rec.state = 'closed';
  });
}

/**
 * The real @stoqey/ib client, counting the frames of each connection through the library's own
 * `sent` / `received` events. Nothing about the client changes; the counts only let a test see
 * that every frame either side wrote has been read by the other.
 */
export class CountingApiFactory {
  readonly records: WireRecord[] = [];
  /** The client id the counted client connects with (the sim reports its sessions by it). */
  readonly clientId: number;

  constructor(clientId: number) {
    this.clientId = clientId;
  }

  /** Counts the frames of an IBApi the test made itself (call before it connects). */
  watch(api: Listenable): void {
    const rec: WireRecord = { state: 'connecting', sent: 0, received: 0 };
    this.records.push(rec);
    count(api, rec);
  }

  readonly factory: IbApiFactory = (host, port) => {
    const api = createIbApi(host, port);
    const rec: WireRecord = { state: 'connecting', sent: 0, received: 0 };
    this.records.push(rec);
    const watch = (): void => count(api, rec);
    watch();
    const wrapped: IbApiPort = {
      connect: (clientId) => api.connect(clientId),
      disconnect: () => {
        rec.state = 'closed';
        return api.disconnect();
      },
      on: (event, listener) => api.on(event, listener),
      // TwsClient clears its listeners when it drops a connection; the counters stay.
      removeAllListeners: (event) => {
        const out = api.removeAllListeners(event);
        if (event === undefined) watch();
        return out;
      },
      reqContractDetails: (...a) => api.reqContractDetails(...a),
      reqHeadTimestamp: (...a) => api.reqHeadTimestamp(...a),
      reqHistoricalData: (...a) => api.reqHistoricalData(...a),
      cancelHistoricalData: (...a) => api.cancelHistoricalData(...a),
      cancelHeadTimestamp: (...a) => api.cancelHeadTimestamp(...a),
    };
    return wrapped;
  };

  /** The connection not yet closed, if any (TwsClient holds at most one). */
  live(): WireRecord | undefined {
    return this.records.filter((r) => r.state !== 'closed').at(-1);
  }
}

const turn = (): Promise<void> => new Promise<void>((r) => setImmediate(r));
/** While something is in flight, poll without spinning the CPU the work in flight needs. */
const pause = (): Promise<void> => new Promise<void>((r) => setTimeout(r, 1));

/**
 * Runs a simulated gateway, a client and whatever sits on top of them on one ManualClock, and
 * moves time only when nothing is in flight: after each timer instant it waits until every
 * frame the sim wrote was read by the client and every frame the client wrote was read by the
 * sim (and no socket is half-open), and until the lake has no statement running. So the
 * outcome does not depend on how fast the machine is: a busy machine only takes longer.
 */
export class SimDriver {
  readonly #clock: ManualClock;
  readonly #sim: SimGateway;
  readonly #wires: readonly CountingApiFactory[];
  readonly #idle: () => boolean;

  /** `wires`: every client of the sim (the sim may serve no other); `idle`: false while other work is under way (the lake). */
  constructor(clock: ManualClock, sim: SimGateway, wires: CountingApiFactory | readonly CountingApiFactory[], options: { idle?: () => boolean } = {}) {
    this.#clock = clock;
    this.#sim = sim;
    this.#wires = Array.isArray(wires) ? wires : [wires as CountingApiFactory];
    this.#idle = options.idle ?? (() => true);
  }

  /**
   * A fingerprint of the wire state, or null while something is in flight: a TCP connect or
   * handshake not yet written, or a frame one side wrote that the other has not read. (A frame
   * the sim holds back for a latency fault is not in flight: it waits for the clock.)
   */
  #quiet(): string | null {
    if (!this.#idle()) return null;
    const conns = this.#sim.connections();
    const unclaimed = conns.filter((c) => c.clientId === undefined);
    const parts: string[] = [];
    for (const wire of this.#wires) {
      const live = wire.live();
      const mine = conns.filter((c) => c.clientId === wire.clientId);
      if (live === undefined) {
        if (mine.length > 0) return null;
        parts.push('none');
        continue;
      }
      if (live.sent === 0) return null;
      // Before START_API the sim does not know the client id: pair the one unclaimed socket.
      const session = mine.length === 1 ? mine[0] : mine.length === 0 && unclaimed.length === 1 ? unclaimed.shift() : undefined;
      if (session === undefined || session.framesIn !== live.sent || session.framesOut !== live.received) return null;
      parts.push(`${wire.records.length}:${live.sent}:${live.received}`);
    }
    // A socket no client accounts for is a connection in flight (or one being torn down).
    if (unclaimed.length > 0) return null;
    return parts.join('|');
  }

  /**
   * Waits (in event-loop turns, never in time) until nothing is in flight, twice in a row with
   * the same counts: a promise chain that answers a frame with another shows up in between.
   */
  async settle(): Promise<void> {
    let last: string | null = null;
    for (let polls = 0; ; polls++) {
      await (last === null && polls > 3 ? pause() : turn());
      const now = this.#quiet();
      if (now !== null && now === last) return;
      last = now;
      // Not a timing assumption: only a deadlock gets here (the test's own timeout is shorter).
      if (polls > 1_000_000) throw new Error(`the wire never settled: sim ${JSON.stringify(this.#sim.connections())}, clients ${JSON.stringify(this.#wires.map((w) => w.records.at(-1)))}`);
    }
  }

  /** Moves the clock to `instant`, one timer instant at a time, settling after each. */
  async advanceTo(instant: number): Promise<void> {
    await this.settle();
    for (;;) {
      const next = this.#clock.nextTimerAt();
      if (next === undefined || next > instant) break;
      await this.#clock.set(next);
      await this.settle();
    }
    await this.#clock.set(instant);
    await this.settle();
  }

  async advance(ms: number): Promise<void> {
    await this.advanceTo(this.#clock.now() + ms);
  }

  /** Advances the clock as `promise` needs it until it settles; its value (or rejection). */
  async run<T>(promise: Promise<T>, what = 'the operation', maxMs = 24 * 3_600_000): Promise<T> {
    let settled = false;
    const watched = promise.finally(() => {
      settled = true;
    });
    watched.catch(() => undefined);
    await this.until(what, () => settled, maxMs);
    return watched;
  }

  /** Advances timer by timer until `pred` holds; fails once `maxMs` of clock time has passed. */
  async until(what: string, pred: () => boolean, maxMs: number, describe: () => string = () => ''): Promise<void> {
    const limit = this.#clock.now() + maxMs;
    await this.settle();
    while (!pred()) {
      const next = this.#clock.nextTimerAt();
      if (next === undefined || next > limit) throw new Error(`${what}: not reached within ${maxMs} ms of clock time ${describe()}`);
      await this.#clock.set(next);
      await this.settle();
    }
  }
}
