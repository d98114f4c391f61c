import { describe, expect, it } from 'vitest';
import { IbpipeError } from '../../../src/core/errors.js';
import {
  classifyIbError,
  IbCancelledError,
  IbConnectivityError,
  IbInvalidRequestError,
  IbNoDataError,
  IbNotice,
  IbPacingError,
  IbSubscriptionError,
  IbUnknownError,
} from '../../../src/data-sources/tws/ib-errors.js';

type Row = [code: number, text: string, cls: abstract new (...args: never[]) => unknown, errCode: string, retryable: boolean, fatal: boolean];

// Expected classes follow the IB message-code table (tws-protocol.md §3.3), written out by hand.
const TABLE: Row[] = [
  [1100, 'Connectivity between IB and the TWS has been lost.', IbConnectivityError, 'IB_CONNECTIVITY', true, true],
  [1101, 'Connectivity between IB and TWS has been restored- data lost.', IbConnectivityError, 'IB_CONNECTIVITY', true, false],
  [1102, 'Connectivity between IB and TWS has been restored- data maintained.', IbConnectivityError, 'IB_CONNECTIVITY', true, false],
  [2103, 'Market data farm connection is broken:usfarm', IbConnectivityError, 'IB_CONNECTIVITY', true, true],
  [2105, 'HMDS data farm connection is broken:ushmds', IbConnectivityError, 'IB_CONNECTIVITY', true, true],
  [2110, 'Connectivity between TWS and server is broken. It will be restored automatically.', IbConnectivityError, 'IB_CONNECTIVITY', true, true],
  [504, 'Not connected', IbConnectivityError, 'IB_CONNECTIVITY', true, true],
  [502, "Couldn't connect to TWS.", IbConnectivityError, 'IB_CONNECTIVITY', true, true],
  [506, 'Unsupported Version', IbConnectivityError, 'IB_CONNECTIVITY', false, true],
  [162, 'Historical Market Data Service error message:Historical data request pacing violation', IbPacingError, 'IB_PACING', true, true],
  [100, 'Max rate of messages per second has been exceeded.', IbPacingError, 'IB_PACING', true, true],
  [162, 'Historical Market Data Service error message:HMDS query returned no data: SPY@SMART Trades', IbNoDataError, 'IB_NO_DATA', false, true],
  [162, 'Historical Market Data Service error message:API historical data query cancelled: 17', IbCancelledError, 'IB_CANCELLED', true, true],
  [162, 'Historical Market Data Service error message:invalid step: 1', IbInvalidRequestError, 'IB_INVALID_REQUEST', false, true],
  [200, 'No security definition has been found for the request', IbInvalidRequestError, 'IB_INVALID_REQUEST', false, true],
  [321, "Error validating request:-'bP' : cause - Historical data bar size setting is invalid.", IbInvalidRequestError, 'IB_INVALID_REQUEST', false, true],
  [354, 'Requested market data is not subscribed.', IbSubscriptionError, 'IB_SUBSCRIPTION', false, true],
  [10167, 'Requested market data is not subscribed. Displaying delayed market data.', IbSubscriptionError, 'IB_SUBSCRIPTION', false, false],
  [10197, 'No market data during competing live session', IbSubscriptionError, 'IB_SUBSCRIPTION', true, true],
  [10225, 'Bust event occurred, current subscription is deactivated.', IbCancelledError, 'IB_CANCELLED', true, true],
  [2104, 'Market data farm connection is OK:usfarm', IbNotice, 'IB_NOTICE', false, false],
  [2106, 'HMDS data farm connection is OK:ushmds', IbNotice, 'IB_NOTICE', false, false],
  [2158, 'Sec-def data farm connection is OK:secdefil', IbNotice, 'IB_NOTICE', false, false],
  [2174, 'Warning: You submitted request with date-time attributes without explicit time zone.', IbNotice, 'IB_NOTICE', false, false],
  [366, 'No historical data query found for ticker id:5', IbNotice, 'IB_NOTICE', false, false],
  [2199, 'Warning: some future notice', IbNotice, 'IB_NOTICE', false, false],
  [9999, 'something new', IbUnknownError, 'IB_UNKNOWN', false, true],
];

describe('classifyIbError', () => {
  it.each(TABLE)('%i %s', (code, text, cls, errCode, retryable, fatal) => {
    const err = classifyIbError(code, text, 7);
    expect(err).toBeInstanceOf(cls);
    expect(err).toBeInstanceOf(IbpipeError);
    expect(err.code).toBe(errCode);
    expect(err.retryable).toBe(retryable);
    expect(err.fatal).toBe(fatal);
    expect(err.ibCode).toBe(code);
    expect(err.reqId).toBe(7);
    expect(err.message).toContain(text);
  });

  it('tells 162 variants apart only by text, case-insensitively', () => {
    expect(classifyIbError(162, 'HISTORICAL DATA REQUEST PACING VIOLATION')).toBeInstanceOf(IbPacingError);
    expect(classifyIbError(162, 'API historical data query canceled: 3')).toBeInstanceOf(IbCancelledError);
  });

  it('marks connectivity state so the client knows when to resubscribe', () => {
    const lost = classifyIbError(1100, 'lost') as IbConnectivityError;
    const dataLost = classifyIbError(1101, 'restored- data lost') as IbConnectivityError;
    const kept = classifyIbError(1102, 'restored- data maintained') as IbConnectivityError;
    expect([lost.state, dataLost.state, kept.state]).toEqual(['lost', 'restored-data-lost', 'restored-data-maintained']);
    expect([lost.requiresResubscription, dataLost.requiresResubscription, kept.requiresResubscription]).toEqual([false, true, false]);
  });

  it('drops the -1 "no request" id', () => {
    expect(classifyIbError(2104, 'ok', -1).reqId).toBeUndefined();
  });
});
