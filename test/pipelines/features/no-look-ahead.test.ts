import { writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { computeFeatureGroup } from '../../../src/pipelines/features/compute-feature-group.js';
import { loadCustomFeatures } from '../../../src/pipelines/features/custom-feature.js';
import {
  compileExpression,
  expressionInputName,
} from '../../../src/pipelines/features/expression-feature.js';
import { featureSpecSchema } from '../../../src/pipelines/features/feature-config.js';
import type { FeatureFn, FeatureSpec, SpecOf } from '../../../src/pipelines/features/feature-config.js';
import { FEATURE_FN_NAMES, FEATURE_FUNCTIONS } from '../../../src/pipelines/features/feature-registry.js';
import { assertNoLookAhead, type ComputeSeries } from '../../support/no-look-ahead.js';
import { openTempLake, type TempLake } from '../../support/temp-lake.js';

const EXAMPLES = resolve(import.meta.dirname, '../../../examples/features');

/** Small-parameter specs so random series of up to 60 bars reach past every warm-up. */
const SAMPLES: Record<FeatureFn, Record<string, unknown>[]> = {
  sma: [{ window: 3 }],
  ema: [{ window: 3 }],
  rolling_mean: [{ window: 4 }],
  rolling_std: [{ window: 3 }, { window: 2, ddof: 0 }],
  rolling_volatility: [{ window: 3 }],
  zscore: [{ window: 3 }],
  returns: [{}, { period: 3 }],
  log_returns: [{ period: 2 }],
  lag: [{ periods: [1, 3] }],
  rsi: [{ window: 3 }],
  macd: [{ fast: 2, slow: 4, signal: 3 }],
  bollinger: [{ window: 3, k: 1.5 }],
  atr: [{ window: 3 }],
  vwap: [{}, { price: 'wap' }, { price: 'ohlc4' }],
  // The examples/ modules, through the same loader and call checks as the pipeline.
  custom: [
    { module: join(EXAMPLES, 'sma.js'), inputs: ['close'], params: { window: 3 }, lookback_bars: 2 },
    {
      module: join(EXAMPLES, 'session-range.ts'),
      export: 'sessionRange',
      inputs: ['high', 'low'],
      outputs: ['high', 'low'],
    },
  ],
  // Evaluated by DuckDB with the pipeline's SQL (compileExpression), then the registry's warm-up.
  expression: [
    { expr: '(close - min(low) OVER w) / nullif(max(high) OVER w - min(low) OVER w, 0)', window: 3 },
    { expr: 'last_value(close) OVER w - first_value(open) OVER w + avg(volume) OVER w', window: 4 },
  ],
};

const columns = ['symbol', 'ts', 'open', 'high', 'low', 'close', 'volume', 'wap'];

const specsFor = (fn: FeatureFn): FeatureSpec[] =>
  (SAMPLES[fn] ?? []).map((params, i) => featureSpecSchema.parse({ name: `f${i}`, fn, ...params }));

describe('no look-ahead: changing any bar after t leaves every output at <= t unchanged', () => {
  let t: TempLake;
  beforeAll(async () => {
    t = await openTempLake();
  });
  afterAll(async () => t.cleanup());

  /** Evaluates `sql` (an expression feature's compiled SQL) per series in one DuckDB query, then the registry's warm-up. */
  const evaluateInDuckDb = (sql: string, spec: SpecOf<'expression'>): ComputeSeries => {
    const group = { name: 'g', features: [spec] };
    return async (series) => {
      // All series in one table, one symbol each: one query per property run.
      const offsets = series.map((_, k) => series.slice(0, k).reduce((n, s) => n + s.ts.length, 0));
      const rows = series.reduce((n, s) => n + s.ts.length, 0);
      const data: Record<string, unknown[]> = Object.fromEntries(columns.map((c) => [c, []]));
      series.forEach((s, k) => {
        for (let i = 0; i < s.ts.length; i++) {
          data['symbol']?.push(`s${String(k).padStart(3, '0')}`);
          data['ts']?.push(s.ts[i]);
          for (const c of ['open', 'high', 'low', 'close', 'volume'] as const) data[c]?.push(s[c][i]);
          data['wap']?.push(s.columns?.['wap']?.[i]);
        }
      });
      const table = await t.lake.stage(
        columns.map((c) => ({ name: c, type: c === 'symbol' ? 'VARCHAR' : 'DOUBLE' })),
        data,
        rows,
      );
      try {
        const out = await t.lake.readDoubles(
          `SELECT CAST(${sql} AS DOUBLE) AS v FROM ${table} ORDER BY symbol, ts`,
        );
        const v = out.get('v');
        return series.map((s, k) => {
          const own = v.slice(offsets[k] as number, (offsets[k] as number) + s.ts.length);
          return computeFeatureGroup(
            { ...s, columns: { ...s.columns, [expressionInputName(spec)]: own } },
            group,
          ).columns;
        });
      } finally {
        await t.lake.dropTable(table);
      }
    };
  };

  it('every registered function has sample specs here', () => {
    for (const fn of FEATURE_FN_NAMES) expect(specsFor(fn).length, fn).toBeGreaterThan(0);
    expect(Object.keys(SAMPLES).sort()).toEqual([...FEATURE_FN_NAMES].sort());
  });

  for (const fn of FEATURE_FN_NAMES.filter((f) => f !== 'expression')) {
    it(`${fn}`, async () => {
      for (const spec of specsFor(fn)) {
        const group = { name: 'g', features: [spec] };
        await loadCustomFeatures(group.features);
        await assertNoLookAhead((series) => series.map((s) => computeFeatureGroup(s, group).columns), {
          label: `${fn} ${JSON.stringify(spec)}`,
          columns: FEATURE_FUNCTIONS[fn].outputColumns(spec as never),
        });
      }
    });
  }

  it('the helper catches a look-ahead in a module and in SQL', async () => {
    // fast-check reports the property's own error as the cause.
    const failureOf = (p: Promise<void>): Promise<string> =>
      p.then(
        () => 'passed',
        (e: Error) => String((e.cause as Error | undefined)?.message ?? e.message),
      );
    const module = join(t.dir, 'peek.js');
    writeFileSync(
      module,
      'export default ({ inputs: { close }, length }) => ({ value: close.map((_, i) => (i + 1 < length ? close[i + 1] : NaN)) });\n',
    );
    const peek = featureSpecSchema.parse({ name: 'p', fn: 'custom', module, inputs: ['close'] });
    await loadCustomFeatures([peek]);
    const group = { name: 'g', features: [peek] };
    expect(
      await failureOf(
        assertNoLookAhead((series) => series.map((s) => computeFeatureGroup(s, group).columns), {
          label: 'peek',
          columns: ['p'],
          numRuns: 20,
        }),
      ),
    ).toMatch(/peek p\[\d+\] changed/);
    const ahead = featureSpecSchema.parse({ name: 'a', fn: 'expression', expr: 'close', window: 1 });
    expect(
      await failureOf(
        assertNoLookAhead(
          evaluateInDuckDb(
            'max(close) OVER (PARTITION BY symbol ORDER BY ts ROWS BETWEEN CURRENT ROW AND 1 FOLLOWING)',
            ahead as SpecOf<'expression'>,
          ),
          { label: 'ahead', columns: ['a'], numRuns: 20 },
        ),
      ),
    ).toMatch(/ahead a\[\d+\] changed/);
  });

  it('expression (DuckDB windows over each series)', async () => {
    const probe = `(SELECT ${columns.map((c) => `CAST(NULL AS ${c === 'symbol' ? 'VARCHAR' : 'DOUBLE'}) AS ${c}`).join(', ')} LIMIT 0)`;
    for (const spec of specsFor('expression') as SpecOf<'expression'>[]) {
      const sql = await compileExpression(t.lake, spec, columns, 'test', probe);
      await assertNoLookAhead(evaluateInDuckDb(sql, spec), {
        label: `expression ${spec.expr}`,
        columns: [spec.name],
        numRuns: 40,
      });
    }
  });
});
