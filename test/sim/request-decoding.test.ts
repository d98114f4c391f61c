import { describe, expect, it } from 'vitest';
import { decodeRequest, type ClientRequest } from '../../src/sim/tws-protocol.js';
import { FrameDecoder, encodeHandshake } from '../../src/sim/wire-codec.js';

/**
 * Client frames as bytes: the captures of shared/reference/tws-protocol.md §2.3 (what @stoqey/ib
 * writes at server version 193), each a 4-byte big-endian length and NUL-terminated fields.
 */
function bytes(fields: readonly (string | number)[]): Buffer {
  const payload = Buffer.from(fields.map((f) => `${f}\0`).join(''), 'utf8');
  const len = Buffer.alloc(4);
  len.writeUInt32BE(payload.length);
  return Buffer.concat([len, payload]);
}

/** The bytes through the server's frame decoder (after a greeting), then the request decoder. */
function decode(frame: Buffer): ClientRequest {
  const frames = new FrameDecoder().push(Buffer.concat([encodeHandshake(100, 193), frame]));
  const msg = frames[1];
  if (msg?.kind !== 'message') throw new Error('no message frame');
  return decodeRequest(msg.fields);
}

const SPY = { conId: 0, symbol: 'SPY', secType: 'STK', lastTradeDateOrContractMonth: '', multiplier: '', exchange: 'SMART', primaryExch: '', currency: 'USD', localSymbol: '', tradingClass: '' };

describe('simulator request decoding (typed records per message id)', () => {
  it('REQ_HISTORICAL_DATA (20): endDateTime, bar size, then duration; no version field; keepUpToDate after formatDate', () => {
    expect(decode(bytes(['20', '5', '', 'SPY', 'STK', '', '', '', '', 'SMART', '', 'USD', '', '', '0', '20240105-14:32:00', '1 min', '120 S', '1', 'TRADES', '2', '0', '']))).toEqual({
      type: 'historicalData',
      reqId: 5,
      contract: SPY,
      endDateTime: '20240105-14:32:00',
      barSize: '1 min',
      duration: '120 S',
      rth: true,
      whatToShow: 'TRADES',
      formatDate: 2,
      keepUpToDate: false,
    });
    expect(decode(bytes(['20', '5', '', 'SPY', 'STK', '', '', '', '', 'SMART', '', 'USD', '', '', '0', '', '1 min', '60 S', '0', 'midpoint', '2', '1', '']))).toMatchObject({
      endDateTime: '',
      rth: false,
      whatToShow: 'MIDPOINT',
      keepUpToDate: true,
    });
  });

  it('a BAG request carries its legs before keepUpToDate; a missing formatDate defaults to 1', () => {
    const bag = ['20', '7', '', 'SPREAD', 'BAG', '', '', '', '', 'SMART', '', 'USD', '', '', '0', '', '1 min', '60 S', '1', 'TRADES', '', '2', '11', '1', 'BUY', 'SMART', '12', '1', 'SELL', 'SMART', '1', ''];
    expect(decode(bytes(bag))).toMatchObject({ type: 'historicalData', reqId: 7, contract: { secType: 'BAG', symbol: 'SPREAD' }, formatDate: 1, keepUpToDate: true });
  });

  it('REQ_HEAD_TIMESTAMP (87), REQ_CONTRACT_DATA (9), REQ_REAL_TIME_BARS (50): each reads its own layout', () => {
    expect(decode(bytes(['87', '12', '265598', 'AAPL', 'STK', '', '', '', '', 'SMART', 'NASDAQ', 'USD', '', '', '0', '1', 'Trades', '2']))).toEqual({
      type: 'headTimestamp',
      reqId: 12,
      contract: { ...SPY, conId: 265598, symbol: 'AAPL', primaryExch: 'NASDAQ' },
      rth: true,
      whatToShow: 'TRADES',
      formatDate: 2,
    });
    expect(decode(bytes(['9', '8', '13', '', 'ES', 'FUT', '202503', '0', '', '50', 'CME', '', 'USD', 'ESH5', 'ES', '', '', '', '']))).toEqual({
      type: 'contractDetails',
      reqId: 13,
      contract: { conId: 0, symbol: 'ES', secType: 'FUT', lastTradeDateOrContractMonth: '202503', multiplier: '50', exchange: 'CME', primaryExch: '', currency: 'USD', localSymbol: 'ESH5', tradingClass: 'ES' },
    });
    expect(decode(bytes([50, 3, 9, '', 'SPY', 'STK', '', '', '', '', 'SMART', '', 'USD', '', '', 5, 'TRADES', 0, '']))).toEqual({ type: 'realTimeBars', reqId: 9, contract: SPY, whatToShow: 'TRADES', rth: false });
  });

  it('the short messages: START_API, cancels, ids, time, accounts, market data; an unknown id is named', () => {
    expect(decode(bytes(['71', '2', '42', '']))).toEqual({ type: 'startApi', clientId: 42 });
    expect(decode(bytes(['71', '2', '', '']))).toEqual({ type: 'startApi', clientId: 0 });
    expect(decode(bytes(['25', '1', '5']))).toEqual({ type: 'cancelHistoricalData', reqId: 5 });
    expect(decode(bytes(['51', '1', '9']))).toEqual({ type: 'cancelRealTimeBars', reqId: 9 });
    expect(decode(bytes(['90', '12']))).toEqual({ type: 'cancelHeadTimestamp', reqId: 12 });
    expect(decode(bytes([1, 11, 10, '', 'SPY', 'STK', '', '', '', '', 'SMART', '', 'USD', '', '', 0, '', 0, 0, '']))).toEqual({ type: 'mktData', reqId: 10 });
    expect(decode(bytes(['2', '1', '10']))).toEqual({ type: 'cancelMktData', reqId: 10 });
    expect(decode(bytes(['8', '1', '1']))).toEqual({ type: 'ids' });
    expect(decode(bytes(['49', '1']))).toEqual({ type: 'currentTime' });
    expect(decode(bytes(['17', '1']))).toEqual({ type: 'managedAccounts' });
    expect(decode(bytes(['59', '1', '3']))).toEqual({ type: 'marketDataType' });
    expect(decode(bytes(['96', '1', '2']))).toEqual({ type: 'unsupported', msgId: 96 });
  });
});
