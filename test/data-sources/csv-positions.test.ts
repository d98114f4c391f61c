import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sqlString } from '../../src/core/sql.js';
import { positionOfByte, positionOfRecordField, readCsvHeader } from '../../src/data-sources/csv-positions.js';
import { openTempLake, type TempLake } from '../support/temp-lake.js';

let t: TempLake;
beforeAll(async () => {
  t = await openTempLake();
});
afterAll(async () => {
  await t.cleanup();
});

const FIELDS = 3;
const cell = fc.array(fc.constantFrom('a', 'b', '7', ' ', ',', '"', '\n', '\r\n', 'é', '€'), { maxLength: 6 }).map((cs) => cs.join(''));
const csvCase = fc.record({
  records: fc.array(fc.array(cell, { minLength: FIELDS, maxLength: FIELDS }), { minLength: 1, maxLength: 12 }),
  blankBefore: fc.array(fc.boolean(), { minLength: 12, maxLength: 12 }),
  crlf: fc.boolean(),
  bom: fc.boolean(),
});

/**
 * Writes the records as RFC 4180 text, noting where each field starts as it goes (line, and
 * column in characters): the expected positions come from the writer, not from a reader.
 */
function writeCsv(c: { records: string[][]; blankBefore: boolean[]; crlf: boolean; bom: boolean }): { text: string; starts: { line: number; column: number }[][] } {
  const eol = c.crlf ? '\r\n' : '\n';
  let text = c.bom ? '\ufeff' : '';
  let line = 1;
  let column = 1;
  const put = (s: string): void => {
    for (const ch of s) {
      if (ch === '\n') {
        line++;
        column = 1;
      } else column++;
    }
    text += s;
  };
  if (c.bom) column = 1; // a BOM is not a column
  put(`c0,c1,c2${eol}`);
  const starts: { line: number; column: number }[][] = [];
  c.records.forEach((rec, i) => {
    if (c.blankBefore[i]) put(eol);
    const row: { line: number; column: number }[] = [];
    rec.forEach((f, j) => {
      if (j > 0) put(',');
      row.push({ line, column });
      put(/[",\r\n]/.test(f) ? `"${f.replaceAll('"', '""')}"` : f);
    });
    starts.push(row);
    put(eol);
  });
  return { text, starts };
}

describe('CSV positions (only error paths use them)', () => {
  it('locate every field of every record exactly where the writer put it, in the order DuckDB reads the records', async () => {
    let n = 0;
    await fc.assert(
      fc.asyncProperty(csvCase, async (c) => {
        const f = join(t.dir, `p${n++}.csv`);
        const { text, starts } = writeCsv(c);
        writeFileSync(f, text);
        const rows = await t.lake.query<{ rn: number; c0: string | null; c1: string | null; c2: string | null }>(
          `SELECT row_number() OVER () AS rn, * FROM read_csv(${sqlString(f)}, header = true, delim = ',', quote = '"', escape = '"', auto_detect = false,
             columns = {'c0': 'VARCHAR', 'c1': 'VARCHAR', 'c2': 'VARCHAR'})`,
        );
        // DuckDB's n-th row is our n-th record (the ordinal the ingestor reports is meaningful) …
        expect(rows.map((r) => [r.c0 ?? '', r.c1 ?? '', r.c2 ?? ''])).toEqual(c.records);
        // … and every field of it is found where it was written.
        for (const [k, rec] of starts.entries()) {
          for (const [j, pos] of rec.entries()) expect(positionOfRecordField(f, k + 1, j)).toEqual(pos);
        }
        expect(positionOfRecordField(f, c.records.length + 1, 0)).toBeNull();
        expect(readCsvHeader(f)).toEqual(['c0', 'c1', 'c2']);
      }),
      { numRuns: 60 },
    );
  });

  it('positionOfByte counts lines and characters up to a byte offset', () => {
    const f = join(t.dir, 'bytes.csv');
    writeFileSync(f, 'ab\nc€d\nxyz');
    expect(positionOfByte(f, 0)).toEqual({ line: 1, column: 1 });
    expect(positionOfByte(f, 3)).toEqual({ line: 2, column: 1 });
    expect(positionOfByte(f, 7)).toEqual({ line: 2, column: 3 }); // after c and the 3-byte €
    expect(positionOfByte(f, 9)).toEqual({ line: 3, column: 1 });
  });
});
