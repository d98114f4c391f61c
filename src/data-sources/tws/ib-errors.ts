import { IbpipeError, type IbpipeErrorOptions } from '../../core/errors.js';

/**
 * IB error and notice codes translated once, at the edge, into typed errors. Everything above
 * the TWS client branches on the class (or on `retryable` / `fatal`), never on IB's text.
 * Facts: ../shared/reference/tws-protocol.md §3.3.
 */
export type IbErrorKind =
  | 'connectivity'
  | 'pacing'
  | 'no-data'
  | 'invalid-request'
  | 'subscription'
  | 'cancelled'
  | 'notice'
  | 'unknown';

/** What a connectivity code says about the link to IB's servers. */
export type ConnectivityState = 'lost' | 'restored-data-lost' | 'restored-data-maintained';

export interface IbErrorInit extends IbpipeErrorOptions {
  /** IB's numeric code (e.g. 162, 1100). */
  ibCode: number;
  /** Request id the error refers to; -1 / undefined for connection-wide messages. */
  reqId?: number | undefined;
}

/** Base of every classified IB message. */
export abstract class IbError extends IbpipeError {
  abstract readonly kind: IbErrorKind;
  /**
   * True when the request the message refers to is over (no more data will come for it).
   * Warnings such as 2174 or 10167 arrive with a reqId but the request still runs.
   */
  abstract readonly fatal: boolean;
  readonly ibCode: number;
  readonly reqId: number | undefined;

  constructor(message: string, init: IbErrorInit) {
    super(message, { ...init, details: { ...init.details, ibCode: init.ibCode, reqId: init.reqId } });
    this.ibCode = init.ibCode;
    this.reqId = init.reqId;
  }
}

/** The socket to the gateway, or the gateway's link to IB, is down or flapping. */
export class IbConnectivityError extends IbError {
  readonly code = 'IB_CONNECTIVITY';
  readonly kind = 'connectivity';
  readonly retryable: boolean;
  readonly fatal: boolean;
  readonly state: ConnectivityState;
  constructor(message: string, init: IbErrorInit & { state: ConnectivityState; retryable?: boolean }) {
    super(message, init);
    this.state = init.state;
    this.retryable = init.retryable ?? true;
    this.fatal = init.state === 'lost';
  }
  /** 1101: the link is back but every market-data subscription is gone and must be re-sent. */
  get requiresResubscription(): boolean {
    return this.state === 'restored-data-lost';
  }
}

/** 162 "pacing violation" or 100 "max rate of messages": wait, then retry the same request. */
export class IbPacingError extends IbError {
  readonly code = 'IB_PACING';
  readonly kind = 'pacing';
  readonly retryable = true;
  readonly fatal = true;
}

/** 162 "HMDS query returned no data" / 166 expired contract: the window is empty, a valid answer. */
export class IbNoDataError extends IbError {
  readonly code = 'IB_NO_DATA';
  readonly kind = 'no-data';
  readonly retryable = false;
  readonly fatal = true;
}

/** 200 / 321 / 162 "invalid step" …: the request itself is wrong; retrying cannot help. */
export class IbInvalidRequestError extends IbError {
  readonly code = 'IB_INVALID_REQUEST';
  readonly kind = 'invalid-request';
  readonly retryable = false;
  readonly fatal = true;
}

/** 354 / 10167 / 10197 …: the account may not (or not now) receive this market data. */
export class IbSubscriptionError extends IbError {
  readonly code = 'IB_SUBSCRIPTION';
  readonly kind = 'subscription';
  readonly fatal: boolean;
  readonly retryable: boolean;
  constructor(message: string, init: IbErrorInit & { fatal: boolean; retryable: boolean }) {
    super(message, init);
    this.fatal = init.fatal;
    this.retryable = init.retryable;
  }
}

/** 162 "query cancelled" / 10225 bust: IB ended the request; re-issue it (live: resubscribe). */
export class IbCancelledError extends IbError {
  readonly code = 'IB_CANCELLED';
  readonly kind = 'cancelled';
  readonly retryable = true;
  readonly fatal = true;
}

/** Farm status, warnings and other informational messages: log, never fail a request. */
export class IbNotice extends IbError {
  readonly code = 'IB_NOTICE';
  readonly kind = 'notice';
  readonly retryable = false;
  readonly fatal = false;
}

/** A code not in the table. Treated as fatal for its request and not retried blindly. */
export class IbUnknownError extends IbError {
  readonly code = 'IB_UNKNOWN';
  readonly kind = 'unknown';
  readonly retryable = false;
  readonly fatal = true;
}

type Factory = (message: string, init: IbErrorInit) => IbError;

const connectivity =
  (state: ConnectivityState, retryable = true): Factory =>
  (m, i) =>
    new IbConnectivityError(m, { ...i, state, retryable });
const subscription =
  (fatal: boolean, retryable: boolean): Factory =>
  (m, i) =>
    new IbSubscriptionError(m, { ...i, fatal, retryable });
const pacing: Factory = (m, i) => new IbPacingError(m, i);
const noData: Factory = (m, i) => new IbNoDataError(m, i);
const invalid: Factory = (m, i) => new IbInvalidRequestError(m, i);
const cancelled: Factory = (m, i) => new IbCancelledError(m, i);
const notice: Factory = (m, i) => new IbNotice(m, i);

/**
 * 162 shares one code between pacing, no-data, cancellation and bad steps; only its text tells
 * them apart. Matched case-insensitively on stable fragments of IB's English text.
 */
const HMDS_TEXT_RULES: ReadonlyArray<readonly [RegExp, Factory]> = [
  [/pacing violation/i, pacing],
  [/returned no data|no data|no such data/i, noData],
  [/query cancel+ed/i, cancelled],
  [/invalid step|invalid (?:bar size|duration)/i, invalid],
];

/** The one table: IB code → typed error. */
export const IB_ERROR_TABLE: ReadonlyMap<number, Factory> = new Map<number, Factory>([
  // Connectivity: gateway ↔ IB servers (socket stays open) and client ↔ gateway (client-side codes).
  [1100, connectivity('lost')],
  [1101, connectivity('restored-data-lost')],
  [1102, connectivity('restored-data-maintained')],
  [1300, connectivity('lost')],
  [2103, connectivity('lost')],
  [2105, connectivity('lost')],
  [2110, connectivity('lost')],
  [2157, connectivity('lost')],
  [326, connectivity('lost')], // client id in use: the old session has not died yet; retry later
  [502, connectivity('lost')],
  [504, connectivity('lost')],
  [505, connectivity('lost')], // decode error: the stream is out of sync, reconnect
  [507, connectivity('lost')],
  [509, connectivity('lost')],
  [503, connectivity('lost', false)], // TWS too old
  [506, connectivity('lost', false)], // unsupported server version
  // Pacing.
  [100, pacing],
  // Empty answers.
  [166, noData],
  // Bad requests.
  [200, invalid],
  [321, invalid],
  [102, invalid],
  [386, invalid],
  [420, invalid],
  // Market data permissions.
  [354, subscription(true, false)],
  [10089, subscription(true, false)],
  [10168, subscription(true, false)],
  [10186, subscription(true, false)],
  [10090, subscription(false, false)], // part of the data is not subscribed; the rest flows
  [10167, subscription(false, false)], // delayed data follows
  [10197, subscription(true, true)], // competing live session: may clear when the other session ends
  // IB ended the request.
  [10225, cancelled],
  // Informational.
  [165, notice],
  [366, notice], // cancel of a finished request: harmless
  [501, notice],
  [2104, notice],
  [2106, notice],
  [2107, notice],
  [2108, notice],
  [2119, notice],
  [2158, notice],
  [2174, notice], // zone-less date warning; the request still runs
]);

/**
 * Classifies one IB error/info message. `reqId` is the request it refers to (-1 or undefined
 * when connection-wide). Never throws; unknown codes give IbUnknownError except warnings in
 * IB's 2100–2999 range, which are notices.
 */
export function classifyIbError(code: number, text: string, reqId?: number): IbError {
  const message = `IB ${code}: ${text}`;
  const init: IbErrorInit = { ibCode: code, reqId: reqId === undefined || reqId < 0 ? undefined : reqId, details: { text } };
  if (code === 162) {
    const rule = HMDS_TEXT_RULES.find(([re]) => re.test(text));
    // An unrecognised HMDS error (e.g. localized text) is most often transient: retry it.
    return rule ? rule[1](message, init) : new IbCancelledError(message, init);
  }
  const factory = IB_ERROR_TABLE.get(code);
  if (factory) return factory(message, init);
  if (code >= 2100 && code <= 2999) return new IbNotice(message, init);
  return new IbUnknownError(message, init);
}
