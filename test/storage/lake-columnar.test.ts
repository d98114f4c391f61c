import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { StorageError } from '../../src/core/errors.js';
import { openTempLake, type TempLake } from '../support/temp-lake.js';

let t: TempLake;
beforeAll(async () => {
  t = await openTempLake();
});
afterAll(async () => {
  await t.cleanup();
});

// 5,000 rows span three 2,048-row vectors, so chunk offsets and partial validity bytes are exercised.
const N = 5000;

describe('lake: DOUBLE columns as typed arrays', () => {
  it('reads DOUBLE columns across vectors, NULL as NaN, in query order', async () => {
    const cols = await t.lake.readDoubles(
      `SELECT CAST(i AS DOUBLE) AS i, CASE WHEN i % 7 = 3 THEN NULL ELSE CAST(i AS DOUBLE) * 0.5 - 1 END AS half, CAST(NULL AS DOUBLE) AS none
       FROM range(${N}) r(i) ORDER BY i DESC`,
    );
    expect(cols.rows).toBe(N);
    expect(cols.names).toEqual(['i', 'half', 'none']);
    const i = cols.get('i');
    const half = cols.get('half');
    expect(i).toBeInstanceOf(Float64Array);
    expect(i).toHaveLength(N);
    let nulls = 0;
    for (let k = 0; k < N; k++) {
      const v = N - 1 - k;
      expect(i[k]).toBe(v);
      if (v % 7 === 3) {
        expect(half[k]).toBeNaN();
        nulls++;
      } else if (half[k] !== v * 0.5 - 1) {
        throw new Error(`row ${k}: ${half[k]} != ${v * 0.5 - 1}`);
      }
    }
    expect(nulls).toBe(Math.floor((N - 4) / 7) + 1);
    expect(cols.get('none').every((x) => Number.isNaN(x))).toBe(true);
  });

  it('refuses a column that is not DOUBLE, naming it, and returns empty arrays for no rows', async () => {
    await expect(t.lake.readDoubles(`SELECT 1.5::DOUBLE AS a, 'x' AS s`)).rejects.toThrow(/column s is VARCHAR, expected DOUBLE/);
    await expect(t.lake.readDoubles(`SELECT 1.5::DOUBLE AS a, 'x' AS s`)).rejects.toBeInstanceOf(StorageError);
    const empty = await t.lake.readDoubles(`SELECT 1.5::DOUBLE AS a WHERE false`);
    expect(empty.rows).toBe(0);
    expect(empty.get('a')).toHaveLength(0);
    expect(() => empty.get('b')).toThrow(/no column b/);
  });

  it('lets SQL read typed arrays (and subarray views) as DOUBLE columns, NaN as NULL, for the duration of a call', async () => {
    const k = new Float64Array(N + 10);
    const v = new Float64Array(N + 10);
    for (let r = 0; r < N + 10; r++) {
      k[r] = r;
      // NULLs only in the second vector, so a vector reused after it must not keep its NULL bits.
      v[r] = r % 11 === 5 && r > 2058 && r < 4106 ? NaN : r / 3;
    }
    // Two parts from views that do not start at the buffer's beginning: rows 10..2009, then 2010...
    const parts = [
      [k.subarray(10, 2010), v.subarray(10, 2010)],
      [k.subarray(2010), v.subarray(2010)],
    ];
    let expectedNulls = 0;
    for (let r = 10; r < N + 10; r++) if (Number.isNaN(v[r])) expectedNulls++;
    const relation = await t.lake.withDoubles(['k', 'v'], [parts], async ([rel]) => {
      const [stats] = await t.lake.query<{ n: number; nulls: number; nans: number; bad: number; lo: number; hi: number; order: number }>(
        `SELECT count(*) AS n, count(*) FILTER (WHERE v IS NULL) AS nulls, count(*) FILTER (WHERE isnan(v)) AS nans,
                count(*) FILTER (WHERE v IS NOT NULL AND v <> k / 3) AS bad, min(k) AS lo, max(k) AS hi FROM ${rel}`,
      );
      expect(stats).toEqual({ n: N, nulls: expectedNulls, nans: 0, bad: 0, lo: 10, hi: N + 9 });
      // Scanned in order, projections and joins work like on any relation.
      const back = await t.lake.readDoubles(`SELECT v FROM ${rel}`);
      for (let r = 0; r < N; r++) if (!Object.is(back.get('v')[r], v[r + 10])) throw new Error(`row ${r}`);
      const [joined] = await t.lake.query<{ n: number }>(`SELECT count(*) AS n FROM ${rel} a JOIN range(0, 100) r(i) ON a.k = r.i`);
      expect(joined?.n).toBe(90);
      return rel;
    });
    await expect(t.lake.query(`SELECT count(*) FROM ${relation}`)).rejects.toThrow(/no arrays registered/);
    await expect(t.lake.withDoubles(['k', 'v'], [[[k, v.subarray(1)]]], async () => 0)).rejects.toThrow(/one length/);
  });

  it('closes only after the statements queued while it waits have run (a background load goes on in steps)', async () => {
    const other = await openTempLake();
    try {
      const first = other.lake.query('SELECT 1 AS x');
      // The next step is queued only once the first has answered, i.e. while close() waits.
      const second = first.then(() => other.lake.readDoubles(`SELECT CAST(i AS DOUBLE) AS i FROM range(${N}) r(i)`));
      await other.lake.close();
      expect((await second).rows).toBe(N);
      await expect(other.lake.query('SELECT 1')).rejects.toThrow(/lake is closed/);
    } finally {
      await other.cleanup();
    }
  });
});
