/** One parsed CSV record with the 1-based physical line it started on. */
export interface CsvRecord {
  line: number;
  fields: string[];
}

/**
 * RFC 4180 CSV: quoted fields may hold commas, quotes ("") and newlines; CRLF or LF line ends.
 * Blank lines are skipped. Throws with the line number on an unterminated quote.
 */
export function parseCsv(text: string): CsvRecord[] {
  const out: CsvRecord[] = [];
  let i = 0;
  let line = 1;
  const n = text.length;
  if (text.charCodeAt(0) === 0xfeff) i = 1;
  while (i < n) {
    const startLine = line;
    const fields: string[] = [];
    let field = '';
    let quoted = false;
    let atStart = true;
    for (;;) {
      if (i >= n) {
        if (quoted) throw new SyntaxError(`line ${startLine}: unterminated quoted field`);
        fields.push(field);
        break;
      }
      const ch = text[i] as string;
      if (quoted) {
        if (ch === '"') {
          if (text[i + 1] === '"') {
            field += '"';
            i += 2;
          } else {
            quoted = false;
            i++;
          }
        } else {
          if (ch === '\n') line++;
          field += ch;
          i++;
        }
        continue;
      }
      if (ch === '"' && atStart) {
        quoted = true;
        atStart = false;
        i++;
      } else if (ch === ',') {
        fields.push(field);
        field = '';
        atStart = true;
        i++;
      } else if (ch === '\n' || ch === '\r') {
        fields.push(field);
        i += ch === '\r' && text[i + 1] === '\n' ? 2 : 1;
        line++;
        break;
      } else {
        field += ch;
        atStart = false;
        i++;
      }
    }
    if (!(fields.length === 1 && fields[0] === '')) out.push({ line: startLine, fields });
  }
  return out;
}
