import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/core/clock.js';
import { VersionConflictError } from '../../src/core/errors.js';
import { FeatureStore, type FeatureWrite } from '../../src/storage/feature-store.js';
import { openTempLake, type TempLake } from '../support/temp-lake.js';

const MIN = 60_000;
const HASH_A = 'a'.repeat(64);
const HASH_B = 'b'.repeat(64);
// 2024-11-26 is a Tuesday; New York is on EST (UTC-5): 09:30 ET = 14:30 UTC.
const et = (date: string, hhmm: string, ss = '00'): number => Date.parse(`${date}T${hhmm}:${ss}-05:00`);

let t: TempLake;
let store: FeatureStore;
beforeAll(async () => {
  t = await openTempLake();
  store = new FeatureStore(t.lake, t.calendars, new ManualClock(Date.parse('2024-12-01T00:00:00Z')));
});
afterAll(async () => t.cleanup());

const base = (over: Partial<FeatureWrite> = {}): FeatureWrite => ({
  group: 'technical',
  version: 'v1',
  definitionHash: HASH_A,
  definition: { features: ['f'] },
  date: '2024-11-26',
  symbols: ['AAPL'],
  featureColumns: ['f', 'g'],
  maskColumns: ['close_imputed'],
  ...over,
});

/** Rows for one symbol: bar starts at the given ET times, f = minute of day, g = -f. */
function rows(symbol: string, date: string, times: string[], imputedAt: string[] = []): { data: Record<string, unknown[]>; n: number } {
  const ts = times.map((hm) => et(date, hm));
  const minuteOfDay = (hm: string): number => Number(hm.slice(0, 2)) * 60 + Number(hm.slice(3));
  return {
    n: times.length,
    data: {
      symbol: times.map(() => symbol),
      ts,
      available_ts: ts.map((x) => x + MIN),
      is_imputed: times.map((hm) => imputedAt.includes(hm)),
      imputation: times.map((hm) => (imputedAt.includes(hm) ? 'ffill' : null)),
      close_imputed: times.map((hm) => imputedAt.includes(hm)),
      f: times.map(minuteOfDay),
      g: times.map((hm) => -minuteOfDay(hm)),
    },
  };
}

describe('FeatureStore writes', () => {
  it('writes one sorted file per date with the documented columns, NaN as NULL, and merges other symbols', async () => {
    const a = rows('AAPL', '2024-11-26', ['09:58', '09:59', '10:00', '10:01'], ['09:59']);
    (a.data.g as number[])[2] = NaN;
    expect(await store.writeFeatures(base(), a.data, a.n)).toEqual({ rows: 4, revisions: 0 });
    // MSFT given out of order: the file must still come out sorted by (symbol, ts).
    const m = rows('MSFT', '2024-11-26', ['10:00', '09:59']);
    await store.writeFeatures(base({ symbols: ['MSFT'] }), m.data, m.n);
    const file = store.partitionFile('technical', 'v1', '2024-11-26');
    expect(file.endsWith('features/technical/v=v1/date=2024-11-26/data.parquet')).toBe(true);
    const got = await t.lake.query(`SELECT * FROM read_parquet('${file}', hive_partitioning = false)`);
    expect(Object.keys(got[0] ?? {})).toEqual([
      'symbol',
      'ts',
      'available_ts',
      'feature_group',
      'version',
      'definition_hash',
      'is_imputed',
      'imputation',
      'close_imputed',
      'f',
      'g',
    ]);
    expect(got.map((r) => `${r.symbol} ${new Date(r.ts as number).toISOString().slice(11, 16)}`)).toEqual([
      'AAPL 14:58',
      'AAPL 14:59',
      'AAPL 15:00',
      'AAPL 15:01',
      'MSFT 14:59',
      'MSFT 15:00',
    ]);
    expect(got[2]?.g).toBeNull();
    expect(got[1]).toMatchObject({ feature_group: 'technical', version: 'v1', definition_hash: HASH_A, is_imputed: true, imputation: 'ffill', close_imputed: true, f: 599 });
    expect((got[1]?.available_ts as number) - (got[1]?.ts as number)).toBe(MIN);

    // Rewriting AAPL alone replaces AAPL's rows and keeps MSFT's.
    const a2 = rows('AAPL', '2024-11-26', ['09:58']);
    await store.writeFeatures(base(), a2.data, a2.n);
    const after = await t.lake.query<{ symbol: string; n: number }>(`SELECT symbol, count(*) AS n FROM read_parquet('${file}') GROUP BY symbol ORDER BY symbol`);
    expect(after).toEqual([
      { symbol: 'AAPL', n: 1 },
      { symbol: 'MSFT', n: 2 },
    ]);
    await store.writeFeatures(base(), a.data, a.n);
  });

  it('counts a revision for each published row whose values, is_imputed or available_ts change', async () => {
    const date = '2024-12-18'; // after every date the lookups here search
    const w = base({ date, symbols: ['AAPL', 'MSFT'] });
    const day = (patch: (d: Record<string, unknown[]>) => void = () => undefined): { data: Record<string, unknown[]>; n: number } => {
      const a = rows('AAPL', date, ['10:00', '10:01', '10:02']);
      const m = rows('MSFT', date, ['10:00']);
      const data = Object.fromEntries(Object.keys(a.data).map((k) => [k, [...(a.data[k] as unknown[]), ...(m.data[k] as unknown[])]]));
      patch(data);
      return { data, n: 4 };
    };
    const first = day();
    expect(await store.writeFeatures(w, first.data, first.n)).toEqual({ rows: 4, revisions: 0 });
    // The same rows again: nothing revised (NaN and NULL compare equal after normalisation).
    expect(await store.writeFeatures(w, first.data, first.n)).toEqual({ rows: 4, revisions: 0 });
    // One value changes, one row becomes imputed, one row becomes available later; a new row is not a revision.
    const changed = day((d) => {
      (d.f as number[])[0] = 1.5;
      (d.is_imputed as boolean[])[1] = true;
      (d.available_ts as number[])[2] = (d.available_ts as number[])[2]! + MIN;
    });
    expect(await store.writeFeatures(w, changed.data, changed.n)).toEqual({ rows: 4, revisions: 3 });
    const more = rows('AAPL', date, ['10:00', '10:01', '10:02', '10:03']);
    more.data.f = (changed.data.f as number[]).slice(0, 3).concat([603]);
    more.data.is_imputed = (changed.data.is_imputed as boolean[]).slice(0, 3).concat([false]);
    more.data.available_ts = (changed.data.available_ts as number[]).slice(0, 3).concat([et(date, '10:04')]);
    expect(await store.writeFeatures(base({ date }), more.data, more.n)).toEqual({ rows: 4, revisions: 0 });
    // A value that was NULL and is now a number is a revision too (bit for bit, IS DISTINCT FROM).
    (more.data.g as number[])[3] = NaN;
    await store.writeFeatures(base({ date }), more.data, more.n);
    (more.data.g as number[])[3] = 0;
    expect(await store.writeFeatures(base({ date }), more.data, more.n)).toEqual({ rows: 4, revisions: 1 });
  });

  it('rejects rows outside the replaced symbols and duplicate (symbol, ts)', async () => {
    const m = rows('MSFT', '2024-11-26', ['09:59']);
    await expect(store.writeFeatures(base({ symbols: ['AAPL'] }), m.data, m.n)).rejects.toThrow(/outside the symbols/);
    const d = rows('AAPL', '2024-11-26', ['09:59', '09:59']);
    await expect(store.writeFeatures(base(), d.data, d.n)).rejects.toThrow(/duplicate/);
    await expect(store.writeFeatures(base({ featureColumns: ['ts'] }), d.data, d.n)).rejects.toThrow(/reserved|missing/);
  });

  it('the version guard rejects a changed definition under an existing version, naming the group', async () => {
    const a = rows('AAPL', '2024-11-26', ['09:58']);
    let err: unknown;
    try {
      await store.writeFeatures(base({ definitionHash: HASH_B, date: '2024-11-25' }), a.data, a.n);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(VersionConflictError);
    expect((err as Error).message).toContain('feature group technical');
    expect((err as Error).message).toContain('v1');
    // Nothing was written for the rejected date, and the registry still holds one record for v1.
    expect(store.existingFiles('technical', 'v1', ['2024-11-25'])).toEqual([]);
    // A new version with the new definition is fine.
    await store.writeFeatures(base({ definitionHash: HASH_B, version: 'v2', date: '2024-11-25' }), a.data, a.n);
    const ledger = readFileSync(t.lake.path('state', 'feature_registry.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(ledger.map((r) => [r.group, r.version, r.definition_hash])).toEqual([
      ['technical', 'v1', HASH_A],
      ['technical', 'v2', HASH_B],
    ]);
    expect(ledger[0]).toMatchObject({ columns: ['f', 'g'], mask_columns: ['close_imputed'], definition: { features: ['f'] } });
  });
});

describe('FeatureStore point-in-time inference', () => {
  it('at 10:00:30 returns the 09:59 bar (available 10:00), never the 10:00 bar', async () => {
    const [r] = await store.getFeaturesForInference('technical', 'v1', et('2024-11-26', '10:00', '30'), ['AAPL'], 120_000);
    expect(r).toMatchObject({ symbol: 'AAPL', status: 'ok', ts: et('2024-11-26', '09:59'), available_ts: et('2024-11-26', '10:00'), age_ms: 30_000, is_imputed: true });
    expect(r?.features).toEqual({ f: 599, g: -599 });
    // Exactly at 10:01:00 the 10:00 bar becomes available (available_ts <= as_of is inclusive).
    const [r2] = await store.getFeaturesForInference('technical', 'v1', et('2024-11-26', '10:01'), ['AAPL'], 120_000);
    expect(r2).toMatchObject({ ts: et('2024-11-26', '10:00'), age_ms: 0, status: 'ok' });
    expect(r2?.features).toEqual({ f: 600, g: null });
    // One millisecond earlier it is not.
    const [r3] = await store.getFeaturesForInference('technical', 'v1', et('2024-11-26', '10:01') - 1, ['AAPL'], 120_000);
    expect(r3?.ts).toBe(et('2024-11-26', '09:59'));
  });

  it('reports stale beyond the TTL (values NULL, times kept) and missing when there is no row', async () => {
    // Last AAPL row: the 10:01 bar, available 10:02. At 10:04:00 it is 120 s old: still ok.
    const [ok] = await store.getFeaturesForInference('technical', 'v1', et('2024-11-26', '10:04'), ['AAPL'], 120_000);
    expect(ok).toMatchObject({ status: 'ok', age_ms: 120_000, features: { f: 601, g: -601 } });
    const res = await store.getFeaturesForInference('technical', 'v1', et('2024-11-26', '10:04', '01'), ['MSFT', 'AAPL', 'SPY'], 120_000);
    expect(res.map((r) => r.symbol)).toEqual(['MSFT', 'AAPL', 'SPY']);
    // MSFT's last row is the 10:00 bar (available 10:01): 181 s old.
    expect(res[0]).toMatchObject({ status: 'stale', ts: et('2024-11-26', '10:00'), age_ms: 181_000, features: { f: null, g: null } });
    expect(res[1]).toMatchObject({ status: 'stale', age_ms: 121_000, features: { f: null, g: null } });
    expect(res[2]).toMatchObject({ status: 'missing', ts: null, available_ts: null, age_ms: null, features: { f: null, g: null } });
    // Before 09:59 (first bar 09:58 available 09:59) there is nothing that day, and no earlier partition: missing.
    const [early] = await store.getFeaturesForInference('technical', 'v1', et('2024-11-26', '09:58', '59'), ['AAPL'], 86_400_000);
    expect(early?.status).toBe('missing');
  });

  it('falls back to the previous session, and sees rows written after it cached a partition', async () => {
    // Next session (Wednesday) before its first row is available: Tuesday's last row, ~17.5 h old.
    const wed = (hm: string, ss = '00'): number => et('2024-11-27', hm, ss);
    const day = 24 * 3600_000;
    const [prev] = await store.getFeaturesForInference('technical', 'v1', wed('09:30', '10'), ['AAPL'], day);
    expect(prev).toMatchObject({ status: 'ok', ts: et('2024-11-26', '10:01'), age_ms: wed('09:30', '10') - et('2024-11-26', '10:02') });
    const [stale] = await store.getFeaturesForInference('technical', 'v1', wed('09:30', '10'), ['AAPL'], 300_000);
    expect(stale?.status).toBe('stale');
    // Wednesday's partition appears (written by another store instance, as another process would).
    const other = new FeatureStore(t.lake, t.calendars, new ManualClock(0));
    const w = rows('AAPL', '2024-11-27', ['09:30', '09:31']);
    await other.writeFeatures(base({ date: '2024-11-27' }), w.data, w.n);
    const [now] = await store.getFeaturesForInference('technical', 'v1', wed('09:32', '05'), ['AAPL'], 300_000);
    expect(now).toMatchObject({ status: 'ok', ts: wed('09:31'), features: { f: 571, g: -571 } });
    // Cache the partition in memory, then rewrite it with one more bar: the lookup must see it.
    await store.preloadPartition('technical', 'v1', '2024-11-27');
    const [cachedNow] = await store.getFeaturesForInference('technical', 'v1', wed('09:32', '05'), ['AAPL'], 300_000);
    expect(cachedNow).toEqual(now);
    const w2 = rows('AAPL', '2024-11-27', ['09:30', '09:31', '09:32']);
    await other.writeFeatures(base({ date: '2024-11-27' }), w2.data, w2.n);
    const [later] = await store.getFeaturesForInference('technical', 'v1', wed('09:33', '05'), ['AAPL'], 300_000);
    expect(later).toMatchObject({ status: 'ok', ts: wed('09:32'), features: { f: 572, g: -572 } });
  });

  it('agrees with a brute-force scan every 15 s around the written bars, cached or read from the file', async () => {
    const fromFile = new FeatureStore(t.lake, t.calendars, new ManualClock(0), { cacheColumns: false });
    const inMemory = new FeatureStore(t.lake, t.calendars, new ManualClock(0));
    await inMemory.preloadPartition('technical', 'v1', '2024-11-26');
    await inMemory.preloadPartition('technical', 'v1', '2024-11-27');
    const written = [
      ...['09:58', '09:59', '10:00', '10:01'].map((hm) => ({ symbol: 'AAPL', ts: et('2024-11-26', hm) })),
      ...['09:59', '10:00'].map((hm) => ({ symbol: 'MSFT', ts: et('2024-11-26', hm) })),
      ...['09:30', '09:31', '09:32'].map((hm) => ({ symbol: 'AAPL', ts: et('2024-11-27', hm) })),
    ];
    const probes: number[] = [];
    for (let x = et('2024-11-26', '09:58'); x <= et('2024-11-26', '10:04'); x += 15_000) probes.push(x);
    for (let x = et('2024-11-27', '09:29'); x <= et('2024-11-27', '09:35'); x += 15_000) probes.push(x);
    for (const asOf of probes) {
      const a = await fromFile.getFeaturesForInference('technical', 'v1', asOf, ['AAPL', 'MSFT'], 10 * 24 * 3600_000);
      const b = await inMemory.getFeaturesForInference('technical', 'v1', asOf, ['AAPL', 'MSFT'], 10 * 24 * 3600_000);
      expect(b).toEqual(a);
      for (const r of a) {
        const avail = written.filter((w) => w.symbol === r.symbol && w.ts + MIN <= asOf).map((w) => w.ts);
        expect(r.ts, `${r.symbol} at ${new Date(asOf).toISOString()}`).toBe(avail.length ? Math.max(...avail) : null);
      }
    }
  });

  it('getFeaturesForTraining returns the dates and symbols asked for', async () => {
    const all = await store.getFeaturesForTraining('technical', 'v1', '2024-11-25', '2024-11-27');
    expect(all.map((r) => r.symbol)).toEqual(['AAPL', 'AAPL', 'AAPL', 'AAPL', 'AAPL', 'AAPL', 'AAPL', 'MSFT', 'MSFT']);
    const msft = await store.getFeaturesForTraining('technical', 'v1', '2024-11-26', '2024-11-26', ['MSFT']);
    expect(msft.map((r) => [r.ts, r.f])).toEqual([
      [et('2024-11-26', '09:59'), 599],
      [et('2024-11-26', '10:00'), 600],
    ]);
    expect(msft[0]?.date).toBe('2024-11-26');
    expect(msft[0]).not.toHaveProperty('v');
    expect(await store.getFeaturesForTraining('technical', 'v1', '2024-11-20', '2024-11-21')).toEqual([]);
  });
});
