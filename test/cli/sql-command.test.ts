import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BACKFILL_LEDGER } from '../../src/data-sources/tws/backfill-ledger.js';
import { PredictionStore } from '../../src/storage/prediction-store.js';
import { makeBars } from '../support/bar-factory.js';
import { runCli } from '../support/child.js';
import { featureStoreFor, writeCuratedDays, writeFeatureDays } from '../support/feature-lake.js';
import { openTempLake, type TempLake } from '../support/temp-lake.js';

const DATE = '2024-11-26';
const OPEN = Date.parse('2024-11-26T14:30:00Z');
let t: TempLake;
let config: string;

/** Every file and folder under the lake with a hash of its bytes: "unchanged" means this is equal. */
function snapshot(root: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (dir: string): void => {
    for (const name of readdirSync(dir).sort()) {
      const p = join(dir, name);
      const st = statSync(p);
      if (st.isDirectory()) {
        out[`${relative(root, p)}/`] = 'dir';
        walk(p);
      } else out[relative(root, p)] = `${st.size}:${createHash('sha256').update(readFileSync(p)).digest('hex')}`;
    }
  };
  walk(root);
  return out;
}

/** Runs commands with at most two child processes at a time (the machine has two cores). */
async function runAll(argvs: string[][]): Promise<Array<{ code: number | null; stdout: string; stderr: string }>> {
  const results: Array<{ code: number | null; stdout: string; stderr: string }> = new Array(argvs.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < argvs.length) {
      const i = next++;
      results[i] = await runCli(argvs[i] as string[]);
    }
  };
  await Promise.all([worker(), worker()]);
  return results;
}

beforeAll(async () => {
  t = await openTempLake();
  await t.raw.writeTwsBars(makeBars('AAPL', OPEN, OPEN + 30 * 60_000), 'b1', 1);
  const curated = await writeCuratedDays(t, ['AAPL'], [DATE]);
  await writeFeatureDays(t, featureStoreFor(t), curated, [DATE]);
  await new PredictionStore(t.lake).writePredictions('m1', DATE, [
    {
      symbol: 'AAPL', ts: OPEN, score: 0.5, status: 'ok', reason: null, model: 'm1', model_id: 'id', model_version: '1', feature_group: 'tech', feature_version: 'v1',
      feature_definition_hash: 'h', feature_ts: OPEN, feature_available_ts: OPEN + 60_000, feature_age_ms: 0, feature_is_imputed: false, run_id: 'r', scored_at: OPEN,
    },
  ]);
  writeFileSync(t.lake.path('state', 'job_runs.jsonl'), '{"run_id":"r1","job":"transform","status":"ok"}\n');
  writeFileSync(t.lake.path('state', 'dq_results.jsonl'), `{"date":"${DATE}","severity":"ok"}\n`);
  writeFileSync(t.lake.path('state', BACKFILL_LEDGER), '{"type":"window","instrument":"AAPL","status":"ok","bars":390}\n');
  writeFileSync(t.lake.path('state', 'source_watermarks.jsonl'), '{"source":"pg","watermark":1}\n');
  await t.lake.close();
  config = join(t.dir, 'config.yaml');
  writeFileSync(config, `lake: { root: ${t.dir} }\ninstruments:\n  - { key: AAPL, sec_type: STK, symbol: AAPL, exchange: SMART, currency: USD, calendar: XNYS }\n`);
});
afterAll(() => rmSync(t.dir, { recursive: true, force: true }));

describe('ibpipe sql is read-only and confined to the lake (real child processes)', () => {
  it('refuses writes, attaches, extensions, settings and files outside the lake with exit 2; the lake stays byte-for-byte the same', async () => {
    const partition = t.lake.path('curated', 'bars_1min', `date=${DATE}`, 'data.parquet');
    const ledger = t.lake.path('state', 'job_runs.jsonl');
    const cases: Array<[string, RegExp]> = [
      [`COPY (SELECT 1 AS close) TO '${partition}' (FORMAT parquet)`, /^error \[INPUT_INVALID\]: refused: COPY/],
      [`COPY (SELECT 'x' AS job) TO '${ledger}' (FORMAT json)`, /^error \[INPUT_INVALID\]: refused: COPY/],
      [`SELECT * FROM read_csv('/etc/passwd')`, /^error \[INPUT_INVALID\]: refused: \/etc\/passwd is outside the lake root/],
      [`ATTACH '${t.dir}/x.db'`, /refused: ATTACH/],
      [`CREATE TABLE t AS SELECT * FROM raw_bars`, /refused: CREATE/],
      [`DROP VIEW raw_bars`, /refused: DROP/],
      [`INSTALL httpfs`, /refused: INSTALL and LOAD/],
      [`LOAD parquet`, /refused: INSTALL and LOAD/],
      [`SET enable_external_access = true`, /refused: SET/],
      [`SELEC * FROM raw_bars`, /^error \[INPUT_INVALID\]: SQL error: Parser Error: syntax error at or near "SELEC"/],
    ];
    const before = snapshot(t.dir);
    const results = await runAll(cases.map(([q]) => ['sql', '--config', config, '--format', 'json', q]));
    results.forEach((r, i) => {
      const [query, reason] = cases[i] as [string, RegExp];
      expect({ query, code: r.code, stdout: r.stdout }).toEqual({ query, code: 2, stdout: '' });
      expect(r.stderr, query).toMatch(reason);
      // Refusals are one line; a SQL error may add DuckDB's caret lines.
      if (!/SQL error/.test(r.stderr)) expect(r.stderr.trim().split('\n'), query).toHaveLength(1);
    });
    expect(snapshot(t.dir)).toEqual(before);
    expect(existsSync(join(t.dir, 'x.db'))).toBe(false);
  });

  it('ordinary SELECTs over every view and over lake files still work', async () => {
    const views = ['raw_bars', 'curated_bars', 'features_tech', 'predictions', 'job_runs', 'dq_results', 'backfill_ledger', 'raw_batches', 'source_watermarks', 'feature_registry'];
    const counts = views.map((v) => `(SELECT count(*) FROM ${v}) AS ${v}`).join(', ');
    const partition = t.lake.path('curated', 'bars_1min', `date=${DATE}`, 'data.parquet');
    const r = await runCli(['sql', '--config', config, '--format', 'json', `SELECT ${counts}, (SELECT count(*) FROM read_parquet('${partition}')) AS partition_file`]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    // 30 raw bars; one regular session of curated bars and features (390); one prediction; one line per ledger.
    expect(JSON.parse(r.stdout)).toEqual([
      {
        raw_bars: 30, curated_bars: 390, features_tech: 390, predictions: 1, job_runs: 1, dq_results: 1, backfill_ledger: 1, raw_batches: 1, source_watermarks: 1, feature_registry: 1,
        partition_file: 390,
      },
    ]);
  });
});
