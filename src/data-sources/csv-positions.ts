import { closeSync, openSync, readSync } from 'node:fs';

/** A place in a text file: 1-based physical line and 1-based character column. */
export interface TextPosition {
  readonly line: number;
  readonly column: number;
}

const CHUNK = 1 << 20;
const NL = 0x0a;
const CR = 0x0d;
const QUOTE = 0x22;
const COMMA = 0x2c;

/** Calls visit for every byte of the file, in order, until it returns true. */
function scanBytes(file: string, visit: (byte: number, offset: number) => boolean): void {
  const fd = openSync(file, 'r');
  try {
    const buf = Buffer.allocUnsafe(CHUNK);
    let base = 0;
    for (;;) {
      const n = readSync(fd, buf, 0, CHUNK, base);
      if (n === 0) return;
      for (let i = 0; i < n; i++) if (visit(buf[i] as number, base + i)) return;
      base += n;
    }
  } finally {
    closeSync(fd);
  }
}

/** Line and column tracking over a byte stream (columns count UTF-8 characters, not bytes; a BOM is not one). */
class Cursor {
  line = 1;
  column = 1;
  step(byte: number, offset: number): void {
    if (byte === NL) {
      this.line++;
      this.column = 1;
    } else if ((byte & 0xc0) !== 0x80 && !(offset < 3 && (byte === 0xef || byte === 0xbb || byte === 0xbf))) {
      this.column++;
    }
  }
  get position(): TextPosition {
    return { line: this.line, column: this.column };
  }
}

/** The physical position of a 0-based byte offset (DuckDB's reject tables give byte positions). */
export function positionOfByte(file: string, offset: number): TextPosition {
  const cur = new Cursor();
  scanBytes(file, (b, i) => {
    if (i >= offset) return true;
    cur.step(b, i);
    return false;
  });
  return cur.position;
}

/**
 * Where data record `ordinal` (1-based, the header is record 0) and its field `field` (0-based)
 * start, splitting records as DuckDB's CSV reader does with `quote='"'`, `escape='"'`: a quote
 * opens a quoted field only as its first character, `""` inside one is a quote, a newline inside
 * one does not end the record, and blank lines are no records. Null when the file has fewer
 * records. Only error paths call this: it reads the file up to that record.
 */
export function positionOfRecordField(file: string, ordinal: number, field: number): TextPosition | null {
  const cur = new Cursor();
  let record = -1;
  let atRecordStart = true;
  let atFieldStart = true;
  let inQuotes = false;
  let quotePending = false;
  let fieldNo = 0;
  let found: TextPosition | null = null;
  scanBytes(file, (b, i) => {
    if (i < 3 && (b === 0xef || b === 0xbb || b === 0xbf) && atRecordStart && record === -1) {
      cur.step(b, i);
      return false;
    }
    if (inQuotes) {
      if (quotePending) {
        quotePending = false;
        if (b !== QUOTE) inQuotes = false; // the quote closed the field; fall through to read b unquoted
        else {
          cur.step(b, i);
          return false;
        }
      } else {
        if (b === QUOTE) quotePending = true;
        cur.step(b, i);
        return false;
      }
    }
    if (atRecordStart) {
      if (b === NL || b === CR) {
        cur.step(b, i); // blank line: not a record
        return false;
      }
      record++;
      if (record > ordinal) return true;
      atRecordStart = false;
      atFieldStart = true;
      fieldNo = 0;
    }
    if (record === ordinal && fieldNo === field && atFieldStart) {
      found = cur.position;
      return true;
    }
    if (b === NL) {
      atRecordStart = true;
    } else if (b === COMMA) {
      fieldNo++;
      atFieldStart = true;
      cur.step(b, i);
      return false;
    } else if (b === QUOTE && atFieldStart) {
      inQuotes = true;
    }
    if (b !== CR) atFieldStart = false;
    cur.step(b, i);
    return false;
  });
  return found;
}

/**
 * The header record (first line; quoted names allowed), or null when the file does not start
 * with one within `maxBytes`. A UTF-8 BOM is skipped.
 */
export function readCsvHeader(file: string, maxBytes = 1 << 16): string[] | null {
  const bytes: number[] = [];
  let inQuotes = false;
  let complete = false;
  scanBytes(file, (b, i) => {
    if (i >= maxBytes) return true;
    if (b === QUOTE) inQuotes = !inQuotes;
    if (b === NL && !inQuotes) {
      complete = true;
      return true;
    }
    bytes.push(b);
    return false;
  });
  let text = Buffer.from(bytes).toString('utf8');
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
  if (text.endsWith('\r')) text = text.slice(0, -1);
  if ((!complete && bytes.length >= maxBytes) || text.trim() === '') return null;
  const out: string[] = [];
  let cell = '';
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i] as string;
    if (quoted) {
      if (ch === '"' && text[i + 1] === '"') {
        cell += '"';
        i++;
      } else if (ch === '"') quoted = false;
      else cell += ch;
    } else if (ch === '"' && cell === '') quoted = true;
    else if (ch === ',') {
      out.push(cell);
      cell = '';
    } else cell += ch;
  }
  out.push(cell);
  return out;
}
