/**
 * TWS socket framing, server side. After the client's one-off `API\0` + length + `v<min>..<max>`
 * greeting, every message in both directions is a 4-byte big-endian length followed by that many
 * bytes of UTF-8 fields, each terminated by NUL. TCP delivers arbitrary chunks, so input is
 * buffered until a whole frame is present.
 */

/** A value the sim writes into a field; `undefined`/`null` become an empty field. */
export type WireValue = string | number | boolean | undefined | null;

/** The client's greeting: the range of server versions it can speak. */
export interface Handshake {
  readonly kind: 'handshake';
  readonly minVersion: number;
  readonly maxVersion: number;
  /** Connect options after the range (IB-internal, e.g. `+PACEAPI`); empty when none. */
  readonly options: string;
}

export interface FrameMessage {
  readonly kind: 'message';
  readonly fields: string[];
}

export type InboundFrame = Handshake | FrameMessage;

/** The peer broke the framing rules; the connection cannot continue. */
export class WireProtocolError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'WireProtocolError';
  }
}

const API_PREFIX = Buffer.from('API\0', 'latin1');
/** The client refuses frames above 0xFFFFFF; the sim refuses the same from clients. */
export const MAX_FRAME_BYTES = 0xffffff;

/** Formats one field as the real gateway does: numbers in plain decimal, booleans as 0/1. */
export function formatField(value: WireValue): string {
  if (value === undefined || value === null) return '';
  if (typeof value === 'boolean') return value ? '1' : '0';
  if (typeof value === 'number') return Number.isNaN(value) ? 'NaN' : String(value);
  return value;
}

/** One length-prefixed frame: every field NUL-terminated (the length counts the last NUL). */
export function encodeFrame(fields: readonly WireValue[]): Buffer {
  const payload = Buffer.from(fields.map((f) => `${formatField(f)}\0`).join(''), 'utf8');
  const frame = Buffer.allocUnsafe(4 + payload.length);
  frame.writeUInt32BE(payload.length, 0);
  payload.copy(frame, 4);
  return frame;
}

/** The client side of the greeting, for tests and tools that speak raw protocol. */
export function encodeHandshake(minVersion: number, maxVersion: number): Buffer {
  const version = Buffer.from(`v${minVersion}..${maxVersion}`, 'utf8');
  const len = Buffer.allocUnsafe(4);
  len.writeUInt32BE(version.length, 0);
  return Buffer.concat([API_PREFIX, len, version]);
}

/** Splits a frame payload into its fields (the trailing NUL ends the last field). */
export function decodeFields(payload: Buffer): string[] {
  const text = payload.toString('utf8');
  const parts = text.split('\0');
  // A well-formed payload ends with NUL, leaving one empty string after the split.
  if (parts.length > 0 && parts[parts.length - 1] === '') parts.pop();
  return parts;
}

/**
 * Incremental decoder for the client → server byte stream. `push` accepts any chunking and
 * returns every frame completed so far; a partial frame stays buffered for the next chunk.
 */
export class FrameDecoder {
  #buffer: Buffer = Buffer.alloc(0);
  #greeted = false;

  /** True once the `API\0` greeting has been read. */
  get greeted(): boolean {
    return this.#greeted;
  }

  /** Bytes received but not yet part of a complete frame. */
  get pendingBytes(): number {
    return this.#buffer.length;
  }

  push(chunk: Buffer): InboundFrame[] {
    this.#buffer = this.#buffer.length === 0 ? chunk : Buffer.concat([this.#buffer, chunk]);
    const out: InboundFrame[] = [];
    for (;;) {
      if (!this.#greeted) {
        const greeting = this.#readGreeting();
        if (!greeting) break;
        out.push(greeting);
        continue;
      }
      if (this.#buffer.length < 4) break;
      const size = this.#buffer.readUInt32BE(0);
      if (size > MAX_FRAME_BYTES)
        throw new WireProtocolError(`frame of ${size} bytes exceeds ${MAX_FRAME_BYTES}`);
      if (this.#buffer.length < 4 + size) break;
      const payload = this.#buffer.subarray(4, 4 + size);
      this.#buffer = this.#buffer.subarray(4 + size);
      out.push({ kind: 'message', fields: decodeFields(payload) });
    }
    return out;
  }

  #readGreeting(): Handshake | undefined {
    const have = Math.min(this.#buffer.length, API_PREFIX.length);
    if (!this.#buffer.subarray(0, have).equals(API_PREFIX.subarray(0, have))) {
      throw new WireProtocolError('expected the API\\0 greeting');
    }
    if (this.#buffer.length < 8) return undefined;
    const size = this.#buffer.readUInt32BE(4);
    if (size > 1024) throw new WireProtocolError(`greeting of ${size} bytes is not a version range`);
    if (this.#buffer.length < 8 + size) return undefined;
    const text = this.#buffer.subarray(8, 8 + size).toString('utf8');
    this.#buffer = this.#buffer.subarray(8 + size);
    this.#greeted = true;
    const m = /^v(\d+)(?:\.\.(\d+))?(.*)$/.exec(text);
    if (!m) throw new WireProtocolError(`malformed version range ${JSON.stringify(text)}`);
    const minVersion = Number(m[1]);
    const maxVersion = m[2] === undefined ? minVersion : Number(m[2]);
    return { kind: 'handshake', minVersion, maxVersion, options: (m[3] ?? '').trim() };
  }
}

/**
 * Incremental decoder for the server → client direction (raw-protocol tests and tools): the
 * first frame is the version reply, like every later one a length-prefixed field list.
 */
export class ServerFrameReader {
  #buffer: Buffer = Buffer.alloc(0);

  push(chunk: Buffer): string[][] {
    this.#buffer = Buffer.concat([this.#buffer, chunk]);
    const out: string[][] = [];
    while (this.#buffer.length >= 4) {
      const size = this.#buffer.readUInt32BE(0);
      if (this.#buffer.length < 4 + size) break;
      out.push(decodeFields(this.#buffer.subarray(4, 4 + size)));
      this.#buffer = this.#buffer.subarray(4 + size);
    }
    return out;
  }
}
