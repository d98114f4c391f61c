import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openTempLake, type TempLake } from '../support/temp-lake.js';

let t: TempLake;
beforeAll(async () => {
  t = await openTempLake();
});
afterAll(async () => {
  await t.cleanup();
});

describe('readQueryTable (what ibpipe sql prints)', () => {
  it('reads every DuckDB timestamp precision as epoch ns by its column type, infinity as DuckDB text, NULL as null', async () => {
    const ms = Date.parse('2024-03-08T14:30:07.250Z');
    const ns = BigInt(ms) * 1_000_000n;
    const table = await t.lake.queryReadOnly(`SELECT TIMESTAMPTZ '2024-03-08 14:30:07.250+00' AS tz, TIMESTAMP '2024-03-08 14:30:07.25' AS naive,
      CAST(TIMESTAMP '2024-03-08 14:30:07.25' AS TIMESTAMP_MS) AS milli, CAST(TIMESTAMP '2024-03-08 14:30:07.25' AS TIMESTAMP_S) AS sec,
      CAST(TIMESTAMP '2024-03-08 14:30:07.25' AS TIMESTAMP_NS) + INTERVAL 1 MICROSECOND AS nano, TIMESTAMPTZ 'infinity' AS inf, NULL::TIMESTAMP_S AS nothing`);
    expect(table.columns.map((c) => c.kind)).toEqual(['instant', 'instant', 'instant', 'instant', 'instant', 'instant', 'instant']);
    expect(table.rows).toEqual([{ tz: ns, naive: ns, milli: ns, sec: ns - 250_000_000n, nano: ns + 1000n, inf: 'infinity', nothing: null }]);
  });
});
