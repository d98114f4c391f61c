import type { Socket } from 'node:net';
import type { Clock } from '../core/clock.js';
import type { Logger } from '../core/logger.js';
import { badKindFor, corruptBar, corruptBars } from './faults.js';
import {
  formatConnectionTime,
  formatIbDate,
  formatIbDateTime,
  INVALID_BAR_SIZE_CAUSE,
  maxDurationSeconds,
  nominalSeconds,
  parseBarSize,
  parseDuration,
  parseEndDate,
  subtractDuration,
  type BarSpec,
} from './ib-request-time.js';
import {
  BASE_BAR_MS,
  PRICE_SERIES,
  type MarketBar,
  type PriceSeries,
  type SyntheticMarket,
} from './market.js';
import { MessageRateLimit, type HistoricalPacing, type PacingRule } from './pacing-rules.js';
import { buildContractData } from './contract-details.js';
import type { BadBarsConfig } from './sim-config.js';
import { matchContract, type ContractQuery, type SimInstrument } from './sim-instruments.js';
import {
  build,
  type ClientRequest,
  CODE,
  decodeRequest,
  MIN_CLIENT_VERSION,
  NO_VALID_ID,
  REQ,
  SERVER_VERSION,
  TEXT,
  type Frame,
  type WireBar,
} from './tws-protocol.js';
import { encodeFrame, FrameDecoder, WireProtocolError } from './wire-codec.js';

export type StreamKind = 'keepUpToDate' | 'realTimeBars';

/** A live subscription of one client: keepUpToDate updates or 5-second real-time bars. */
export interface LiveStream {
  readonly kind: StreamKind;
  readonly reqId: number;
  readonly inst: SimInstrument;
  readonly bar: BarSpec;
  readonly series: PriceSeries;
  readonly rth: boolean;
  readonly formatDate: number;
  /** Silent until this sim instant (Infinity: for good). */
  silentUntil: number;
}

/** What a client session needs from its gateway: shared market, rules, fault state, counters. */
export interface SessionHost {
  readonly clock: Clock;
  readonly logger: Logger;
  readonly instruments: readonly SimInstrument[];
  readonly market: SyntheticMarket;
  readonly pacing: HistoricalPacing;
  readonly accounts: readonly string[];
  /** The gateway host's zone (connection time; zone-less request dates). */
  readonly timezone: string;
  readonly nextValidId: number;
  readonly maxMessagesPerSecond: number;
  readonly pacingTimeScale: number;
  readonly pacingEnabled: boolean;
  readonly pacingSmallBarsOnly: boolean;
  readonly marketFarmDown: boolean;
  readonly hmdsDown: boolean;
  readonly badBars: BadBarsConfig | null;
  readonly maxChunkBytes: number | null;
  /** Resolves when the HMDS farm is up. */
  hmdsReady(): Promise<void>;
  /** Delay before the next response leaves (latency plus jitter), sim-clock ms. */
  responseDelay(): number;
  clientIdInUse(clientId: number, self: ClientSession): boolean;
  remove(session: ClientSession): void;
  count(type: string): void;
  served(): void;
  countError(code: number): void;
  countPacing(rule: PacingRule): void;
  countBars(kind: 'historical' | 'update' | 'realtime', n: number, bad: number): void;
  countMessage(direction: 'in' | 'out'): void;
  countChunk(): void;
  countRateLimit(): void;
  countClientIdRejection(): void;
}

/** The farm notices a healthy gateway sends after START_API. */
const FARMS_OK: readonly Frame[] = [
  build.error(NO_VALID_ID, CODE.MARKET_FARM_OK, TEXT.marketFarmOk('usfarm.nj')),
  build.error(NO_VALID_ID, CODE.MARKET_FARM_OK, TEXT.marketFarmOk('usfuture')),
  build.error(NO_VALID_ID, CODE.MARKET_FARM_OK, TEXT.marketFarmOk('cashfarm')),
  build.error(NO_VALID_ID, CODE.MARKET_FARM_OK, TEXT.marketFarmOk('usfarm')),
  build.error(NO_VALID_ID, CODE.HMDS_FARM_OK, TEXT.hmdsFarmOk('ushmds')),
  build.error(NO_VALID_ID, CODE.HMDS_FARM_OK, TEXT.hmdsFarmOk('cashhmds')),
  build.error(NO_VALID_ID, CODE.SECDEF_FARM_OK, TEXT.secdefFarmOk('secdefil')),
];

/** One client connection: handshake, request dispatch, outbound queue. */
export class ClientSession {
  clientId: number | undefined;
  readonly streams = new Map<number, LiveStream>();
  readonly #decoder = new FrameDecoder();
  readonly #rate: MessageRateLimit;
  #state: 'greeting' | 'awaiting-start' | 'ready' | 'closing' = 'greeting';
  #outQueue: Promise<void> = Promise.resolve();
  #queued = 0;
  /** Frames taken from the client (the version handshake included) and written to it. */
  #framesIn = 0;
  #framesOut = 0;
  readonly #log: Logger;

  constructor(
    private readonly gw: SessionHost,
    private readonly socket: Socket,
  ) {
    this.#rate = new MessageRateLimit(gw.maxMessagesPerSecond, gw.pacingTimeScale);
    this.#log = gw.logger.child({ remote: `${socket.remoteAddress ?? '?'}:${socket.remotePort ?? '?'}` });
    socket.on('data', (chunk) => this.#onData(chunk));
    socket.on('close', () => this.#onClose());
    socket.on('error', (err) => this.#log.debug({ err }, 'client socket error'));
  }

  /** Frame counts of this connection, so a test can tell when nothing is left in flight. */
  get frames(): { readonly in: number; readonly out: number } {
    return { in: this.#framesIn, out: this.#framesOut };
  }

  #isClosing(): boolean {
    return this.#state === 'closing';
  }

  destroy(): void {
    this.#state = 'closing';
    this.socket.destroy();
  }

  /** Queues a frame; order is kept even when latency or chunking is on. */
  send(frame: Frame): void {
    if (this.socket.destroyed) return;
    const buf = encodeFrame(frame);
    const delay = this.gw.responseDelay();
    const chunk = this.gw.maxChunkBytes;
    if (delay === 0 && chunk === null && this.#queued === 0) {
      this.socket.write(buf);
      this.#framesOut++;
      this.gw.countMessage('out');
      return;
    }
    const due = this.gw.clock.now() + delay;
    this.#queued++;
    this.#outQueue = this.#outQueue
      .then(async () => {
        const wait = due - this.gw.clock.now();
        if (wait > 0) await this.gw.clock.sleep(wait);
        if (this.socket.destroyed) return;
        if (chunk === null) {
          this.socket.write(buf);
          this.#framesOut++;
          this.gw.countMessage('out');
          return;
        }
        this.gw.countMessage('out');
        for (let o = 0; o < buf.length; o += chunk) {
          if (this.socket.destroyed) return;
          this.socket.write(buf.subarray(o, o + chunk));
          this.gw.countChunk();
          // Yield so each piece leaves as its own TCP segment (Nagle is off).
          await new Promise<void>((r) => setImmediate(r));
        }
        this.#framesOut++;
      })
      .catch((err: unknown) => this.#log.debug({ err }, 'send failed'))
      .finally(() => {
        this.#queued--;
      });
  }

  sendError(id: number, code: number, text: string): void {
    this.send(build.error(id, code, text));
    this.gw.countError(code);
    const level =
      code === CODE.HMDS_ERROR || code === CODE.MAX_RATE_EXCEEDED || code === CODE.CLIENT_ID_IN_USE
        ? 'warn'
        : 'info';
    this.#log[level](
      { event: 'error_sent', client_id: this.clientId, req_id: id, code, text },
      `sent error ${code}`,
    );
  }

  sendUpdate(st: LiveStream, bar: MarketBar): void {
    const { out, bad } = this.#maybeCorrupt(bar);
    this.send(build.historicalDataUpdate(st.reqId, toWire(out, st.bar, st.formatDate, st.inst)));
    this.gw.countBars('update', 1, bad);
  }

  sendRealtimeBar(st: LiveStream, bar: MarketBar): void {
    const { out, bad } = this.#maybeCorrupt(bar);
    this.send(build.realTimeBar(st.reqId, Math.floor(out.ts / 1000), out));
    this.gw.countBars('realtime', 1, bad);
  }

  /** A live bar with the configured defect, if it is picked (single-bar defects only). */
  #maybeCorrupt(bar: MarketBar): { out: MarketBar; bad: number } {
    const cfg = this.gw.badBars;
    const kind = cfg ? badKindFor(bar.ts, cfg) : undefined;
    if (!kind || kind === 'out_of_order' || kind === 'duplicate_ts') return { out: bar, bad: 0 };
    return { out: corruptBar(bar, kind), bad: 1 };
  }

  #onClose(): void {
    this.#state = 'closing';
    this.streams.clear();
    this.gw.remove(this);
    this.#log.info({ event: 'disconnected', client_id: this.clientId }, 'client disconnected');
  }

  #onData(chunk: Buffer): void {
    if (this.#state === 'closing') return;
    let frames;
    try {
      frames = this.#decoder.push(chunk);
    } catch (err) {
      if (err instanceof WireProtocolError) {
        this.#log.warn({ event: 'protocol_error', err }, 'client broke the framing; closing');
        this.destroy();
        return;
      }
      throw err;
    }
    for (const f of frames) {
      if (this.#isClosing()) return;
      this.#framesIn++;
      if (f.kind === 'handshake') {
        this.#onHandshake(f.minVersion, f.maxVersion);
        continue;
      }
      this.gw.countMessage('in');
      const over = this.#rate.record(this.gw.clock.now());
      if (over !== undefined) {
        this.gw.countRateLimit();
        this.sendError(NO_VALID_ID, CODE.MAX_RATE_EXCEEDED, TEXT.maxRate(over, this.gw.maxMessagesPerSecond));
        this.#state = 'closing';
        // Let the error leave before the socket goes (a gateway closes right after it).
        this.#outQueue.finally(() => this.socket.end());
        return;
      }
      try {
        this.#dispatch(decodeRequest(f.fields));
      } catch (err) {
        this.#log.error({ err, fields: f.fields.slice(0, 3) }, 'request handling failed');
      }
    }
  }

  #onHandshake(min: number, max: number): void {
    if (max < MIN_CLIENT_VERSION || min > SERVER_VERSION || max < SERVER_VERSION) {
      this.#log.warn(
        { event: 'unsupported_client', min, max },
        'client version range not supported; closing',
      );
      this.destroy();
      return;
    }
    this.#state = 'awaiting-start';
    this.send(build.serverVersion(formatConnectionTime(this.gw.clock.now(), this.gw.timezone)));
  }

  #dispatch(req: ClientRequest): void {
    if (this.#state === 'awaiting-start') {
      if (req.type === 'startApi') this.#startApi(req.clientId);
      return;
    }
    if (this.#state !== 'ready') return;
    switch (req.type) {
      case 'currentTime':
        this.gw.count('currentTime');
        this.gw.served();
        this.send(build.currentTime(Math.floor(this.gw.clock.now() / 1000)));
        return;
      case 'ids':
        this.gw.count('ids');
        this.gw.served();
        this.send(build.nextValidId(this.gw.nextValidId));
        return;
      case 'managedAccounts':
        this.gw.count('managedAccounts');
        this.gw.served();
        this.send(build.managedAccounts(this.gw.accounts));
        return;
      case 'marketDataType':
        return;
      case 'contractDetails':
        this.#contractDetails(req);
        return;
      case 'headTimestamp':
        this.#headTimestamp(req);
        return;
      case 'cancelHeadTimestamp':
        return;
      case 'historicalData':
        void this.#historical(req).catch((err: unknown) =>
          this.#log.error({ err }, 'historical request failed'),
        );
        return;
      case 'cancelHistoricalData':
        this.#cancel(req.reqId, 'keepUpToDate');
        return;
      case 'realTimeBars':
        this.#realTimeBars(req);
        return;
      case 'cancelRealTimeBars':
        this.#cancel(req.reqId, 'realTimeBars');
        return;
      case 'mktData':
        this.gw.count('mktData');
        this.sendError(req.reqId, 354, 'Requested market data is not subscribed.');
        return;
      case 'cancelMktData':
        return;
      case 'startApi':
      case 'unsupported':
        this.#log.info({ event: 'unsupported_request', msg_id: req.type === 'startApi' ? REQ.START_API : req.msgId }, 'request type not simulated; ignored');
    }
  }

  #startApi(clientId: number): void {
    if (this.gw.clientIdInUse(clientId, this)) {
      this.gw.countClientIdRejection();
      this.sendError(NO_VALID_ID, CODE.CLIENT_ID_IN_USE, TEXT.clientIdInUse);
      this.#state = 'closing';
      this.#outQueue.finally(() => this.socket.end());
      return;
    }
    this.clientId = clientId;
    this.#state = 'ready';
    this.#log.info({ event: 'connected', client_id: clientId }, 'client connected');
    this.send(build.managedAccounts(this.gw.accounts));
    this.send(build.nextValidId(this.gw.nextValidId));
    for (const frame of FARMS_OK) this.send(frame);
    if (this.gw.marketFarmDown)
      this.send(build.error(NO_VALID_ID, CODE.MARKET_FARM_BROKEN, TEXT.marketFarmBroken('usfarm')));
    if (this.gw.hmdsDown)
      this.send(build.error(NO_VALID_ID, CODE.HMDS_FARM_BROKEN, TEXT.hmdsFarmBroken('ushmds')));
  }

  #resolve(reqId: number, q: ContractQuery): SimInstrument | undefined {
    const found = matchContract(this.gw.instruments, q);
    if (found.length === 1) return found[0];
    this.sendError(
      reqId,
      CODE.NO_SECURITY_DEFINITION,
      found.length === 0 ? TEXT.noSecurityDefinition : TEXT.ambiguous(q.symbol),
    );
    return undefined;
  }

  #contractDetails(req: Extract<ClientRequest, { type: 'contractDetails' }>): void {
    this.gw.count('contractDetails');
    const { reqId, contract: q } = req;
    this.#log.info(
      { event: 'request', type: 'contractDetails', client_id: this.clientId, req_id: reqId, contract: q },
      'contract details',
    );
    const found = matchContract(this.gw.instruments, q);
    if (found.length === 0) {
      this.sendError(reqId, CODE.NO_SECURITY_DEFINITION, TEXT.noSecurityDefinition);
      return;
    }
    for (const inst of found)
      this.send(build.contractData(reqId, buildContractData(inst, q.exchange, this.gw.clock.now())));
    this.send(build.contractDataEnd(reqId));
    this.gw.served();
  }

  #headTimestamp(req: Extract<ClientRequest, { type: 'headTimestamp' }>): void {
    this.gw.count('headTimestamp');
    const { reqId, contract: q, rth, whatToShow: series, formatDate } = req;
    this.#log.info(
      {
        event: 'request',
        type: 'headTimestamp',
        client_id: this.clientId,
        req_id: reqId,
        symbol: q.symbol,
        rth,
        what_to_show: series,
      },
      'head timestamp',
    );
    const inst = this.#resolve(reqId, q);
    if (!inst) return;
    const head = seriesAvailable(inst, series) ? this.gw.market.headTimestamp(inst, rth) : undefined;
    if (head === undefined) {
      this.sendError(reqId, CODE.HMDS_ERROR, TEXT.noData(inst.symbol, q.exchange || inst.exchange, series));
      return;
    }
    this.send(
      build.headTimestamp(
        reqId,
        formatDate === 2 ? String(Math.floor(head / 1000)) : formatIbDateTime(head, inst.timeZoneId),
      ),
    );
    this.gw.served();
  }

  async #historical(req: Extract<ClientRequest, { type: 'historicalData' }>): Promise<void> {
    this.gw.count('historicalData');
    const { reqId, contract: q, endDateTime: endText, barSize: barText, duration: durationText, rth, whatToShow: series, formatDate, keepUpToDate } = req;
    const now = this.gw.clock.now();
    this.#log.info(
      {
        event: 'request',
        type: 'historicalData',
        client_id: this.clientId,
        req_id: reqId,
        sim_time: now,
        symbol: q.symbol,
        con_id: q.conId,
        end: endText,
        duration: durationText,
        bar_size: barText,
        what_to_show: series,
        use_rth: rth,
        format_date: formatDate,
        keep_up_to_date: keepUpToDate,
      },
      'historical data',
    );

    // Validation, in the gateway's order: end date, duration, bar size, series, format, live rules.
    const endDate = parseEndDate(endText, this.gw.timezone, now);
    if (!endDate) return this.sendError(reqId, CODE.INVALID_END_DATE, TEXT.invalidEndDate);
    const dur = parseDuration(durationText);
    if (!dur.ok) return this.sendError(reqId, CODE.VALIDATION, TEXT.validation(dur.cause));
    const bar = parseBarSize(barText);
    if (!bar) return this.sendError(reqId, CODE.VALIDATION, TEXT.validation(INVALID_BAR_SIZE_CAUSE));
    if (!KNOWN_SERIES.has(series))
      return this.sendError(
        reqId,
        CODE.VALIDATION,
        TEXT.validation(`What to show value of ${series} rejected.`),
      );
    if (![1, 2, 3].includes(formatDate))
      return this.sendError(
        reqId,
        CODE.VALIDATION,
        TEXT.validation(`Date formatting selection of ${formatDate} rejected.`),
      );
    if (keepUpToDate) {
      if (endDate.kind !== 'now')
        return this.sendError(
          reqId,
          CODE.VALIDATION,
          TEXT.validation('End date not supported with live updates'),
        );
      if (!['TRADES', 'MIDPOINT', 'BID', 'ASK'].includes(series)) {
        return this.sendError(
          reqId,
          CODE.VALIDATION,
          TEXT.validation('Source price not supported with live updates'),
        );
      }
      if (bar.kind === 'intraday' && bar.ms < BASE_BAR_MS)
        return this.sendError(reqId, CODE.VALIDATION, TEXT.validation(INVALID_BAR_SIZE_CAUSE));
    }
    const inst = this.#resolve(reqId, q);
    if (!inst) return;
    if (endDate.kind === 'instant' && endDate.zoneless)
      this.sendError(reqId, CODE.IMPLIED_ZONE_WARNING, TEXT.impliedZone);

    if (
      this.gw.pacingEnabled &&
      (!this.gw.pacingSmallBarsOnly || (bar.kind === 'intraday' && bar.ms <= 30_000))
    ) {
      const identityKey = [
        inst.conId,
        endText,
        barText,
        durationText,
        rth,
        series,
        formatDate,
        keepUpToDate,
      ].join('|');
      const rule = this.gw.pacing.admit(
        {
          identityKey,
          contractKey: `${inst.conId}|${q.exchange}|${series}`,
          weight: series === 'BID_ASK' ? 2 : 1,
        },
        now,
      );
      if (rule) {
        this.gw.countPacing(rule);
        this.#log.warn(
          { event: 'pacing_violation', rule, client_id: this.clientId, req_id: reqId, symbol: inst.key },
          `pacing violation: ${rule}`,
        );
        return this.sendError(reqId, CODE.HMDS_ERROR, TEXT.pacingViolation);
      }
    }
    if (nominalSeconds(dur.duration) > maxDurationSeconds(bar))
      return this.sendError(reqId, CODE.HMDS_ERROR, TEXT.timeLengthExceedMax);

    await this.gw.hmdsReady();
    if (this.socket.destroyed) return;
    const answeredAt = this.gw.clock.now();
    const end = endDate.kind === 'now' ? answeredAt : endDate.instant;
    const start =
      dur.duration.unit === 'D'
        ? (this.gw.market.lastSpans(inst, end, dur.duration.count, rth)[0]?.start ?? end)
        : subtractDuration(end, dur.duration, inst.timeZoneId);
    let bars = seriesAvailable(inst, series)
      ? this.gw.market.bars(inst, { start, end, bar, series: series as PriceSeries, rth, now: answeredAt })
      : [];
    if (bars.length === 0 && !keepUpToDate) {
      return this.sendError(
        reqId,
        CODE.HMDS_ERROR,
        TEXT.noData(inst.symbol, q.exchange || inst.exchange, series),
      );
    }
    let bad = 0;
    const cfg = this.gw.badBars;
    if (cfg) {
      const before = bars;
      bars = corruptBars(bars, cfg);
      bad = bars.length - before.length + bars.filter((b, k) => b !== before[k]).length;
    }
    const zone = formatDate === 3 ? 'UTC' : inst.timeZoneId;
    const headerStart = formatIbDateTime(subtractDuration(end, dur.duration, inst.timeZoneId), zone);
    const headerEnd = formatIbDateTime(end, zone);
    this.send(
      build.historicalData(
        reqId,
        headerStart,
        headerEnd,
        bars.map((b) => toWire(b, bar, formatDate, inst)),
      ),
    );
    this.gw.countBars('historical', bars.length, Math.max(0, bad));
    this.gw.served();
    if (keepUpToDate) {
      this.streams.set(reqId, {
        kind: 'keepUpToDate',
        reqId,
        inst,
        bar,
        series: series as PriceSeries,
        rth,
        formatDate,
        silentUntil: 0,
      });
    }
  }

  #realTimeBars(req: Extract<ClientRequest, { type: 'realTimeBars' }>): void {
    this.gw.count('realTimeBars');
    const { reqId, contract: q, whatToShow: series, rth } = req;
    this.#log.info(
      {
        event: 'request',
        type: 'realTimeBars',
        client_id: this.clientId,
        req_id: reqId,
        symbol: q.symbol,
        what_to_show: series,
        use_rth: rth,
      },
      'real-time bars',
    );
    if (!['TRADES', 'MIDPOINT', 'BID', 'ASK'].includes(series)) {
      return this.sendError(
        reqId,
        CODE.INVALID_REALTIME_QUERY,
        TEXT.invalidRealtimeQuery(`What to show value of ${series} rejected.`),
      );
    }
    const inst = this.#resolve(reqId, q);
    if (!inst) return;
    this.streams.set(reqId, {
      kind: 'realTimeBars',
      reqId,
      inst,
      bar: { kind: 'intraday', ms: BASE_BAR_MS, name: '5 secs' },
      series: seriesAvailable(inst, series) ? (series as PriceSeries) : 'MIDPOINT',
      rth,
      formatDate: 2,
      silentUntil: 0,
    });
    this.gw.served();
  }

  #cancel(reqId: number, kind: StreamKind): void {
    this.gw.count(kind === 'keepUpToDate' ? 'cancelHistoricalData' : 'cancelRealTimeBars');
    const st = this.streams.get(reqId);
    this.#log.info(
      {
        event: 'request',
        type: `cancel_${kind}`,
        client_id: this.clientId,
        req_id: reqId,
        active: st !== undefined,
      },
      'cancel',
    );
    if (st && st.kind === kind) {
      this.streams.delete(reqId);
      return;
    }
    // A finished or unknown historical query: the gateway says so; real-time cancels are silent.
    if (kind === 'keepUpToDate')
      this.sendError(reqId, CODE.NO_QUERY_FOR_TICKER, TEXT.noQueryForTicker(reqId));
  }
}

const KNOWN_SERIES = new Set([
  'TRADES',
  'MIDPOINT',
  'BID',
  'ASK',
  'BID_ASK',
  'ADJUSTED_LAST',
  'HISTORICAL_VOLATILITY',
  'OPTION_IMPLIED_VOLATILITY',
  'FEE_RATE',
  'REBATE_RATE',
  'SCHEDULE',
  'AGGTRADES',
]);

/** Whether the market synthesises this series for the instrument (FX has no TRADES). */
function seriesAvailable(inst: SimInstrument, series: string): boolean {
  if (!(PRICE_SERIES as readonly string[]).includes(series)) return false;
  return inst.hasTrades || (series !== 'TRADES' && series !== 'ADJUSTED_LAST');
}

function toWire(b: MarketBar, bar: BarSpec, formatDate: number, inst: SimInstrument): WireBar {
  let date: string;
  if (bar.kind !== 'intraday') date = formatIbDate(b.day ?? Math.floor(b.ts / 86_400_000));
  else if (formatDate === 2) date = String(Math.floor(b.ts / 1000));
  else date = formatIbDateTime(b.ts, formatDate === 3 ? 'UTC' : inst.timeZoneId);
  return {
    date,
    open: b.open,
    high: b.high,
    low: b.low,
    close: b.close,
    volume: b.volume,
    wap: b.wap,
    count: b.count,
  };
}
