import { randomUUID } from 'node:crypto';
import { ConfigError, InputError } from '../core/errors.js';
import type { JobDefinition } from '../ops/job-definition.js';
import { JobLedger } from '../ops/job-ledger.js';
import { PredictionStore } from '../storage/prediction-store.js';
import { resolveSourceDataset } from '../pipelines/source-dataset.js';
import { featureTtlMs } from '../training/feature-timing.js';
import { checkScoringUpstream, runBatchScoring, type BatchScoringConfig, type BatchScoringResult, type FeaturesRunLookup } from '../scoring/batch-scoring.js';

/** Scoring's view of the features runs, answered from the job ledger. */
export function featuresRunsFromLedger(ledger: JobLedger): FeaturesRunLookup {
  return {
    latestFeaturesRun(group, date) {
      const last = ledger
        .runs()
        .filter((r) => r.kind === 'features' && r.status !== 'skipped')
        .filter((r) => r.params.group === undefined || r.params.group === group)
        .filter((r) => r.params.date === date || (r.params.start !== undefined && r.params.end !== undefined && r.params.start <= date && date <= r.params.end))
        .at(-1);
      if (!last || last.status === 'skipped') return undefined;
      return { job: last.job, runId: last.run_id, status: last.status, error: last.error ? (last.error.message.split('\n')[0] ?? '') : null };
    },
  };
}

/**
 * `score` as a job (`ibpipe run score --config F --date D [--at T] [--model M]`): scores the
 * date with every configured model (or `params.model`). Every model's upstream is checked
 * before any is scored, so a refusal stores nothing. Params: `date` (required), `at` (epoch ms,
 * optional), `latest` (true: only the latest bar close so far, for a schedule during the
 * session), `model`, `symbols`.
 */
export const scoreJob: JobDefinition = {
  kind: 'score',
  description: 'batch scoring: features at each bar close (or --at) → model → predictions/<model>/date=…, with model and feature versions',
  perDate: true,
  async run({ app, logger, signal, runId }, params) {
    if (!params.date) throw new InputError('score needs a session date (--date)');
    const wanted = typeof params['model'] === 'string' ? params['model'] : undefined;
    const models = app.settings.models.filter((m) => wanted === undefined || m.name === wanted);
    if (models.length === 0) {
      throw new InputError(
        wanted === undefined ? 'no models configured: add a models: entry (see `ibpipe train`)' : `no model named ${wanted} in models (configured: ${app.settings.models.map((m) => m.name).join(', ') || 'none'})`,
      );
    }
    const featureStore = app.featureStore;
    const featuresRuns = featuresRunsFromLedger(new JobLedger(app.lake, app.clock));
    const id = runId ?? randomUUID();
    const configs: BatchScoringConfig[] = models.map((model) => {
      const group = app.settings.feature_groups.find((g) => g.name === model.feature_group);
      if (!group) throw new ConfigError(`model ${model.name}: no feature group named ${model.feature_group}`, [`models: feature group ${model.feature_group} is not in feature_groups`]);
      const barMs = resolveSourceDataset(group.source, app.settings.alignments).barMs;
      return {
        model,
        date: params.date as string,
        ...(params.symbols ? { symbols: params.symbols } : {}),
        ...(typeof params.at === 'number' ? { at: [params.at] } : {}),
        ...(params['latest'] === true ? { latestOnly: true } : {}),
        barMs,
        ttlMs: featureTtlMs(group, barMs),
        runId: id,
      };
    });
    for (const cfg of configs) checkScoringUpstream(cfg, { lake: app.lake, featureStore, featuresRuns });
    const predictionStore = new PredictionStore(app.lake);
    const results: BatchScoringResult[] = [];
    for (const cfg of configs) {
      results.push(await runBatchScoring(cfg, { lake: app.lake, featureStore, predictionStore, calendars: app.calendars, clock: app.clock, logger, featuresRuns, signal }));
    }
    const counts = { models: results.length, rows: 0, scored: 0, stale: 0, missing: 0, incomplete: 0 };
    for (const r of results) for (const k of ['rows', 'scored', 'stale', 'missing', 'incomplete'] as const) counts[k] += r.counts[k];
    return { counts, summary: results };
  },
};
