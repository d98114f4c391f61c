import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { JS_SQL, JS_COMPAT_MACROS } from '../../src/data-quality/js-compat-sql.js';
import { Lake } from '../../src/storage/lake.js';
import { openTempLake, type TempLake } from '../support/temp-lake.js';

let t: TempLake;
let lake: Lake;

beforeAll(async () => {
  t = await openTempLake();
  lake = t.lake;
  for (const m of JS_COMPAT_MACROS) await lake.run(m);
});
afterAll(async () => {
  await t.cleanup();
});

/** Renders every value with one macro in one query (values staged as DOUBLE, exact). */
async function render(macro: string | ((column: string) => string), values: readonly number[]): Promise<string[]> {
  const expr = typeof macro === 'string' ? `${macro}(x)` : macro('x');
  const staged = await lake.stage([{ name: 'i', type: 'BIGINT' }, { name: 'x', type: 'DOUBLE' }], { i: values.map((_, i) => i), x: values }, values.length);
  try {
    const { columns } = await lake.queryColumns(`SELECT ${expr} AS s FROM ${staged} ORDER BY i`);
    return (columns[0] ?? []) as string[];
  } finally {
    await lake.dropTable(staged);
  }
}

const SPECIAL = [0, 1, -1, 0.1, 0.2 + 0.1, 1 / 3, 200_000, 1e21, 1e20, 123456789012345680000, 1e-6, 1e-7, 1.5e-7, 5e-324, Number.MAX_VALUE, 2 ** 53, 1e16, 12345.678, -1.5e-10, 100.25, 999999999999999900000, 0.000001234, 1234.5, 6.25, -6.25, 0.75, 123.25, 9.9996, 99995, 0.00012345];

describe('JS text macros (SQL) against JS', () => {
  it('String(number) for special and random doubles', async () => {
    const values = [...SPECIAL, ...fc.sample(fc.double({ noNaN: true, noDefaultInfinity: true }), 3000), ...fc.sample(fc.integer(), 200)];
    const out = await render(JS_SQL.num, values);
    values.forEach((v, i) => expect(out[i], `String(${v})`).toBe(String(v)));
    const [row] = await lake.query<{ a: string; b: string; c: string; d: string; e: string }>(
      `SELECT ${JS_SQL.num}(CAST('nan' AS DOUBLE)) a, ${JS_SQL.num}(CAST('inf' AS DOUBLE)) b, ${JS_SQL.num}(CAST('-inf' AS DOUBLE)) c, ${JS_SQL.num}(CAST(NULL AS DOUBLE)) d, ${JS_SQL.num}(CAST(-0.0 AS DOUBLE)) e`,
    );
    expect(row).toEqual({ a: 'NaN', b: 'Infinity', c: '-Infinity', d: 'null', e: '0' });
  });

  it('toISOString of epoch ms (any number: truncated to whole ms), String(ms) beyond the Date range', async () => {
    const values = [0, -5, 1_710_250_200_000, 253402300799999, 253402300800000, -62135596800000, 100.75, 8.64e15, ...fc.sample(fc.integer({ min: -62_000_000_000_000, max: 8_000_000_000_000_000 }), 500)];
    const out = await render(JS_SQL.isoNum, values);
    values.forEach((v, i) => expect(out[i], `iso(${v})`).toBe(Math.abs(v) < 8.64e15 ? new Date(v).toISOString() : String(v)));
    const whole = values.map(Math.trunc);
    const out2 = await render((x) => `${JS_SQL.iso}(CAST(${x} AS BIGINT))`, whole);
    whole.forEach((v, i) => expect(out2[i], `iso(${v})`).toBe(Math.abs(v) < 8.64e15 ? new Date(v).toISOString() : String(v)));
  });

  it('toPrecision(4) and toFixed(1), exact ties included', async () => {
    const values = [...SPECIAL, ...fc.sample(fc.double({ noNaN: true, noDefaultInfinity: true, min: -1e6, max: 1e6 }), 2000), ...fc.sample(fc.double({ noNaN: true, min: -1, max: 1 }), 1000), ...fc.sample(fc.integer({ min: -4000, max: 4000 }), 300).map((k) => k / 4)];
    const p4 = await render(JS_SQL.precision4, values);
    const f1 = await render(JS_SQL.fixed1, values);
    values.forEach((v, i) => {
      expect(p4[i], `(${v}).toPrecision(4)`).toBe(v.toPrecision(4));
      // JS prints -0 as "0.0"; the transform never formats a negative zero (|z| > threshold).
      if (!Object.is(v, -0)) expect(f1[i], `(${v}).toFixed(1)`).toBe(v.toFixed(1));
    });
  });

  it('Math.log bit for bit', async () => {
    const values = [
      1, 2, 0.5, Math.SQRT2, 1 + 2 ** -52, 1 - 2 ** -53, 4, 1e300, 1e-300, 3, 7 / 5, 5 / 7, Number.MAX_VALUE, 2.2250738585072014e-308,
      ...fc.sample(fc.double({ min: 0.98, max: 1.02, noNaN: true }), 3000),
      ...fc.sample(fc.tuple(fc.integer({ min: 1, max: 1000 }), fc.integer({ min: 1, max: 1000 })), 2000).map(([a, b]) => a / b),
      ...fc.sample(fc.double({ min: 1e-300, max: 1e300, noNaN: true }), 2000),
    ];
    const out = await render(JS_SQL.log, values);
    values.forEach((v, i) => expect(out[i], `Math.log(${v})`).toBe(Math.log(v)));
  });

  it('JSON.stringify of strings', async () => {
    const values = ['AAPL', 'a"b', 'back\\slash', 'tab\there', 'new\nline', 'x/y', 'ünï', ''];
    const staged = await lake.stage([{ name: 'i', type: 'BIGINT' }, { name: 's', type: 'VARCHAR' }], { i: values.map((_, i) => i), s: values }, values.length);
    try {
      const { columns } = await lake.queryColumns(`SELECT ${JS_SQL.json}(s) FROM ${staged} ORDER BY i`);
      expect(columns[0]).toEqual(values.map((v) => JSON.stringify(v)));
    } finally {
      await lake.dropTable(staged);
    }
  });
});
