import { existsSync, readdirSync } from 'node:fs';
import { sqlIdent, sqlString } from '../core/sql.js';
import { Lake } from './lake.js';
import type { RawStore } from './raw-store.js';
import { STATE_LEDGERS } from './state-ledgers.js';
import { CURATED_BARS } from './tables/curated-bars.js';
import { RAW_BARS } from './tables/raw-bars.js';

const STATE_VIEWS: Record<string, string> = Object.fromEntries(
  Object.values(STATE_LEDGERS).flatMap(({ file, view }) => (view === null ? [] : [[view, file]])),
);

function dateDirs(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .filter((d) => /^date=\d{4}-\d{2}-\d{2}$/.test(d))
    .sort();
}

/**
 * Creates the read-only views `ibpipe sql` and the dashboard query: raw_bars (committed batches
 * only), curated_bars, one per curated dataset (`curated_<dataset>`), `aligned_<name>`, `features_<group>`,
 * predictions and the state ledgers. Each view names the exact files it reads.
 */
export async function createLakeViews(lake: Lake, rawStore: RawStore): Promise<string[]> {
  const views: string[] = [];
  const rawFiles = [...rawStore.visibleFiles('1 min').values()].flat();
  await lake.run(
    `CREATE OR REPLACE VIEW raw_bars AS SELECT * FROM ${Lake.parquetRelation(rawFiles, RAW_BARS.withPartitions)}`,
  );
  views.push('raw_bars');
  // The other bar datasets' raw partitions (bar_size=1d, bar_size=1min-bid): raw_bars_1d, raw_bars_1min_bid.
  for (const [token, files] of rawStore.visibleFilesByPartition()) {
    if (token === '1min' || !/^[a-z0-9-]+$/.test(token) || files.length === 0) continue;
    const name = `raw_bars_${token.replaceAll('-', '_')}`;
    await lake.run(`CREATE OR REPLACE VIEW ${sqlIdent(name)} AS SELECT * FROM ${Lake.parquetRelation(files, RAW_BARS.withPartitions)}`);
    views.push(name);
  }

  const curatedRoot = lake.path('curated');
  const datasets = existsSync(curatedRoot) ? readdirSync(curatedRoot).filter((d) => /^[a-z][a-z0-9_]*$/.test(d)).sort() : [];
  for (const ds of datasets.length ? datasets : ['bars_1min']) {
    const files = dateDirs(lake.path('curated', ds))
      .map((d) => lake.path('curated', ds, d, 'data.parquet'))
      .filter((f) => existsSync(f));
    const name = ds === 'bars_1min' ? 'curated_bars' : `curated_${ds}`;
    await lake.run(`CREATE OR REPLACE VIEW ${sqlIdent(name)} AS SELECT * FROM ${Lake.parquetRelation(files, CURATED_BARS.withPartitions)}`);
    views.push(name);
  }

  const alignedRoot = lake.path('aligned');
  if (existsSync(alignedRoot)) {
    for (const name of readdirSync(alignedRoot).filter((d) => /^[a-z][a-z0-9_]*$/.test(d)).sort()) {
      const files = dateDirs(lake.path('aligned', name))
        .map((d) => lake.path('aligned', name, d, 'data.parquet'))
        .filter((f) => existsSync(f));
      if (files.length === 0) continue;
      await lake.run(`CREATE OR REPLACE VIEW ${sqlIdent(`aligned_${name}`)} AS SELECT * FROM ${Lake.parquetRelation(files, [])}`);
      views.push(`aligned_${name}`);
    }
  }

  const featRoot = lake.path('features');
  if (existsSync(featRoot)) {
    for (const group of readdirSync(featRoot).filter((g) => /^[A-Za-z0-9_]+$/.test(g)).sort()) {
      const files: string[] = [];
      for (const v of readdirSync(lake.path('features', group)).filter((x) => /^v=[A-Za-z0-9._-]+$/.test(x))) {
        for (const d of dateDirs(lake.path('features', group, v))) {
          const f = lake.path('features', group, v, d, 'data.parquet');
          if (existsSync(f)) files.push(f);
        }
      }
      if (files.length === 0) continue;
      const name = `features_${group}`;
      await lake.run(`CREATE OR REPLACE VIEW ${sqlIdent(name)} AS SELECT * FROM ${Lake.parquetRelation(files, [])}`);
      views.push(name);
    }
  }

  const predRoot = lake.path('predictions');
  const predFiles: string[] = [];
  if (existsSync(predRoot)) {
    for (const model of readdirSync(predRoot).filter((m) => /^[A-Za-z0-9._-]+$/.test(m))) {
      for (const d of dateDirs(lake.path('predictions', model))) {
        const f = lake.path('predictions', model, d, 'data.parquet');
        if (existsSync(f)) predFiles.push(f);
      }
    }
  }
  if (predFiles.length > 0) {
    await lake.run(`CREATE OR REPLACE VIEW predictions AS SELECT * FROM ${Lake.parquetRelation(predFiles, [])}`);
    views.push('predictions');
  }

  for (const [view, file] of Object.entries(STATE_VIEWS)) {
    const path = lake.path('state', file);
    if (!existsSync(path)) continue;
    await lake.run(`CREATE OR REPLACE VIEW ${sqlIdent(view)} AS SELECT * FROM read_json_auto(${sqlString(path)}, format = 'newline_delimited', ignore_errors = true)`);
    views.push(view);
  }
  return views;
}
