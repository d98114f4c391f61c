// Benchmark: buildTrainingDataset over 500 symbols x 20 sessions (label fwd_ret_5, the technical
// group's 16 feature columns, point-in-time join, time split with embargo, Parquet + manifest),
// against one DuckDB statement doing the core of it: the forward return by a window function,
// ASOF-joined to the feature rows available at each anchor, sorted, written to Parquet.
// Run: npx tsx bench/dataset-build.ts [--size quick|full]
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { ManualClock } from '../src/core/clock.js';
import { sqlString } from '../src/core/sql.js';
import { featureDefinitionHash } from '../src/pipelines/features/feature-definition-hash.js';
import { specOutputColumns } from '../src/pipelines/features/feature-config.js';
import { FeatureStore } from '../src/storage/feature-store.js';
import { buildTrainingDataset, type DatasetBuildConfig } from '../src/training/dataset-builder.js';
import { datasetSpecSchema, labelSpecSchema } from '../src/training/training-config.js';
import { benchMain, median, progress, round, RssSampler, type BenchResult } from './support/bench-harness.js';
import { writeSyntheticCurated } from './support/curated-sql.js';
import { benchCalendars, benchSessions, benchSymbols, MINUTE } from './support/synthetic-market.js';
import { TECHNICAL } from './support/technical-group.js';
import { openBenchLake } from './support/temp-lake.js';

const REPS = 3;
const H = 5;
const MASKS = ['open', 'high', 'low', 'close', 'volume', 'wap', 'trade_count'].map((c) => `${c}_imputed`);

async function timed(fn: () => Promise<unknown>): Promise<number> {
  const t0 = performance.now();
  await fn();
  return (performance.now() - t0) / 1000;
}

benchMain(async ({ size }) => {
  const full = size === 'full';
  const symbols = benchSymbols(full ? 500 : 100);
  // One session before the range: the feature rows an anchor at the open may use.
  const sessions = benchSessions((full ? 20 : 4) + 1);
  const range = sessions.slice(1);
  const rows = symbols.length * range.reduce((n, s) => n + (s.close - s.open) / MINUTE, 0);
  progress(`dataset-build: ${symbols.length} symbols x ${range.length} sessions = ${rows} anchors`);
  const bl = await openBenchLake();
  try {
    const { lake } = bl;
    const files = await writeSyntheticCurated(lake, symbols, sessions);
    // Feature partitions as the features job writes them (values: deterministic stand-ins, not
    // the indicators; their computation is the features benchmark's business).
    const store = new FeatureStore(lake, benchCalendars(symbols), new ManualClock(Date.parse('2025-06-01T00:00:00Z')));
    const featureColumns = TECHNICAL.features.flatMap(specOutputColumns);
    const definitionHash = featureDefinitionHash(TECHNICAL);
    await store.writeFeaturesFromRelation(
      { group: TECHNICAL.name, version: TECHNICAL.version, definitionHash, dates: sessions.map((s) => s.date), symbols, featureColumns, maskColumns: MASKS },
      (date) => {
        const file = files[sessions.findIndex((s) => s.date === date)] as string;
        return `(SELECT symbol, ts, ts + INTERVAL 1 MINUTE AS available_ts, is_imputed, imputation, ${MASKS.join(', ')},
                 ${featureColumns.map((f, i) => `close * (1 + ${i} / 1000.0) + (hash(symbol, ts, ${i}) % 1000) / 1e6 AS ${f}`).join(', ')}
                 FROM read_parquet(${sqlString(file)}, hive_partitioning = false))`;
      },
      { ordered: true },
    );
    const cfg: DatasetBuildConfig = {
      dataset: datasetSpecSchema.parse({
        name: 'bench',
        feature_groups: [{ name: TECHNICAL.name, version: TECHNICAL.version }],
        label: 'fwd_ret_5',
        start: range[0]?.date,
        end: range[range.length - 1]?.date,
        symbols,
        filters: { drop_imputed_inputs: true },
        split: { train: 0.7, validation: 0.15, test: 0.15, embargo_bars: 30 },
      }),
      label: labelSpecSchema.parse({ name: 'fwd_ret_5', kind: 'forward_return', horizon_bars: H }),
      featureGroups: [{ name: TECHNICAL.name, version: TECHNICAL.version, ttlMs: 5 * MINUTE }],
      source: { kind: 'curated', name: 'bars_1min', barMs: MINUTE },
    };

    // The bound: the forward return, the as-of join and the sorted Parquet write in one statement.
    const featureFiles = store.existingFiles(TECHNICAL.name, TECHNICAL.version, sessions.map((s) => s.date)).map((p) => p.file);
    const curatedRange = files.slice(1);
    const bound = join(bl.dir, 'bound.parquet');
    const boundSql = `COPY (
      SELECT l.symbol, l.ts, l.anchor_ts, l.fwd_ret_5, f.ts AS f_ts, f.available_ts AS f_available_ts, ${featureColumns.map((c) => `f.${c}`).join(', ')}
      FROM (SELECT symbol, ts, ts + INTERVAL 1 MINUTE AS anchor_ts, lead(close, ${H}) OVER w / close - 1 AS fwd_ret_5
            FROM read_parquet([${curatedRange.map(sqlString).join(', ')}]) WINDOW w AS (PARTITION BY symbol ORDER BY ts)) l
      ASOF LEFT JOIN read_parquet([${featureFiles.map(sqlString).join(', ')}]) f ON l.symbol = f.symbol AND l.anchor_ts >= f.available_ts
      ORDER BY l.symbol, l.ts) TO ${sqlString(bound)} (FORMAT parquet, COMPRESSION zstd)`;

    // ibpipe and bound interleaved, so a change in the machine's load hits both alike.
    const rss = new RssSampler();
    const times: number[] = [];
    const bounds: number[] = [];
    let written = 0;
    let peak = 0;
    for (let r = 0; r < REPS; r++) {
      rmSync(lake.path('datasets'), { recursive: true, force: true });
      rss.start();
      times.push(
        await timed(async () => {
          const h = await buildTrainingDataset(cfg, { lake, featureStore: store, calendars: benchCalendars(symbols) });
          written = h.manifest.rows.total;
        }),
      );
      peak = rss.stop();
      bounds.push(await timed(() => lake.run(boundSql)));
      progress(`dataset-build rep ${r + 1}: ${times.at(-1)?.toFixed(2)} s, ${written} rows; bound ${bounds.at(-1)?.toFixed(2)} s`);
    }
    const t = median(times);
    const tb = median(bounds);
    const ratio = tb / t;
    const result: BenchResult = {
      name: 'dataset-build',
      rows,
      rows_per_s: round(rows / t),
      bound_rows_per_s: round(rows / tb),
      ratio: round(ratio),
      peak_rss_mb: round(peak) ?? 0,
      target: '>= 0.5 of bound',
      met: ratio >= 0.5,
      notes:
        `${symbols.length} symbols x ${range.length} sessions of anchors (${written} rows written); ibpipe: buildTrainingDataset ` +
        `(labels by window functions, point-in-time join of 16 feature columns with TTL, drops by reason, 70/15/15 time split with embargo, ` +
        `sorted Parquet, manifest with the sha256 of ${files.length + featureFiles.length} source files); bound: one COPY of the forward return ASOF-joined to the features, sorted`,
      reps: REPS,
      seconds: round(t),
      bound_seconds: round(tb),
    };
    return [result];
  } finally {
    await bl.dispose();
  }
});
