import { existsSync, readFileSync } from 'node:fs';
import { createServer, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { ManualClock, SystemClock, type Clock } from '../../src/core/clock.js';
import { RemoteServiceError, UpstreamMissingError } from '../../src/core/errors.js';
import { JobLedger } from '../../src/ops/job-ledger.js';
import { featureDefinitionHash } from '../../src/pipelines/features/feature-definition-hash.js';
import { parseScoringInstant, runBatchScoring, type BatchScoringConfig } from '../../src/scoring/batch-scoring.js';
import { featuresRunsFromLedger } from '../../src/jobs/score-job.js';
import { httpModelConfigSchema, type ModelConfig } from '../../src/scoring/scoring-config.js';
import type { FeatureStore } from '../../src/storage/feature-store.js';
import { PredictionStore } from '../../src/storage/prediction-store.js';
import { priceAt } from '../support/bar-factory.js';
import { BAR_MS, TECH_GROUP, featureStoreFor, writeCuratedDays, writeFeatureDays } from '../support/feature-lake.js';
import { openTempLake, type TempLake } from '../support/temp-lake.js';

const DAYS = ['2024-11-25', '2024-11-26'];
const DATE = '2024-11-26';
const OPEN = Date.parse('2024-11-26T14:30:00Z');
const PREV_CLOSE_BAR = Date.parse('2024-11-25T20:59:00Z');

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  await Promise.all(cleanups.splice(0).map((c) => c()));
});

interface ModelRequest {
  model: string;
  version: string;
  feature_names: string[];
  instances: number[][];
}

/** A model service on an ephemeral port; `handler` answers request n (1-based). */
async function serve(handler: (req: ModelRequest, n: number, res: ServerResponse) => void): Promise<{ url: string; requests: ModelRequest[] }> {
  const requests: ModelRequest[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as ModelRequest;
      requests.push(body);
      handler(body, requests.length, res);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  cleanups.push(
    () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  );
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/predict`, requests };
}

/** The service's model, written independently of ibpipe: 1000·ret_1 + sma_3 / 100. */
function linearAnswer(req: ModelRequest, res: ServerResponse): void {
  const r = req.feature_names.indexOf('ret_1');
  const s = req.feature_names.indexOf('sma_3');
  res.writeHead(200, { 'content-type': 'application/json' });
  res.end(JSON.stringify({ predictions: req.instances.map((x) => 1000 * x[r]! + x[s]! / 100) }));
}

/** The bar before `ts` in the regular XNYS sessions of 11-25 / 11-26 (closes 21:00Z, opens 14:30Z). */
function prevBar(ts: number): number {
  return ts === OPEN ? PREV_CLOSE_BAR : ts - BAR_MS;
}
function expectedScore(symbol: string, barTs: number): number {
  const c0 = priceAt(symbol, barTs);
  const c1 = priceAt(symbol, prevBar(barTs));
  const c2 = priceAt(symbol, prevBar(prevBar(barTs)));
  return 1000 * (c0 / c1 - 1) + (c0 + c1 + c2) / 3 / 100;
}

async function setup(o: { skip?: (s: string, ts: number) => boolean } = {}): Promise<{ t: TempLake; store: FeatureStore; predictions: PredictionStore }> {
  const t = await openTempLake();
  cleanups.push(() => t.cleanup());
  const store = featureStoreFor(t);
  const rows = await writeCuratedDays(t, ['AAPL', 'MSFT'], DAYS);
  await writeFeatureDays(t, store, rows, DAYS, o.skip ? { skip: o.skip } : {});
  return { t, store, predictions: new PredictionStore(t.lake) };
}

function httpModel(url: string, over: Record<string, unknown> = {}): ModelConfig {
  return httpModelConfigSchema.parse({
    name: 'remote-lin',
    kind: 'http',
    url,
    version: '2024.11',
    features: ['ret_1', 'sma_3'],
    feature_group: 'tech',
    feature_version: 'v1',
    backoff_ms: 5,
    retries: 2,
    ...over,
  });
}

function cfg(model: ModelConfig, over: Partial<BatchScoringConfig> = {}): BatchScoringConfig {
  return { model, date: DATE, symbols: ['AAPL', 'MSFT'], barMs: BAR_MS, ttlMs: 5 * BAR_MS, runId: 'run-1', ...over };
}

function deps(s: { t: TempLake; store: FeatureStore; predictions: PredictionStore }, clock: Clock, extra: { jobLedger?: JobLedger } = {}) {
  const featuresRuns = extra.jobLedger ? { featuresRuns: featuresRunsFromLedger(extra.jobLedger) } : {};
  return { lake: s.t.lake, featureStore: s.store, predictionStore: s.predictions, calendars: s.t.calendars, clock, ...featuresRuns };
}

describe('runBatchScoring', () => {
  it('scores every bar close of the date so far through an HTTP model and stores full metadata', async () => {
    const s = await setup();
    const srv = await serve((req, _n, res) => linearAnswer(req, res));
    const clock = new ManualClock(Date.parse('2024-11-26T15:00:30Z'));
    const result = await runBatchScoring(cfg(httpModel(srv.url)), deps(s, clock));
    // Bar closes 14:31 … 15:00 have passed: 30 instants x 2 symbols.
    expect(result.instants).toBe(30);
    expect(result.counts).toEqual({ rows: 60, scored: 60, stale: 0, missing: 0, incomplete: 0 });
    expect(srv.requests).toHaveLength(1);
    expect(srv.requests[0]).toMatchObject({ model: 'remote-lin', version: '2024.11', feature_names: ['ret_1', 'sma_3'] });
    const rows = await s.predictions.readPredictions('remote-lin', DATE);
    expect(rows).toHaveLength(60);
    for (const r of rows) {
      // At close T the freshest row is the bar that just closed: started T − 1 bar, available at T.
      expect(r).toMatchObject({
        status: 'ok',
        reason: null,
        model: 'remote-lin',
        model_id: 'remote-lin',
        model_version: '2024.11',
        feature_group: 'tech',
        feature_version: 'v1',
        feature_definition_hash: featureDefinitionHash(TECH_GROUP),
        feature_ts: r.ts - BAR_MS,
        feature_available_ts: r.ts,
        feature_age_ms: 0,
        feature_is_imputed: false,
        run_id: 'run-1',
        scored_at: clock.now(),
      });
      expect(r.score).toBeCloseTo(expectedScore(r.symbol, r.ts - BAR_MS), 9);
    }
    expect(rows[0]).toMatchObject({ symbol: 'AAPL', ts: OPEN + BAR_MS });
    expect(result.file).toBe(s.t.lake.path('predictions', 'remote-lin', `date=${DATE}`, 'data.parquet'));

    // Live on a schedule: only the latest close so far, merged into the day.
    await clock.advance(60_000);
    const latest = await runBatchScoring(cfg(httpModel(srv.url), { latestOnly: true, runId: 'run-live' }), deps(s, clock));
    expect([latest.instants, latest.counts.scored]).toEqual([1, 2]);
    const after = await s.predictions.readPredictions('remote-lin', DATE);
    expect(after).toHaveLength(62);
    expect(after.filter((r) => r.run_id === 'run-live').map((r) => new Date(r.ts).toISOString())).toEqual(['2024-11-26T15:01:00.000Z', '2024-11-26T15:01:00.000Z']);
  });

  it('at an explicit instant uses the row available then (never the bar still forming), and merges into the day', async () => {
    const s = await setup({ skip: (sym, ts) => sym === 'MSFT' && ts >= Date.parse('2024-11-26T15:50:00Z') });
    const srv = await serve((req, _n, res) => linearAnswer(req, res));
    const clock = new SystemClock();
    await runBatchScoring(cfg(httpModel(srv.url), { at: [parseScoringInstant('2024-11-26T15:00:00Z')] }), deps(s, clock));
    const at = parseScoringInstant('2024-11-26T11:00:30-05:00'); // 16:00:30Z
    const result = await runBatchScoring(cfg(httpModel(srv.url), { at: [at], runId: 'run-2' }), deps(s, clock));
    expect(result.counts).toEqual({ rows: 2, scored: 1, stale: 1, missing: 0, incomplete: 0 });
    const rows = await s.predictions.readPredictions('remote-lin', DATE);
    expect(rows.map((r) => [r.symbol, new Date(r.ts).toISOString(), r.run_id])).toEqual([
      ['AAPL', '2024-11-26T15:00:00.000Z', 'run-1'],
      ['AAPL', '2024-11-26T16:00:30.000Z', 'run-2'],
      ['MSFT', '2024-11-26T15:00:00.000Z', 'run-1'],
      ['MSFT', '2024-11-26T16:00:30.000Z', 'run-2'],
    ]);
    const aapl = rows[1]!;
    // 16:00:30: the 15:59 bar (available 16:00) is the latest; the 16:00 bar is still forming.
    expect([aapl.feature_ts, aapl.feature_available_ts, aapl.feature_age_ms]).toEqual([Date.parse('2024-11-26T15:59:00Z'), Date.parse('2024-11-26T16:00:00Z'), 30_000]);
    expect(aapl.score).toBeCloseTo(expectedScore('AAPL', Date.parse('2024-11-26T15:59:00Z')), 9);
    // MSFT's last row is the 15:49 bar (available 15:50): 10.5 min old, over the 5-min TTL.
    const msft = rows[3]!;
    expect(msft).toMatchObject({ status: 'stale', score: null, feature_ts: Date.parse('2024-11-26T15:49:00Z'), feature_age_ms: 630_000 });
    expect(msft.reason).toBe('latest feature row is 630000 ms old (ttl 300000 ms)');
    // Only the complete row went to the model.
    expect(srv.requests.at(-1)!.instances).toHaveLength(1);
  });

  it('scores only bar closes whose bar has a feature row: an intraday partition ends at each symbol\'s newest final bar', async () => {
    // MSFT's features stop at the 15:49 bar (its later bars have not arrived); AAPL's run to 15:59.
    const s = await setup({ skip: (sym, ts) => ts >= Date.parse('2024-11-26T16:00:00Z') || (sym === 'MSFT' && ts >= Date.parse('2024-11-26T15:50:00Z')) });
    const srv = await serve((req, _n, res) => linearAnswer(req, res));
    const clock = new ManualClock(Date.parse('2024-11-26T16:00:30Z'));
    const latest = await runBatchScoring(cfg(httpModel(srv.url), { latestOnly: true }), deps(s, clock));
    expect(latest.counts).toEqual({ rows: 2, scored: 2, stale: 0, missing: 0, incomplete: 0 });
    const rows = await s.predictions.readPredictions('remote-lin', DATE);
    // Each scored at its newest bar's close with that bar's own row, never the clock's latest close with an older row.
    expect(rows.map((r) => [r.symbol, new Date(r.ts).toISOString(), new Date(r.feature_ts as number).toISOString(), r.feature_age_ms])).toEqual([
      ['AAPL', '2024-11-26T16:00:00.000Z', '2024-11-26T15:59:00.000Z', 0],
      ['MSFT', '2024-11-26T15:50:00.000Z', '2024-11-26T15:49:00.000Z', 0],
    ]);
    const all = await runBatchScoring(cfg(httpModel(srv.url), { runId: 'run-all' }), deps(s, clock));
    // 14:31 … 16:00 for AAPL (90 closes), 14:31 … 15:50 for MSFT (80).
    expect(all.counts).toEqual({ rows: 170, scored: 170, stale: 0, missing: 0, incomplete: 0 });
  });

  it('records missing and incomplete (NULL feature) rows without scoring them', async () => {
    const s = await setup();
    const srv = await serve((req, _n, res) => linearAnswer(req, res));
    // 11-25 14:31: the series' first bar has no return and no 3-bar mean yet. SPY has no features at all.
    const at = Date.parse('2024-11-25T14:31:00Z');
    const result = await runBatchScoring(cfg(httpModel(srv.url), { date: '2024-11-25', at: [at], symbols: ['AAPL', 'SPY'] }), deps(s, new SystemClock()));
    expect(result.counts).toEqual({ rows: 2, scored: 0, stale: 0, missing: 1, incomplete: 1 });
    expect(srv.requests).toHaveLength(0);
    const rows = await s.predictions.readPredictions('remote-lin', '2024-11-25');
    expect(rows.map((r) => [r.symbol, r.status, r.score, r.reason])).toEqual([
      ['AAPL', 'incomplete', null, 'NULL feature(s): ret_1, sma_3 (warm-up or missing input)'],
      ['SPY', 'missing', null, 'no feature row of tech v1 available at this instant'],
    ]);
  });

  it('retries a 500 and stores the scores of the 200', async () => {
    const s = await setup();
    const srv = await serve((req, n, res) => {
      if (n === 1) {
        res.writeHead(500, { 'content-type': 'text/plain' });
        res.end('warming up');
        return;
      }
      linearAnswer(req, res);
    });
    const result = await runBatchScoring(cfg(httpModel(srv.url), { at: [Date.parse('2024-11-26T15:00:00Z')] }), deps(s, new SystemClock()));
    expect(srv.requests).toHaveLength(2);
    expect(srv.requests[1]!.instances).toEqual(srv.requests[0]!.instances);
    expect(result.counts.scored).toBe(2);
    const rows = await s.predictions.readPredictions('remote-lin', DATE);
    expect(rows.map((r) => r.score)).toEqual([expect.closeTo(expectedScore('AAPL', Date.parse('2024-11-26T14:59:00Z')), 9), expect.closeTo(expectedScore('MSFT', Date.parse('2024-11-26T14:59:00Z')), 9)]);
  });

  it('fails the run on a garbage answer and leaves the stored predictions exactly as they were', async () => {
    const s = await setup();
    const good = await serve((req, _n, res) => linearAnswer(req, res));
    await runBatchScoring(cfg(httpModel(good.url), { at: [Date.parse('2024-11-26T15:00:00Z')] }), deps(s, new SystemClock()));
    const file = s.predictions.partitionFile('remote-lin', DATE);
    const before = readFileSync(file);
    const garbage = await serve((_req, _n, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end('{"predictions": [0.1, "NaN"]}');
    });
    const err = await runBatchScoring(cfg(httpModel(garbage.url), { at: [Date.parse('2024-11-26T15:30:00Z')], runId: 'bad' }), deps(s, new SystemClock())).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RemoteServiceError);
    expect((err as Error).message).toMatch(/sent a bad response: predictions\[1\] is "NaN", expected a finite number/);
    expect(garbage.requests).toHaveLength(1); // not retried: asking again will not fix it
    expect(readFileSync(file).equals(before)).toBe(true);
    // A first run that fails writes no file at all.
    const err2 = await runBatchScoring(cfg(httpModel(garbage.url, { name: 'other' }), { at: [Date.parse('2024-11-26T15:30:00Z')] }), deps(s, new SystemClock())).catch((e: unknown) => e);
    expect(err2).toBeInstanceOf(RemoteServiceError);
    expect(existsSync(s.predictions.partitionFile('other', DATE))).toBe(false);
  });

  it('refuses when the feature partition of the date is missing, or the latest features run failed', async () => {
    const s = await setup();
    const srv = await serve((req, _n, res) => linearAnswer(req, res));
    const err = await runBatchScoring(cfg(httpModel(srv.url), { date: '2024-11-27', at: [Date.parse('2024-11-27T15:00:00Z')] }), deps(s, new SystemClock())).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UpstreamMissingError);
    expect((err as Error).message).toBe(
      'cannot score model remote-lin for 2024-11-27: the feature partition features/tech/v=v1/date=2024-11-27/data.parquet is missing; run `ibpipe run features --date 2024-11-27 --group tech` first',
    );
    expect(srv.requests).toHaveLength(0);
    expect(existsSync(s.predictions.partitionFile('remote-lin', '2024-11-27'))).toBe(false);

    const clock = new ManualClock(Date.parse('2024-11-26T22:00:00Z'));
    const ledger = new JobLedger(s.t.lake, clock);
    const ok = ledger.start('features', 'features', { date: DATE, group: 'tech' }, 'manual', 1, null);
    ledger.finish(ok, 'ok');
    // A failed run of another group does not matter.
    ledger.finish(ledger.start('features', 'features', { date: DATE, group: 'other' }, 'manual', 1, null), 'failed', {}, new Error('boom'));
    const scored = await runBatchScoring(cfg(httpModel(srv.url), { at: [Date.parse('2024-11-26T15:00:00Z')] }), deps(s, clock, { jobLedger: ledger }));
    expect(scored.counts.scored).toBe(2);
    await clock.advance(1000);
    ledger.finish(ledger.start('features-nightly', 'features', { start: '2024-11-25', end: '2024-11-26' }, 'schedule', 1, null), 'failed', {}, new Error('DuckDB out of memory'));
    const refused = await runBatchScoring(cfg(httpModel(srv.url), { at: [Date.parse('2024-11-26T15:00:00Z')] }), deps(s, clock, { jobLedger: ledger })).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(UpstreamMissingError);
    expect((refused as Error).message).toMatch(/the latest features run for 2024-11-26 \(features-nightly, run .+\) failed \(DuckDB out of memory\)/);
  });
});

