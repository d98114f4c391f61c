import { describe, expect, it } from 'vitest';
import {
  encodeFrame,
  encodeHandshake,
  FrameDecoder,
  ServerFrameReader,
  WireProtocolError,
  type InboundFrame,
} from '../../src/sim/wire-codec.js';

/** Bytes of a client frame built by hand: 4-byte big-endian length, NUL-terminated fields. */
function clientFrame(fields: string[]): Buffer {
  const payload = Buffer.from(fields.map((f) => `${f}\0`).join(''), 'utf8');
  const len = Buffer.alloc(4);
  len.writeUInt32BE(payload.length);
  return Buffer.concat([len, payload]);
}

describe('wire codec', () => {
  it('encodes frames as the gateway does: length counts every NUL, values as text', () => {
    const f = encodeFrame([4, 2, -1, 2104, 'Market data farm connection is OK:usfarm', '']);
    const payload = '4\x002\x00-1\x002104\x00Market data farm connection is OK:usfarm\x00\x00';
    expect(f.readUInt32BE(0)).toBe(Buffer.byteLength(payload));
    expect(f.subarray(4).toString('utf8')).toBe(payload);
    expect(encodeFrame([true, false, undefined, null, Number.NaN, 1.5]).subarray(4).toString()).toBe(
      '1\x000\x00\x00\x00NaN\x001.5\x00',
    );
    // Multi-byte UTF-8 is counted in bytes, not characters.
    expect(encodeFrame(['é']).readUInt32BE(0)).toBe(3);
  });

  it('reads the greeting and the frames after it however TCP splits them', () => {
    // What @stoqey/ib writes: "API\0", a 4-byte length, "v100..193" (no NUL), then START_API.
    const greeting = Buffer.concat([
      Buffer.from('API\0'),
      Buffer.from([0, 0, 0, 9]),
      Buffer.from('v100..193'),
    ]);
    expect(encodeHandshake(100, 193)).toEqual(greeting);
    const stream = Buffer.concat([
      greeting,
      clientFrame(['71', '2', '42', '']),
      clientFrame(['49', '1']),
      clientFrame([
        '20',
        '5',
        '',
        'SPY',
        'STK',
        '',
        '',
        '',
        '',
        'SMART',
        '',
        'USD',
        '',
        '',
        '0',
        '',
        '1 min',
        '60 S',
        '0',
        'TRADES',
        '2',
        '1',
        '',
      ]),
    ]);
    const expected: InboundFrame[] = [
      { kind: 'handshake', minVersion: 100, maxVersion: 193, options: '' },
      { kind: 'message', fields: ['71', '2', '42', ''] },
      { kind: 'message', fields: ['49', '1'] },
      {
        kind: 'message',
        fields: [
          '20',
          '5',
          '',
          'SPY',
          'STK',
          '',
          '',
          '',
          '',
          'SMART',
          '',
          'USD',
          '',
          '',
          '0',
          '',
          '1 min',
          '60 S',
          '0',
          'TRADES',
          '2',
          '1',
          '',
        ],
      },
    ];
    const whole = new FrameDecoder();
    expect(whole.push(stream)).toEqual(expected);
    for (let cut = 1; cut < stream.length; cut++) {
      const d = new FrameDecoder();
      expect([...d.push(stream.subarray(0, cut)), ...d.push(stream.subarray(cut))]).toEqual(expected);
    }
    const byteByByte = new FrameDecoder();
    const frames: InboundFrame[] = [];
    for (const b of stream) frames.push(...byteByByte.push(Buffer.from([b])));
    expect(frames).toEqual(expected);
    expect(byteByByte.pendingBytes).toBe(0);
  });

  it('rejects a peer that does not speak the protocol', () => {
    expect(() => new FrameDecoder().push(Buffer.from('GET / HTTP/1.1\r\n'))).toThrow(WireProtocolError);
    const huge = Buffer.concat([encodeHandshake(100, 193), Buffer.from([0x01, 0x00, 0x00, 0x00])]);
    expect(() => new FrameDecoder().push(huge)).toThrow(/exceeds/);
  });

  it('reads server frames back (the version reply first)', () => {
    const r = new ServerFrameReader();
    const bytes = Buffer.concat([
      encodeFrame([193, '20241127 09:30:00 EST']),
      encodeFrame([15, 1, 'DU1234567']),
    ]);
    expect([...r.push(bytes.subarray(0, 10)), ...r.push(bytes.subarray(10))]).toEqual([
      ['193', '20241127 09:30:00 EST'],
      ['15', '1', 'DU1234567'],
    ]);
  });
});
