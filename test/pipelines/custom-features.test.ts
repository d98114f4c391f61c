import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { getCalendar } from '../../src/calendar/calendar-registry.js';
import { parseSettings } from '../../src/config/settings.js';
import type { CuratedBarRow } from '../../src/storage/tables/curated-bars.js';
import { ManualClock } from '../../src/core/clock.js';
import { InputError, VersionConflictError } from '../../src/core/errors.js';
import { silentLogger } from '../../src/ops/logging-setup.js';
import { resolveFeatureGroup } from '../../src/jobs/feature-job.js';
import { runFeaturePipeline, type FeaturePipelineDeps } from '../../src/pipelines/feature-pipeline.js';
import { featureGroupSchema, type FeatureGroupInput } from '../../src/pipelines/features/feature-config.js';
import { featureDefinitionHash } from '../../src/pipelines/features/feature-definition-hash.js';
import { resolveSourceDataset } from '../../src/pipelines/source-dataset.js';
import { FeatureStore } from '../../src/storage/feature-store.js';
import type { LakeRow } from '../../src/storage/lake.js';
import { openTempLake, type TempLake } from '../support/temp-lake.js';

const MIN = 60_000;
const DATES = ['2024-11-19', '2024-11-20', '2024-11-21'];
const SYMBOLS = ['AAPL', 'MSFT'];
const EXAMPLES = resolve(import.meta.dirname, '../../examples/features');

function price(symbol: string, ts: number): number {
  const k = ts / MIN;
  const s = symbol === 'AAPL' ? 1 : 2.3;
  return 100 * s + 3 * Math.sin(k / 37 + s) + 1.5 * Math.sin(k / 5.3) + 0.4 * Math.sin(k * 1.7 + s * 3);
}

/** Full XNYS sessions; MSFT has 5 NULL bars from 11:00 ET on 2024-11-20 (a gap left unfilled). */
async function writeCurated(t: TempLake): Promise<CuratedBarRow[]> {
  const all: CuratedBarRow[] = [];
  for (const date of DATES) {
    const session = getCalendar('XNYS').session(date);
    if (!session) throw new Error(`no session ${date}`);
    const rows: CuratedBarRow[] = [];
    for (const symbol of SYMBOLS) {
      for (let ts = session.open; ts < session.close; ts += MIN) {
        const minute = (ts - session.open) / MIN;
        const nul = symbol === 'MSFT' && date === '2024-11-20' && minute >= 90 && minute < 95;
        const c = price(symbol, ts);
        const o = price(symbol, ts - MIN);
        const bar = nul
          ? { open: null, high: null, low: null, close: null, volume: null, wap: null, trade_count: null }
          : { open: o, high: Math.max(o, c) + 0.2 + (minute % 3) * 0.05, low: Math.min(o, c) - 0.2, close: c, volume: 1000 + (minute % 17) * 10, wap: (o + c) / 2, trade_count: 10 };
        rows.push({
          symbol,
          ts,
          available_ts: ts + MIN,
          ...bar,
          is_imputed: nul,
          imputation: nul ? 'max_gap_exceeded' : null,
          open_imputed: nul,
          high_imputed: nul,
          low_imputed: nul,
          close_imputed: nul,
          volume_imputed: nul,
          wap_imputed: nul,
          trade_count_imputed: nul,
        });
      }
    }
    await t.curated.writeCuratedBars(rows, 'bars_1min', date);
    all.push(...rows);
  }
  return all;
}

const group = (name: string, features: FeatureGroupInput['features']): ReturnType<typeof featureGroupSchema.parse> =>
  featureGroupSchema.parse({ name, version: 'v1', source: 'bars_1min', features });

describe('custom module and expression features through the feature pipeline', () => {
  let t: TempLake;
  let store: FeatureStore;
  let curated: CuratedBarRow[];
  let modules: string;
  const deps = (extra: Partial<FeaturePipelineDeps> = {}): FeaturePipelineDeps => ({
    lake: t.lake,
    featureStore: store,
    logger: silentLogger(),
    source: resolveSourceDataset('bars_1min'),
    ...extra,
  });
  const rowsOf = (g: string, v: string, date: string): Promise<LakeRow[]> => store.getFeaturesForTraining(g, v, date, date);

  beforeAll(async () => {
    t = await openTempLake();
    store = new FeatureStore(t.lake, t.calendars, new ManualClock(Date.parse('2024-12-01T00:00:00Z')));
    curated = await writeCurated(t);
    modules = join(t.dir, 'modules');
    mkdirSync(modules);
  });
  afterAll(async () => t.cleanup());

  it('a module computing SMA 20 equals fn: sma on the same data (inline and on the worker thread), lookback included', async () => {
    const g = group('cmp', [
      { name: 'sma_20', fn: 'sma', column: 'close', window: 20 },
      { name: 'my_sma_20', fn: 'custom', module: join(EXAMPLES, 'sma.js'), inputs: ['close'], params: { window: 20 }, lookback_bars: 19 },
      { name: 'sess', fn: 'custom', module: join(EXAMPLES, 'session-range.ts'), export: 'sessionRange', inputs: ['high', 'low'], outputs: ['high', 'low'] },
    ]);
    // Day 3 alone (its lookback read from day 2), and days 2..3 on the worker thread.
    const inline = await runFeaturePipeline([DATES[2] as string], SYMBOLS, g, 'v1', deps({ compute: 'inline' }));
    expect(inline.lookbackDates).toEqual([DATES[1]]);
    const worker = await runFeaturePipeline(DATES.slice(1), SYMBOLS, g, 'v2', deps({ compute: 'worker' }));
    expect(worker.dates).toEqual(DATES.slice(1));
    let compared = 0;
    for (const [v, date] of [['v1', DATES[2]], ['v2', DATES[1]], ['v2', DATES[2]]] as const) {
      const rows = await rowsOf('cmp', v, date as string);
      expect(rows).toHaveLength(2 * 390);
      for (const r of rows) {
        const a = r.sma_20 as number | null;
        const b = r.my_sma_20 as number | null;
        if (a === null || b === null) expect(b, `${v} ${r.symbol as string} ${r.ts as number}`).toBe(a);
        else expect(Math.abs(a - b), `${v} ${r.symbol as string} ${r.ts as number}`).toBeLessThanOrEqual(1e-12 * Math.abs(a));
        if (a !== null) compared++;
      }
      // sess_high / sess_low: the running session extremes, by hand from the curated rows.
      for (const symbol of SYMBOLS) {
        const own = curated.filter((c) => c.symbol === symbol && new Date(c.ts).toISOString().startsWith(date as string));
        const out = rows.filter((r) => r.symbol === symbol);
        let hi = -Infinity;
        let lo = Infinity;
        own.forEach((c, i) => {
          if (c.high !== null) hi = Math.max(hi, c.high);
          if (c.low !== null) lo = Math.min(lo, c.low);
          expect(out[i]?.sess_high).toBe(hi);
          expect(out[i]?.sess_low).toBe(lo);
        });
      }
    }
    // MSFT's 5 NULL bars on day 2 blank 20 + 4 values of both SMAs: the NULL handling was compared too.
    const gap = (await rowsOf('cmp', 'v2', DATES[1] as string)).filter((r) => r.symbol === 'MSFT' && r.sma_20 === null);
    expect(gap).toHaveLength(24);
    expect(compared).toBeGreaterThan(2000);
  });

  it('an expression feature (stochastic %K over 14 bars) equals a hand computation, NULL in warm-up, across the session boundary', async () => {
    const expr = '(close - min(low) OVER w) / nullif(max(high) OVER w - min(low) OVER w, 0)';
    const g = group('stoch', [{ name: 'k14', fn: 'expression', expr, window: 14 }]);
    const first = await runFeaturePipeline([DATES[0] as string], SYMBOLS, g, 'v1', deps());
    expect(first.lookbackDates).toEqual([]);
    const later = await runFeaturePipeline([DATES[2] as string], SYMBOLS, g, 'v1', deps());
    expect(later.lookbackDates).toEqual([DATES[1]]);
    expect(later.lookbackBars).toBe(13);
    let values = 0;
    for (const symbol of SYMBOLS) {
      // The reference, from the curated bars in ts order, with SQL's NULL semantics (min/max skip NULLs).
      const bars = curated.filter((c) => c.symbol === symbol).sort((a, b) => a.ts - b.ts);
      const ref = new Map<number, number | null>();
      bars.forEach((b, i) => {
        if (i < 13) return ref.set(b.ts, null);
        const win = bars.slice(i - 13, i + 1);
        const lows = win.map((x) => x.low).filter((x): x is number => x !== null);
        const highs = win.map((x) => x.high).filter((x): x is number => x !== null);
        if (b.close === null || lows.length === 0) return ref.set(b.ts, null);
        const lo = Math.min(...lows);
        const range = Math.max(...highs) - lo;
        ref.set(b.ts, range === 0 ? null : (b.close - lo) / range);
      });
      for (const date of [DATES[0], DATES[2]] as string[]) {
        const rows = (await rowsOf('stoch', 'v1', date)).filter((r) => r.symbol === symbol);
        expect(rows).toHaveLength(390);
        for (const r of rows) {
          const want = ref.get(r.ts as number);
          if (want === null || want === undefined) expect(r.k14, `${symbol} ${r.ts as number}`).toBeNull();
          else {
            expect(Math.abs((r.k14 as number) - want)).toBeLessThanOrEqual(1e-12);
            values++;
          }
        }
      }
      // The first stored session starts with 13 warm-up NULLs; day 3's first bar has a value (day 2's bars).
      const day1 = (await rowsOf('stoch', 'v1', DATES[0] as string)).filter((r) => r.symbol === symbol);
      expect(day1.slice(0, 13).every((r) => r.k14 === null)).toBe(true);
      expect(day1[13]?.k14).not.toBeNull();
      expect((await rowsOf('stoch', 'v1', DATES[2] as string)).find((r) => r.symbol === symbol)?.k14).not.toBeNull();
    }
    expect(values).toBeGreaterThan(1500);
    // Cut into many small reads (each with its own lookback), the range gives the same rows bit for bit.
    const small = await runFeaturePipeline(DATES, SYMBOLS, g, 'small', deps({ batchRows: 500 }));
    expect(small.batches).toBeGreaterThan(3);
    for (const date of [DATES[0], DATES[2]] as string[]) {
      const strip = (rows: LakeRow[]): unknown[] => rows.map((r) => [r.symbol, r.ts, r.available_ts, r.k14]);
      expect(strip(await rowsOf('stoch', 'small', date))).toEqual(strip(await rowsOf('stoch', 'v1', date)));
    }
  });

  it('refuses unsafe or unknown expressions before anything is registered, naming the config path', async () => {
    const cases: [string, RegExp][] = [
      ['close; COPY (SELECT 1) TO \'/tmp/x.csv\'', /one SQL expression/],
      ['close -- comment', /one SQL expression/],
      ["close FROM read_csv('/etc/passwd')", /not valid SQL|exactly one expression/],
      ['(SELECT max(close) FROM curated_bars)', /subqueries/],
      ["read_text('/etc/passwd')", /read_text/],
      ["getenv('HOME')", /getenv/],
      ['lead(close) OVER w', /lead\(\) ignores the window frame/],
      ['sum(close) OVER (PARTITION BY symbol ORDER BY ts ROWS BETWEEN CURRENT ROW AND 3 FOLLOWING)', /must be computed OVER w/],
      ['closing_price - open', /unknown column closing_price \(the source has: .*close/],
      ['s.close', /qualified column/],
      ['min(low)', /aggregates must be windowed/],
      ['random()', /random/],
    ];
    for (const [expr, message] of cases) {
      const g = group('bad_expr', [{ name: 'x', fn: 'expression', expr, window: 3 }]);
      const err = (await runFeaturePipeline([DATES[0] as string], SYMBOLS, g, 'v1', deps({ configPath: 'feature_groups[4]' })).catch((e: unknown) => e)) as Error;
      expect(err, expr).toBeInstanceOf(InputError);
      expect(err.message, expr).toMatch(new RegExp(`^feature_groups\\[4\\]\\.features\\[0\\]\\.expr: expression feature x: .*(?:${message.source})`));
    }
    expect(store.registeredVersion('bad_expr', 'v1')).toBeUndefined();
  });

  it('editing a module without a version bump is a VERSION_CONFLICT; a bumped version runs the new code', async () => {
    const file = join(modules, 'double-sma.js');
    copyFileSync(join(EXAMPLES, 'sma.js'), file);
    const g = group('edit', [{ name: 'm', fn: 'custom', module: file, inputs: ['close'], params: { window: 3 }, lookback_bars: 2 }]);
    const h1 = featureDefinitionHash(g);
    await runFeaturePipeline([DATES[0] as string], ['AAPL'], g, 'v1', deps());
    const before = await rowsOf('edit', 'v1', DATES[0] as string);
    writeFileSync(file, readFileSync(file, 'utf8').replace('out[i] = sum / window;', 'out[i] = (2 * sum) / window;'));
    expect(featureDefinitionHash(g)).not.toBe(h1);
    const conflict = runFeaturePipeline([DATES[0] as string], ['AAPL'], g, 'v1', deps());
    await expect(conflict).rejects.toThrow(VersionConflictError);
    await expect(runFeaturePipeline([DATES[0] as string], ['AAPL'], g, 'v1', deps())).rejects.toMatchObject({ code: 'VERSION_CONFLICT' });
    expect(await rowsOf('edit', 'v1', DATES[0] as string)).toEqual(before);
    // v2 computes with the edited file, not a cached import of the old one.
    await runFeaturePipeline([DATES[0] as string], ['AAPL'], g, 'v2', deps());
    const after = await rowsOf('edit', 'v2', DATES[0] as string);
    expect(after[2]?.m).toBeCloseTo(2 * (before[2]?.m as number), 12);
    // The registry keeps the module's hash, not its code: `--version v1` alone cannot recompute it.
    expect(() => resolveFeatureGroup({ feature_groups: [] }, store, 'edit', 'v1')).toThrow(/uses a custom module, of which the registry keeps only the content hash/);
    // The same content elsewhere is the same definition: the path is not hashed.
    const moved = join(modules, 'moved.js');
    copyFileSync(file, moved);
    expect(featureDefinitionHash({ ...g, features: [{ ...g.features[0], module: moved } as never] })).toBe(featureDefinitionHash(g));
  });

  it('a bad module fails the run with the feature name and module path, and publishes nothing', async () => {
    const write = (name: string, body: string): string => {
      const f = join(modules, name);
      writeFileSync(f, body);
      return f;
    };
    const ok = 'export default ({ length }) => ({ value: new Float64Array(length) });\n';
    const cases: { module: string; export?: string; message: RegExp }[] = [
      { module: join(modules, 'missing.js'), message: /cannot read module .*missing\.js \(ENOENT\)/ },
      { module: write('no-export.js', ok), export: 'feature', message: /has no export feature \(exports: default\)/ },
      { module: write('not-fn.js', 'export default 42;\n'), message: /export default is a number, not a function/ },
      { module: write('syntax.js', 'export default (\n'), message: /cannot load module/ },
      { module: write('short.js', 'export default ({ length }) => ({ value: new Float64Array(length - 1) });\n'), message: /output value has 389 values for 390 bars/ },
      { module: write('no-output.js', 'export default ({ length }) => ({ other: new Float64Array(length) });\n'), message: /returned output\(s\) other not declared/ },
      { module: write('missing-output.js', 'export default () => ({});\n'), message: /returned no output value/ },
      { module: write('throws.js', "export default () => { throw new Error('boom'); };\n"), message: /threw: boom/ },
      { module: write('array.js', 'export default ({ length }) => ({ value: new Array(length).fill(0) });\n'), message: /output value is an Array, expected a Float64Array/ },
      { module: write('async.js', 'export default async ({ length }) => ({ value: new Float64Array(length) });\n'), message: /returned a Promise/ },
    ];
    for (const [i, c] of cases.entries()) {
      const name = `bad_${i}`;
      const g = group(name, [
        { name: 'fine', fn: 'sma', window: 2 },
        { name: 'broken', fn: 'custom', module: c.module, ...(c.export ? { export: c.export } : {}), inputs: ['close'] },
      ]);
      for (const compute of ['inline', 'worker'] as const) {
        const err = (await runFeaturePipeline([DATES[0] as string], SYMBOLS, g, 'v1', deps({ compute })).catch((e: unknown) => e)) as Error;
        expect(err, `${c.module} ${compute}`).toBeInstanceOf(InputError);
        expect(err.message).toContain('feature broken');
        expect(err.message).toContain(c.module);
        expect(err.message).toMatch(c.message);
      }
      expect(existsSync(join(t.dir, 'features', name)) ? readdirSync(join(t.dir, 'features', name), { recursive: true }).filter((f) => String(f).endsWith('.parquet')) : []).toEqual([]);
    }
  });

  it('a module failing only on data of a later read publishes nothing; a good one over many reads writes every date once', async () => {
    // MSFT's NULL bars on the second date are the data this module refuses: the first reads (the
    // first date) pass, a later one throws. Without a check pass, the first date would be published.
    const picky = join(modules, 'picky.js');
    writeFileSync(picky, "export default ({ inputs, length }) => { if (inputs.close.some(Number.isNaN)) throw new Error('a NULL close'); return { value: new Float64Array(length) }; };\n");
    for (const compute of ['inline', 'worker'] as const) {
      const name = `picky_${compute}`;
      const g = group(name, [
        { name: 'fine', fn: 'sma', window: 2 },
        { name: 'picky', fn: 'custom', module: picky, inputs: ['close'] },
      ]);
      const err = (await runFeaturePipeline(DATES, SYMBOLS, g, 'v1', deps({ compute, batchRows: 500 })).catch((e: unknown) => e)) as Error;
      expect(err, compute).toBeInstanceOf(InputError);
      expect(err.message).toMatch(/feature picky.*threw: a NULL close/);
      expect(existsSync(join(t.dir, 'features', name)) ? readdirSync(join(t.dir, 'features', name), { recursive: true }).filter((f) => String(f).endsWith('.parquet')) : []).toEqual([]);
    }
    // The same shape with a module that accepts everything: many reads, every date written, and the
    // run's counts are those of one pass (the check pass is not counted), as for a built-in group.
    const custom = group('many_custom', [{ name: 'm', fn: 'custom', module: join(EXAMPLES, 'sma.js'), inputs: ['close'], params: { window: 20 }, lookback_bars: 19 }]);
    const builtin = group('many_builtin', [{ name: 'm', fn: 'sma', column: 'close', window: 20 }]);
    const a = await runFeaturePipeline(DATES, SYMBOLS, custom, 'v1', deps({ batchRows: 500 }));
    const b = await runFeaturePipeline(DATES, SYMBOLS, builtin, 'v1', deps({ batchRows: 500 }));
    expect(a.batches).toBeGreaterThan(3);
    expect([a.batches, a.rowsRead, a.rowsWritten]).toEqual([b.batches, b.rowsRead, b.rowsWritten]);
    for (const date of DATES) {
      const strip = (rows: LakeRow[]): unknown[] => rows.map((r) => [r.symbol, r.ts, r.m]);
      const [x, y] = [await rowsOf('many_custom', 'v1', date), await rowsOf('many_builtin', 'v1', date)];
      expect(x).toHaveLength(780);
      expect(strip(x).map((r) => (r as number[]).slice(0, 2))).toEqual(strip(y).map((r) => (r as number[]).slice(0, 2)));
    }
  });

  it('resolves a module path relative to the config file directory', () => {
    const cfg = parseSettings(
      {
        instruments: [{ key: 'AAPL', sec_type: 'STK', symbol: 'AAPL', exchange: 'SMART', currency: 'USD', calendar: 'XNYS' }],
        feature_groups: [{ name: 'g', version: 'v1', source: 'bars_1min', features: [{ name: 'm', fn: 'custom', module: './features/sma.js', inputs: ['close'] }] }],
      },
      'test',
      '/srv/ibpipe/config',
    );
    expect(cfg.feature_groups[0]?.features[0]).toMatchObject({ module: '/srv/ibpipe/config/features/sma.js', export: 'default', outputs: ['value'], params: {}, lookback_bars: 0 });
    expect(() => featureGroupSchema.parse({ name: 'g', version: 'v1', source: 's', features: [{ name: 'm', fn: 'custom', module: './x.py', inputs: ['close'] }] })).toThrow(/\.js, \.mjs, \.ts or \.mts/);
  });
});
