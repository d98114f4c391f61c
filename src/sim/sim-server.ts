import { createServer, type Server, type Socket } from 'node:net';
import { ClientSession, type SessionHost } from './client-session.js';
import { SystemClock, type Clock, type TimerHandle } from '../core/clock.js';
import { silentLogger, type Logger } from '../core/logger.js';
import { InputError } from '../core/errors.js';
import { ScenarioRunner, type FaultControls } from './faults.js';
import { BASE_BAR_MS, hashU, SyntheticMarket } from './market.js';
import { HistoricalPacing, type PacingRule } from './pacing-rules.js';
import { loadReplaySeries, type ReplayTableReader } from './replay-source.js';
import {
  BAD_BAR_KINDS,
  type BadBarsConfig,
  type ScenarioStep,
  type SimInstrumentConfig,
} from './sim-config.js';
import { BUILTIN_INSTRUMENTS, resolveInstruments, type SimInstrument } from './sim-instruments.js';
import { build, CODE, NO_VALID_ID, TEXT, type Frame } from './tws-protocol.js';

/** What `startSimGateway` accepts; every field has a gateway-like default. */
export interface SimGatewayOptions {
  /** TCP port; 0 picks a free one (read it back from `gateway.port`). Default 4002. */
  readonly port?: number;
  readonly host?: string;
  /** Time source for bars, streams, pacing and faults. Default: the system clock. */
  readonly clock?: Clock;
  /** Reads an instrument's `replay_file` (needed only when one has a replay file; the CLI passes storage's readTableFile). */
  readonly readReplayFile?: ReplayTableReader;
  /** Instruments served in addition to (or, with builtinInstruments=false, instead of) the built-in universe. */
  readonly instruments?: readonly SimInstrumentConfig[];
  readonly builtinInstruments?: boolean;
  readonly extraClosures?: Readonly<Partial<Record<'XNYS' | 'CMES' | 'FX', readonly string[]>>>;
  readonly accounts?: readonly string[];
  readonly nextValidId?: number;
  /** The gateway host's zone (connection time; zone-less request dates). */
  readonly timezone?: string;
  /** Multiplies pacing windows (15 s, 2 s, 10 min, 1 s); e.g. 0.01 for fast tests. */
  readonly pacingTimeScale?: number;
  readonly pacingEnabled?: boolean;
  /** Pace only bar sizes of 30 secs or less, as IB documents (default: pace all). */
  readonly pacingSmallBarsOnly?: boolean;
  readonly maxMessagesPerSecond?: number;
  readonly faults?: {
    readonly latencyMs?: number;
    readonly jitterMs?: number;
    readonly maxChunkBytes?: number;
    readonly badBars?: BadBarsConfig;
    readonly scenario?: readonly ScenarioStep[];
  };
  readonly logger?: Logger;
}

/** Counters for tests and operators ("zero pacing violations"). */
export interface SimStats {
  connectionsOpen: number;
  connectionsTotal: number;
  /** Requests answered with data (not errors). */
  requestsServed: number;
  requestsByType: Record<string, number>;
  pacingViolations: number;
  pacingByRule: Record<string, number>;
  /** Bars in HISTORICAL_DATA, HISTORICAL_DATA_UPDATE and REAL_TIME_BARS messages. */
  barsSent: number;
  historicalBarsSent: number;
  updatesSent: number;
  realtimeBarsSent: number;
  badBarsSent: number;
  errorsSent: Record<string, number>;
  messagesReceived: number;
  messagesSent: number;
  /** TCP writes made while responses are split into chunks (the chunking fault). */
  chunksWritten: number;
  rateLimitDisconnects: number;
  clientIdRejections: number;
}

/** A running simulated gateway. */
export interface SimGateway extends FaultControls {
  readonly host: string;
  readonly port: number;
  readonly clock: Clock;
  readonly instruments: readonly SimInstrument[];
  stats(): SimStats;
  /** Connected clients (after START_API) and their live streams. */
  clients(): { clientId: number; streams: number[] }[];
  /**
   * Every open socket (handshake or not) with the frames it has taken in and written out, in
   * accept order: with the client's own counts, a test knows when nothing is in flight.
   */
  connections(): { clientId: number | undefined; framesIn: number; framesOut: number }[];
  /** Stops listening, drops every client and stops all timers. */
  close(): Promise<void>;
}

/** Live streams catch up missed 5-s boundaries up to this far behind the clock. */
const MAX_CATCH_UP_MS = 600_000;

/** Starts a simulated IB Gateway and resolves once it listens. */
export async function startSimGateway(options: SimGatewayOptions = {}): Promise<SimGateway> {
  const server = new SimServer(options);
  for (const inst of server.instruments) {
    if (!inst.replayFile) continue;
    if (!options.readReplayFile) throw new InputError(`sim instrument ${inst.key}: replay_file ${inst.replayFile} given but no replay file reader (readReplayFile)`);
    server.market.setReplay(inst.key, await loadReplaySeries(inst.replayFile, inst.key, options.readReplayFile));
  }
  await server.listen(options.port ?? 4002, options.host ?? '127.0.0.1');
  return server;
}

class SimServer implements SimGateway, SessionHost {
  readonly clock: Clock;
  readonly instruments: readonly SimInstrument[];
  readonly market = new SyntheticMarket();
  readonly logger: Logger;
  readonly pacing: HistoricalPacing;
  readonly options: SimGatewayOptions;
  readonly accounts: readonly string[];
  readonly timezone: string;
  readonly pacingTimeScale: number;
  readonly pacingEnabled: boolean;
  readonly pacingSmallBarsOnly: boolean;
  readonly maxMessagesPerSecond: number;
  readonly nextValidId: number;
  readonly #server: Server;
  readonly #sessions = new Set<ClientSession>();
  readonly #scenario: ScenarioRunner;
  #host = '127.0.0.1';
  #port = 0;
  #tickTimer: TimerHandle | undefined;
  #lastTick = Number.NEGATIVE_INFINITY;
  #closed = false;
  #upstreamDown = false;
  #marketFarmDown = false;
  #hmdsWaiters: (() => void)[] = [];
  #hmdsDown = false;
  #latencyMs = 0;
  #jitterMs = 0;
  #jitterSeq = 0;
  #maxChunkBytes: number | null = null;
  #badBars: BadBarsConfig | null = null;
  readonly #stats: SimStats = {
    connectionsOpen: 0,
    connectionsTotal: 0,
    requestsServed: 0,
    requestsByType: {},
    pacingViolations: 0,
    pacingByRule: {},
    barsSent: 0,
    historicalBarsSent: 0,
    updatesSent: 0,
    realtimeBarsSent: 0,
    badBarsSent: 0,
    errorsSent: {},
    messagesReceived: 0,
    messagesSent: 0,
    chunksWritten: 0,
    rateLimitDisconnects: 0,
    clientIdRejections: 0,
  };

  constructor(options: SimGatewayOptions) {
    this.options = options;
    this.clock = options.clock ?? new SystemClock();
    this.logger = (options.logger ?? silentLogger()).child({ component: 'sim' });
    const configs = [
      ...(options.builtinInstruments === false ? [] : BUILTIN_INSTRUMENTS),
      ...(options.instruments ?? []),
    ];
    this.instruments = resolveInstruments(configs, options.extraClosures ?? {});
    this.pacingTimeScale = options.pacingTimeScale ?? 1;
    this.pacing = new HistoricalPacing(this.pacingTimeScale);
    this.pacingEnabled = options.pacingEnabled !== false;
    this.pacingSmallBarsOnly = options.pacingSmallBarsOnly === true;
    this.maxMessagesPerSecond = options.maxMessagesPerSecond ?? 50;
    this.nextValidId = options.nextValidId ?? 1;
    this.accounts = options.accounts ?? ['DU1234567'];
    this.timezone = options.timezone ?? 'America/New_York';
    this.#latencyMs = options.faults?.latencyMs ?? 0;
    this.#jitterMs = options.faults?.jitterMs ?? 0;
    this.#maxChunkBytes = options.faults?.maxChunkBytes ?? null;
    this.#badBars = options.faults?.badBars ?? null;
    this.#server = createServer((socket) => this.#accept(socket));
    this.#scenario = new ScenarioRunner(this.clock, this, this.logger);
  }

  get host(): string {
    return this.#host;
  }

  get port(): number {
    return this.#port;
  }

  async listen(port: number, host: string): Promise<void> {
    await new Promise<void>((resolve, reject) => {
      this.#server.once('error', reject);
      this.#server.listen(port, host, () => {
        this.#server.off('error', reject);
        resolve();
      });
    });
    const addr = this.#server.address();
    this.#host = host;
    this.#port = typeof addr === 'object' && addr ? addr.port : port;
    this.#scheduleTick();
    this.#scenario.start(this.options.faults?.scenario ?? []);
    this.logger.info(
      { event: 'listening', host: this.#host, port: this.#port, instruments: this.instruments.length },
      'sim gateway listening',
    );
  }

  stats(): SimStats {
    return structuredClone({ ...this.#stats, connectionsOpen: this.#sessions.size });
  }

  clients(): { clientId: number; streams: number[] }[] {
    return [...this.#sessions]
      .filter((s) => s.clientId !== undefined)
      .map((s) => ({ clientId: s.clientId as number, streams: [...s.streams.keys()] }));
  }

  connections(): { clientId: number | undefined; framesIn: number; framesOut: number }[] {
    return [...this.#sessions].map((s) => ({ clientId: s.clientId, framesIn: s.frames.in, framesOut: s.frames.out }));
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.clock.clearTimeout(this.#tickTimer);
    this.#scenario.stop();
    for (const w of this.#hmdsWaiters.splice(0)) w();
    for (const s of this.#sessions) s.destroy();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
    this.logger.info({ event: 'closed', stats: this.stats() }, 'sim gateway closed');
  }

  // ---- bookkeeping used by sessions --------------------------------------------------------

  count(type: string): void {
    this.#stats.requestsByType[type] = (this.#stats.requestsByType[type] ?? 0) + 1;
  }

  served(): void {
    this.#stats.requestsServed++;
  }

  countError(code: number): void {
    this.#stats.errorsSent[code] = (this.#stats.errorsSent[code] ?? 0) + 1;
  }

  countPacing(rule: PacingRule): void {
    this.#stats.pacingViolations++;
    this.#stats.pacingByRule[rule] = (this.#stats.pacingByRule[rule] ?? 0) + 1;
  }

  countBars(kind: 'historical' | 'update' | 'realtime', n: number, bad: number): void {
    this.#stats.barsSent += n;
    this.#stats.badBarsSent += bad;
    if (kind === 'historical') this.#stats.historicalBarsSent += n;
    else if (kind === 'update') this.#stats.updatesSent += n;
    else this.#stats.realtimeBarsSent += n;
  }

  countMessage(direction: 'in' | 'out'): void {
    if (direction === 'in') this.#stats.messagesReceived++;
    else this.#stats.messagesSent++;
  }

  countChunk(): void {
    this.#stats.chunksWritten++;
  }

  countRateLimit(): void {
    this.#stats.rateLimitDisconnects++;
  }

  countClientIdRejection(): void {
    this.#stats.clientIdRejections++;
  }

  clientIdInUse(clientId: number, self: ClientSession): boolean {
    return [...this.#sessions].some((s) => s !== self && s.clientId === clientId);
  }

  get marketFarmDown(): boolean {
    return this.#marketFarmDown;
  }

  get hmdsDown(): boolean {
    return this.#hmdsDown;
  }

  /** Resolves when the HMDS farm is up (immediately unless an outage is in progress). */
  hmdsReady(): Promise<void> {
    if (!this.#hmdsDown) return Promise.resolve();
    return new Promise((resolve) => this.#hmdsWaiters.push(resolve));
  }

  get badBars(): BadBarsConfig | null {
    return this.#badBars;
  }

  /** Delay before a response leaves: latency plus deterministic jitter. */
  responseDelay(): number {
    if (this.#latencyMs === 0 && this.#jitterMs === 0) return 0;
    return this.#latencyMs + this.#jitterMs * hashU(0x5eed, 11, this.#jitterSeq++, 0);
  }

  get maxChunkBytes(): number | null {
    return this.#maxChunkBytes;
  }

  remove(session: ClientSession): void {
    this.#sessions.delete(session);
  }

  // ---- FaultControls -------------------------------------------------------------------------

  dropConnections(filter: { clientId?: number } = {}): number {
    let n = 0;
    for (const s of [...this.#sessions]) {
      if (filter.clientId !== undefined && s.clientId !== filter.clientId) continue;
      s.destroy();
      n++;
    }
    this.logger.warn(
      { event: 'fault', fault: 'drop_socket', dropped: n, ...filter },
      'fault: dropped client sockets',
    );
    return n;
  }

  async connectivityLoss(opts: {
    restore: 'data_lost' | 'data_maintained';
    durationMs: number;
  }): Promise<void> {
    this.logger.warn(
      { event: 'fault', fault: 'connectivity_loss', ...opts },
      'fault: connectivity lost (1100)',
    );
    this.#upstreamDown = true;
    this.#broadcast(
      build.error(NO_VALID_ID, CODE.CONNECTIVITY_LOST, TEXT.connectivityLost),
      CODE.CONNECTIVITY_LOST,
    );
    await this.clock.sleep(opts.durationMs);
    if (this.#closed) return;
    this.#upstreamDown = false;
    if (opts.restore === 'data_lost') {
      // Subscriptions are gone on the gateway side; clients must re-request them.
      for (const s of this.#sessions) s.streams.clear();
      this.#broadcast(
        build.error(NO_VALID_ID, CODE.CONNECTIVITY_RESTORED_DATA_LOST, TEXT.connectivityRestoredDataLost),
        CODE.CONNECTIVITY_RESTORED_DATA_LOST,
      );
    } else {
      this.#broadcast(
        build.error(
          NO_VALID_ID,
          CODE.CONNECTIVITY_RESTORED_DATA_MAINTAINED,
          TEXT.connectivityRestoredDataMaintained,
        ),
        CODE.CONNECTIVITY_RESTORED_DATA_MAINTAINED,
      );
    }
    this.logger.info(
      { event: 'fault_end', fault: 'connectivity_loss', restore: opts.restore },
      'fault: connectivity restored',
    );
  }

  async farmOutage(opts: {
    farm: 'market' | 'hmds';
    name?: string;
    durationMs: number;
    streamsResume?: boolean;
  }): Promise<void> {
    const market = opts.farm === 'market';
    const name = opts.name ?? (market ? 'usfarm' : 'ushmds');
    this.logger.warn(
      { event: 'fault', fault: 'farm_outage', ...opts, name },
      `fault: ${opts.farm} farm broken`,
    );
    if (market) {
      this.#marketFarmDown = true;
      this.#broadcast(
        build.error(NO_VALID_ID, CODE.MARKET_FARM_BROKEN, TEXT.marketFarmBroken(name)),
        CODE.MARKET_FARM_BROKEN,
      );
    } else {
      this.#hmdsDown = true;
      this.#broadcast(
        build.error(NO_VALID_ID, CODE.HMDS_FARM_BROKEN, TEXT.hmdsFarmBroken(name)),
        CODE.HMDS_FARM_BROKEN,
      );
    }
    await this.clock.sleep(opts.durationMs);
    if (this.#closed) return;
    if (market) {
      this.#marketFarmDown = false;
      if (opts.streamsResume === false) {
        for (const s of this.#sessions)
          for (const st of s.streams.values()) st.silentUntil = Number.POSITIVE_INFINITY;
      }
      this.#broadcast(
        build.error(NO_VALID_ID, CODE.MARKET_FARM_OK, TEXT.marketFarmOk(name)),
        CODE.MARKET_FARM_OK,
      );
    } else {
      this.#hmdsDown = false;
      this.#broadcast(build.error(NO_VALID_ID, CODE.HMDS_FARM_OK, TEXT.hmdsFarmOk(name)), CODE.HMDS_FARM_OK);
      for (const w of this.#hmdsWaiters.splice(0)) w();
    }
  }

  silenceStreams(opts: { reqId?: number; durationMs?: number } = {}): number {
    const until =
      opts.durationMs === undefined ? Number.POSITIVE_INFINITY : this.clock.now() + opts.durationMs;
    let n = 0;
    for (const s of this.#sessions) {
      for (const st of s.streams.values()) {
        if (opts.reqId !== undefined && st.reqId !== opts.reqId) continue;
        st.silentUntil = until;
        n++;
      }
    }
    this.logger.warn(
      { event: 'fault', fault: 'silence_streams', streams: n, ...opts },
      'fault: live streams silenced',
    );
    return n;
  }

  cancelStreams(opts: { reqId?: number } = {}): number {
    let n = 0;
    for (const s of this.#sessions) {
      for (const st of [...s.streams.values()]) {
        if (opts.reqId !== undefined && st.reqId !== opts.reqId) continue;
        s.streams.delete(st.reqId);
        s.sendError(st.reqId, CODE.HMDS_ERROR, TEXT.queryCancelled(st.reqId));
        n++;
      }
    }
    this.logger.warn(
      { event: 'fault', fault: 'cancel_streams', streams: n, ...opts },
      'fault: live streams cancelled (162)',
    );
    return n;
  }

  setLatency(latencyMs: number, jitterMs = 0): void {
    this.#latencyMs = latencyMs;
    this.#jitterMs = jitterMs;
    this.logger.warn({ event: 'fault', fault: 'latency', latencyMs, jitterMs }, 'fault: latency set');
  }

  setChunking(maxChunkBytes: number | null): void {
    this.#maxChunkBytes = maxChunkBytes;
    this.logger.warn({ event: 'fault', fault: 'chunking', maxChunkBytes }, 'fault: chunking set');
  }

  setBadBars(config: BadBarsConfig | null): void {
    this.#badBars =
      config === null
        ? null
        : { rate: config.rate, kinds: config.kinds ?? [...BAD_BAR_KINDS], seed: config.seed ?? 7 };
    this.logger.warn({ event: 'fault', fault: 'bad_bars', config }, 'fault: bad bars set');
  }

  // ---- internals -----------------------------------------------------------------------------

  #accept(socket: Socket): void {
    if (this.#closed) {
      socket.destroy();
      return;
    }
    socket.setNoDelay(true);
    const session = new ClientSession(this, socket);
    this.#sessions.add(session);
    this.#stats.connectionsTotal++;
  }

  #broadcast(frame: Frame, code: number): void {
    for (const s of this.#sessions) {
      if (s.clientId === undefined) continue;
      s.send(frame);
      this.countError(code);
    }
  }

  #scheduleTick(): void {
    if (this.#closed) return;
    const now = this.clock.now();
    // Every boundary is reported once, in order: a scaled timer can fire a hair early in
    // virtual time, and a busy event loop late (then missed boundaries are caught up, unless
    // the sim fell more than MAX_CATCH_UP_MS behind, e.g. after the machine slept).
    const upcoming = (Math.floor(now / BASE_BAR_MS) + 1) * BASE_BAR_MS;
    const next =
      this.#lastTick === Number.NEGATIVE_INFINITY || upcoming - this.#lastTick > MAX_CATCH_UP_MS
        ? upcoming
        : this.#lastTick + BASE_BAR_MS;
    this.#tickTimer = this.clock.setTimeout(
      () => {
        this.#lastTick = next;
        try {
          this.#tick(next);
        } catch (err) {
          this.logger.error({ err }, 'sim stream tick failed');
        }
        this.#scheduleTick();
      },
      Math.max(0, next - now),
    );
  }

  /** At each 5-s boundary: every live stream reports the 5-s bar that just completed. */
  #tick(boundary: number): void {
    if (this.#upstreamDown || this.#marketFarmDown) return;
    const t = boundary - BASE_BAR_MS;
    for (const s of this.#sessions) {
      for (const st of s.streams.values()) {
        if (st.silentUntil > boundary) continue;
        if (st.kind === 'realTimeBars') {
          const bar = this.market.baseBar(st.inst, t, st.series, st.rth);
          if (bar) s.sendRealtimeBar(st, bar);
        } else {
          const bar = this.market.barContaining(st.inst, st.bar, t, st.series, st.rth, boundary);
          if (bar) s.sendUpdate(st, bar);
        }
      }
    }
  }
}
