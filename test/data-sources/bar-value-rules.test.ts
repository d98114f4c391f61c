import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseDecimalText, parseInstantText, PROBLEMS, shownValue, type Problem } from '../../src/data-sources/bar-value-rules.js';
import {
  decimalFromNumberSql,
  decimalFromTextSql,
  instantFromEpochNumberSql,
  instantFromLocalTimestampSql,
  instantFromTextSql,
  LayeredSelect,
} from '../../src/data-sources/bar-value-sql.js';
import { sqlString } from '../../src/core/sql.js';
import { openTempLake, type TempLake } from '../support/temp-lake.js';

// Expected instants written out by hand (UTC), independent of the code under test.
const at = (iso: string): number => Date.parse(iso);
const NY = 'America/New_York';
const LORD_HOWE = 'Australia/Lord_Howe'; // a 30-minute DST shift: no "one hour" shortcut works there

type Expect = number | Problem;
const INSTANT_CASES: [text: string, zone: string | undefined, expected: Expect][] = [
  ['2024-11-26T14:30:00Z', undefined, at('2024-11-26T14:30:00Z')],
  [' 2024-11-26 14:30:00+00 ', undefined, at('2024-11-26T14:30:00Z')],
  [' 1732631400 ', undefined, at('2024-11-26T14:30:00Z')],
  ['2024-11-26T14:30:00.999999Z', undefined, at('2024-11-26T14:30:00.999Z')],
  ['2024-11-26 14:30:00+0530', undefined, at('2024-11-26T09:00:00Z')],
  ['2024-11-26 09:30:00-05:00', undefined, at('2024-11-26T14:30:00Z')],
  ['2024-11-26T09:30:00-0500', undefined, at('2024-11-26T14:30:00Z')],
  ['2024-11-26 14:30:00+00', undefined, at('2024-11-26T14:30:00Z')], // what DuckDB's CSV writer prints
  ['2024-11-26T20:00:00+05:30', undefined, at('2024-11-26T14:30:00Z')],
  ['2024-11-26t14:30z', undefined, at('2024-11-26T14:30:00Z')],
  ['2024-11-26T14:30:00.123456789Z', undefined, at('2024-11-26T14:30:00.123Z')],
  ['2024-02-29T14:30:00Z', undefined, at('2024-02-29T14:30:00Z')],
  ['2000-02-29T00:00:00Z', undefined, at('2000-02-29T00:00:00Z')],
  ['2099-12-31T23:59:59Z', undefined, at('2099-12-31T23:59:59Z')],
  ['2024-02-30T14:30:00Z', undefined, PROBLEMS.calendarDate],
  ['2024-11-31T14:30:00Z', undefined, PROBLEMS.calendarDate],
  ['2023-02-29T14:30:00Z', undefined, PROBLEMS.calendarDate],
  ['2100-02-29T00:00:00Z', undefined, PROBLEMS.calendarDate], // 2100 is not a leap year
  ['2024-13-01T00:00:00Z', undefined, PROBLEMS.calendarDate],
  ['2024-00-10T00:00:00Z', undefined, PROBLEMS.calendarDate],
  ['2024-11-00T00:00:00Z', undefined, PROBLEMS.calendarDate],
  ['2024-11-26T24:00:00Z', undefined, PROBLEMS.timeOfDay],
  ['2024-11-26T14:60:00Z', undefined, PROBLEMS.timeOfDay],
  ['2024-11-26T23:59:60Z', undefined, PROBLEMS.timeOfDay],
  ['2024-11-26T14:30:00+24:00', undefined, PROBLEMS.offset],
  ['2024-11-26T14:30:00+05:60', undefined, PROBLEMS.offset],
  ['2024-11-26T14:30:00', undefined, PROBLEMS.zoneless],
  ['2024-11-26T09:30:00', NY, at('2024-11-26T14:30:00Z')],
  ['2024-07-01 09:30', NY, at('2024-07-01T13:30:00Z')],
  ['2024-03-10T02:30:00', NY, PROBLEMS.nonexistent],
  ['2024-11-03T01:30:00', NY, PROBLEMS.ambiguous],
  ['2024-11-03T00:59:00', NY, at('2024-11-03T04:59:00Z')],
  ['2024-11-03T02:00:00', NY, at('2024-11-03T07:00:00Z')],
  ['2024-11-03T01:30:00-04:00', NY, at('2024-11-03T05:30:00Z')], // an explicit offset wins over the declared zone
  ['2024-10-06T02:15:00', LORD_HOWE, PROBLEMS.nonexistent], // 02:00 -> 02:30
  ['2024-04-07T01:45:00', LORD_HOWE, PROBLEMS.ambiguous], // 02:00 -> 01:30
  ['2024-04-07T02:15:00', LORD_HOWE, at('2024-04-06T15:45:00Z')], // standard time (+10:30) after the change
  ['2024-11-26', undefined, PROBLEMS.dateOnly],
  ['yesterday', undefined, PROBLEMS.instantShape],
  ['2024-11-26T14:30:00 UTC', undefined, PROBLEMS.instantShape],
  ['1900-01-01T00:00:00Z', undefined, PROBLEMS.range],
  ['1979-12-31T23:59:59Z', undefined, PROBLEMS.range],
  ['2100-01-01T00:00:00Z', undefined, PROBLEMS.range],
  ['1732631400', undefined, at('2024-11-26T14:30:00Z')],
  ['1732631400.5', undefined, at('2024-11-26T14:30:00.500Z')],
  ['1732631400000', undefined, at('2024-11-26T14:30:00Z')],
  ['1732631400000000', undefined, at('2024-11-26T14:30:00Z')],
  ['1732631400123456789', undefined, at('2024-11-26T14:30:00.123Z')],
  ['315532800', undefined, at('1980-01-01T00:00:00Z')],
  ['17326314', undefined, PROBLEMS.epochRange], // a truncated epoch: 1970 in every unit
  ['315532799', undefined, PROBLEMS.epochRange],
  ['-1732631400', undefined, PROBLEMS.epochRange],
  ['0', undefined, PROBLEMS.epochRange],
  ['', undefined, PROBLEMS.missing],
];

const DECIMAL_CASES: [text: string, integer: boolean, expected: Expect][] = [
  ['10.5', false, 10.5],
  ['-3', false, -3],
  ['+.5', false, 0.5],
  ['5.', false, 5],
  ['1e3', false, 1000],
  ['1E+03', false, 1000],
  [' 7 ', false, 7],
  ['0x10', false, PROBLEMS.decimal],
  ['Infinity', false, PROBLEMS.decimal],
  ['-inf', false, PROBLEMS.decimal],
  ['NaN', false, PROBLEMS.decimal],
  ['1_000', false, PROBLEMS.decimal],
  ['1,5', false, PROBLEMS.decimal],
  ['1e400', false, PROBLEMS.overflow],
  ['', false, PROBLEMS.missing],
  ['12', true, 12],
  ['12.0', true, 12],
  ['1e3', true, 1000],
  ['12.5', true, PROBLEMS.integer],
];

const outcome = (r: { ok: true; value: number } | { ok: false; problem: Problem }): Expect => (r.ok ? r.value : r.problem);

describe('strict value rules in JS', () => {
  it('parse instants: calendar-valid, zoned or declared, DST-explicit, plausible', () => {
    for (const [text, zone, expected] of INSTANT_CASES) expect([text, zone, outcome(parseInstantText(text, zone))]).toEqual([text, zone, expected]);
  });

  it('parse decimal numbers only', () => {
    for (const [text, integer, expected] of DECIMAL_CASES) expect([text, outcome(parseDecimalText(text, integer))]).toEqual([text, expected]);
  });

  it('cut long values for messages', () => {
    expect(shownValue('0x10')).toBe('"0x10"');
    const big = 'x'.repeat(20 * 1024 * 1024);
    const shown = shownValue(big);
    expect(shown.length).toBeLessThan(100);
    expect(shown).toContain('20,971,520 characters');
  });
});

describe('the same rules in DuckDB SQL', () => {
  let t: TempLake;
  beforeAll(async () => {
    t = await openTempLake();
  });
  afterAll(async () => {
    await t.cleanup();
  });

  /** Runs a builder over one VARCHAR column `x` holding the cases; returns value/problem per case in order. */
  async function runText(values: readonly string[], build: (q: LayeredSelect, x: string) => { value: string; problem: string }): Promise<Expect[]> {
    const q = new LayeredSelect();
    const src = `(SELECT i, NULLIF(v, '') AS x FROM (SELECT unnest(range(${values.length})) AS i, unnest([${values.map(sqlString).join(', ')}]::VARCHAR[]) AS v))`;
    const f = build(q, 'x');
    const rows = await t.lake.query<{ i: number; value: number | null; problem: string | null }>(
      `SELECT i, CAST(${f.value} AS DOUBLE) AS value, ${f.problem} AS problem FROM ${q.wrap(src)} ORDER BY i`,
    );
    return rows.map((r) => (r.problem !== null ? (r.problem as Problem) : (r.value as number)));
  }

  it('instants written as text: the same outcome as the JS rules, case by case', async () => {
    for (const zone of [undefined, NY, LORD_HOWE]) {
      const cases = INSTANT_CASES.filter((c) => c[1] === zone);
      const got = await runText(cases.map((c) => c[0]), (q, x) => instantFromTextSql(q, x, zone ?? null));
      expect(cases.map((c, i) => [c[0], got[i]])).toEqual(cases.map((c) => [c[0], c[2]]));
    }
  });

  it('decimal numbers written as text', async () => {
    for (const integer of [false, true]) {
      const cases = DECIMAL_CASES.filter((c) => c[1] === integer);
      const got = await runText(cases.map((c) => c[0]), (q, x) => decimalFromTextSql(q, x, true, integer));
      expect(cases.map((c, i) => [c[0], got[i]])).toEqual(cases.map((c) => [c[0], c[2]]));
    }
  });

  it('typed columns: epoch numbers by magnitude, zone-less timestamps in a declared zone, NaN and infinities refused', async () => {
    const q = new LayeredSelect();
    const epoch = instantFromEpochNumberSql(q, 'e');
    const local = instantFromLocalTimestampSql(q, 'l', NY);
    const num = decimalFromNumberSql('d', true);
    const src = `(SELECT * FROM (VALUES
        (1, 1732631400::DOUBLE, TIMESTAMP '2024-11-26 09:30:00', 1.5::DOUBLE),
        (2, 1732631400000::DOUBLE, TIMESTAMP '2024-03-10 02:30:00', 'NaN'::DOUBLE),
        (3, 17326314::DOUBLE, TIMESTAMP '2024-11-03 01:30:00', 'Infinity'::DOUBLE),
        (4, 'NaN'::DOUBLE, TIMESTAMP '1900-01-01 00:00:00', NULL),
        (5, NULL, NULL, 2::DOUBLE),
        (6, 1e28::DOUBLE, 'infinity'::TIMESTAMP, 3::DOUBLE),
        (7, 1e20::DOUBLE, '-infinity'::TIMESTAMP, 4::DOUBLE)) v(i, e, l, d))`;
    const rows = await t.lake.query<Record<string, number | string | null>>(
      `SELECT i, CAST(${epoch.value} AS DOUBLE) AS ev, ${epoch.problem} AS ep, CAST(${local.value} AS DOUBLE) AS lv, ${local.problem} AS lp, ${num.value} AS dv, ${num.problem} AS dp
       FROM ${q.wrap(src)} ORDER BY i`,
    );
    expect(rows.map((r) => [r.ev ?? r.ep, r.lv ?? r.lp, r.dp ?? r.dv])).toEqual([
      [at('2024-11-26T14:30:00Z'), at('2024-11-26T14:30:00Z'), 1.5],
      [at('2024-11-26T14:30:00Z'), PROBLEMS.nonexistent, PROBLEMS.nonFinite],
      [PROBLEMS.epochRange, PROBLEMS.ambiguous, PROBLEMS.nonFinite],
      [PROBLEMS.nonFinite, PROBLEMS.range, PROBLEMS.missing],
      [PROBLEMS.missing, PROBLEMS.missing, 2],
      // 1e28 overflowed the DECIMAL scaling (the read failed); an infinite wall time passed unrefused.
      [PROBLEMS.epochRange, PROBLEMS.range, 3],
      [PROBLEMS.epochRange, PROBLEMS.range, 4],
    ]);
  });
});
