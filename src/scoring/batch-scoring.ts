import { relative, sep } from 'node:path';
import type { InstrumentCalendars } from '../calendar/instrument-calendars.js';
import type { Clock } from '../core/clock.js';
import { ConfigError, InputError, RemoteServiceError, UpstreamMissingError } from '../core/errors.js';
import { assertInstrumentKey } from '../core/instruments.js';
import { silentLogger, type Logger } from '../core/logger.js';
import type { FeatureStore, InferenceFeatureRow } from '../storage/feature-store.js';
import type { Lake } from '../storage/lake.js';
import type { PredictionRow, PredictionStore } from '../storage/prediction-store.js';
import { createModel } from './models/model-factory.js';
import type { FeatureRow, Model } from './models/model.js';
import type { ModelConfig } from './scoring-config.js';

const DATE = /^\d{4}-\d{2}-\d{2}$/;

export interface BatchScoringConfig {
  /** The `models[]` entry: its name is the predictions folder, its feature group and version are what is scored. */
  readonly model: ModelConfig;
  /** Session date scored, YYYY-MM-DD (each symbol's own calendar). */
  readonly date: string;
  /** Symbols to score; default every configured instrument. */
  readonly symbols?: readonly string[];
  /**
   * Scoring instants (epoch ms). Default: every bar close of each symbol's session on `date`
   * (bar start + bar length) up to the clock's now and up to the close of the symbol's newest
   * feature row of the date: an intraday partition ends at each symbol's newest final bar, and a
   * close after it would be scored with an older row than a later run gives it.
   */
  readonly at?: readonly number[];
  /** Without `at`: only each symbol's latest such close (live scoring). */
  readonly latestOnly?: boolean;
  /** Bar length of the feature group's source, for the default instants. */
  readonly barMs: number;
  /** A feature row older than this at the instant is stale: no score. */
  readonly ttlMs: number;
  /** Stored with every prediction (the job ledger's run id). */
  readonly runId: string;
}

export interface BatchScoringDeps {
  readonly lake: Lake;
  readonly featureStore: FeatureStore;
  readonly predictionStore: PredictionStore;
  readonly calendars: InstrumentCalendars;
  readonly clock: Clock;
  readonly logger?: Logger;
  /** When given, the latest features run recorded for the date must not have failed (or be running). */
  readonly featuresRuns?: FeaturesRunLookup;
  /** The model to call; default createModel(cfg.model). */
  readonly model?: Model;
  readonly signal?: AbortSignal;
}

/** The latest run of the features job over a group and date, as far as scoring needs it. */
export interface FeaturesRunStatus {
  /** The job's name (`features`, `features-nightly`, …). */
  readonly job: string;
  readonly runId: string;
  readonly status: 'running' | 'ok' | 'failed' | 'abandoned';
  /** First line of the failure, if any. */
  readonly error: string | null;
}

/**
 * The port through which scoring learns whether the features behind a date were left in doubt:
 * the score job answers it from the job ledger, so this stage never reads the daemon's state.
 */
export interface FeaturesRunLookup {
  /** The latest non-skipped features run whose group is `group` (or all groups) and whose dates cover `date`. */
  latestFeaturesRun(group: string, date: string): FeaturesRunStatus | undefined;
}

export interface BatchScoringResult {
  readonly model: string;
  readonly model_id: string;
  readonly model_version: string;
  readonly date: string;
  readonly run_id: string;
  /** The predictions file, or null when there was nothing to score. */
  readonly file: string | null;
  readonly instants: number;
  readonly counts: { rows: number; scored: number; stale: number; missing: number; incomplete: number };
}

/** Parses `--at`: an ISO 8601 instant with a zone (`2024-11-26T15:00:00Z`, `…-05:00`) or epoch ms. */
export function parseScoringInstant(value: string): number {
  const v = value.trim();
  if (/^\d{10,16}$/.test(v)) return Number(v);
  if (!/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,3})?)?(Z|[+-]\d{2}:\d{2})$/.test(v)) {
    throw new InputError(`--at: expected an ISO 8601 instant with a zone (e.g. 2024-11-26T15:00:00Z) or epoch ms, got ${JSON.stringify(value)}`);
  }
  const ms = Date.parse(v);
  if (Number.isNaN(ms)) throw new InputError(`--at: ${JSON.stringify(value)} is not a valid instant`);
  return ms;
}

/**
 * Checks that what scoring reads exists for the date: the feature group version is registered,
 * its partition for the date is in the lake, and (with `featuresRuns`) the latest `features` run
 * recorded for the date and group did not fail and is not still running. Throws
 * UpstreamMissingError naming what is missing.
 */
export function checkScoringUpstream(
  cfg: Pick<BatchScoringConfig, 'model' | 'date'>,
  deps: Pick<BatchScoringDeps, 'lake' | 'featureStore' | 'featuresRuns'>,
): void {
  const { feature_group: group, feature_version: version } = cfg.model;
  const what = `model ${cfg.model.name} for ${cfg.date}`;
  const hint = `run \`ibpipe run features --date ${cfg.date} --group ${group}\` first`;
  if (!deps.featureStore.registeredVersion(group, version)) {
    throw new UpstreamMissingError(`cannot score ${what}: feature group ${group} version ${version} has never been written; ${hint}`, {
      details: { model: cfg.model.name, group, version, date: cfg.date },
    });
  }
  const file = deps.featureStore.partitionFile(group, version, cfg.date);
  if (deps.featureStore.existingFiles(group, version, [cfg.date]).length === 0) {
    const rel = relative(deps.lake.root, file).split(sep).join('/');
    throw new UpstreamMissingError(`cannot score ${what}: the feature partition ${rel} is missing; ${hint}`, {
      details: { model: cfg.model.name, group, version, date: cfg.date, partition: rel },
    });
  }
  const last = deps.featuresRuns?.latestFeaturesRun(group, cfg.date);
  if (last && (last.status === 'failed' || last.status === 'running' || last.status === 'abandoned')) {
    const state = last.status === 'running' ? 'is still running' : `${last.status}${last.error ? ` (${last.error})` : ''}`;
    throw new UpstreamMissingError(`cannot score ${what}: the latest features run for ${cfg.date} (${last.job}, run ${last.runId}) ${state}; the partition may be out of date`, {
      details: { model: cfg.model.name, group, version, date: cfg.date, features_run_id: last.runId, features_status: last.status },
    });
  }
}

/**
 * Scores one session date with one model (DESIGN §6, §7):
 * 1. refuses with UpstreamMissingError when the features for the date are not there (see
 *    {@link checkScoringUpstream}); nothing is triggered implicitly;
 * 2. for every scoring instant (by default each bar close so far whose bar has a feature row),
 *    asks the feature store for each symbol's latest feature row with `available_ts <= instant`
 *    (getFeaturesForInference, TTL `ttlMs`);
 * 3. calls the model once with every complete row; a missing or stale row, or a row with a NULL
 *    in one of the model's features, gets no score but a stored `status` and `reason` — a score
 *    is never computed from NULLs;
 * 4. writes all rows (scored or not) to `predictions/<model>/date=<date>/data.parquet` in one
 *    atomic merge. If the model fails (an HTTP error after retries, a bad response, a score that
 *    is not a finite number) the run throws and nothing is written.
 */
export async function runBatchScoring(cfg: BatchScoringConfig, deps: BatchScoringDeps): Promise<BatchScoringResult> {
  if (!DATE.test(cfg.date)) throw new InputError(`date must be YYYY-MM-DD, got ${JSON.stringify(cfg.date)}`);
  const logger = (deps.logger ?? silentLogger()).child({ component: 'batch-scoring', model: cfg.model.name, date: cfg.date });
  const { feature_group: group, feature_version: version } = cfg.model;
  checkScoringUpstream(cfg, deps);
  const record = deps.featureStore.registeredVersion(group, version);
  if (!record) throw new UpstreamMissingError(`feature group ${group} version ${version} has never been written`);

  const model = deps.model ?? createModel(cfg.model, { clock: deps.clock, ...(deps.logger ? { logger: deps.logger } : {}) });
  const unknown = model.featureNames.filter((f) => !record.columns.includes(f));
  if (unknown.length > 0) {
    throw new ConfigError(`model ${cfg.model.name} needs feature(s) ${unknown.join(', ')} that ${group} ${version} does not have (it has ${record.columns.join(', ')})`, [
      `models: ${cfg.model.name} expects columns missing from feature group ${group} ${version}: ${unknown.join(', ')}`,
    ]);
  }

  const symbols = [...new Set(cfg.symbols && cfg.symbols.length > 0 ? cfg.symbols : deps.calendars.symbols())].sort();
  for (const s of symbols) {
    assertInstrumentKey(s);
    deps.calendars.calendarFor(s);
  }
  // Instant → symbols scored at it.
  const plan = new Map<number, string[]>();
  if (cfg.at && cfg.at.length > 0) {
    for (const t of cfg.at) {
      if (!Number.isFinite(t)) throw new InputError(`scoring instant must be epoch ms, got ${String(t)}`);
      plan.set(Math.trunc(t), [...symbols]);
    }
  } else {
    const now = deps.clock.now();
    // The default instants are in the date's session: its partition, read once into typed
    // arrays, answers both how far each symbol's rows go and every lookup below.
    await deps.featureStore.preloadPartition(group, version, cfg.date);
    const newest = await deps.featureStore.newestRowStarts(group, version, cfg.date, symbols);
    for (const s of symbols) {
      const session = deps.calendars.calendarFor(s).session(cfg.date);
      const last = newest.get(s);
      if (!session || last === undefined) continue;
      const closes = deps.calendars
        .calendarFor(s)
        .expectedBarStarts(session, cfg.barMs)
        .map((start) => start + cfg.barMs)
        .filter((close) => close <= now && close <= last + cfg.barMs);
      for (const close of cfg.latestOnly ? closes.slice(-1) : closes) {
        const list = plan.get(close) ?? [];
        list.push(s);
        plan.set(close, list);
      }
    }
  }
  const instants = [...plan.keys()].sort((a, b) => a - b);
  const base = {
    model: cfg.model.name,
    model_id: model.id,
    model_version: model.version,
    date: cfg.date,
    run_id: cfg.runId,
  };
  if (instants.length === 0) {
    logger.warn('no scoring instants: the date has no session for these symbols, or none of its bars has closed and been curated yet');
    return { ...base, file: null, instants: 0, counts: { rows: 0, scored: 0, stale: 0, missing: 0, incomplete: 0 } };
  }

  // Read the date's partition once into typed arrays (a no-op when it is already cached), so each
  // lookup of an instant in its session is a binary search in memory rather than a query.
  await deps.featureStore.preloadPartition(group, version, cfg.date);
  const lookups: InferenceFeatureRow[] = [];
  for (const t of instants) {
    deps.signal?.throwIfAborted();
    lookups.push(...(await deps.featureStore.getFeaturesForInference(group, version, t, plan.get(t) as string[], cfg.ttlMs)));
  }

  const scoredAt = deps.clock.now();
  const counts = { rows: lookups.length, scored: 0, stale: 0, missing: 0, incomplete: 0 };
  const rows: (Omit<PredictionRow, 'score'> & { score: number | null })[] = [];
  const candidates: { index: number; row: FeatureRow }[] = [];
  for (const l of lookups) {
    let status: PredictionRow['status'] = l.status;
    let reason: string | null = null;
    if (l.status === 'missing') {
      reason = `no feature row of ${group} ${version} available at this instant`;
    } else if (l.status === 'stale') {
      reason = `latest feature row is ${l.age_ms} ms old (ttl ${cfg.ttlMs} ms)`;
    } else {
      const nulls = model.featureNames.filter((f) => typeof l.features[f] !== 'number' || !Number.isFinite(l.features[f]));
      if (nulls.length > 0) {
        status = 'incomplete';
        reason = `NULL feature(s): ${nulls.join(', ')} (warm-up or missing input)`;
      }
    }
    counts[status === 'ok' ? 'scored' : status]++;
    const row = {
      symbol: l.symbol,
      ts: l.as_of,
      score: null,
      status,
      reason,
      ...base,
      feature_group: group,
      feature_version: version,
      feature_definition_hash: record.definition_hash,
      feature_ts: l.ts,
      feature_available_ts: l.available_ts,
      feature_age_ms: l.age_ms,
      feature_is_imputed: l.is_imputed,
      scored_at: scoredAt,
    };
    if (status === 'ok') candidates.push({ index: rows.length, row: { symbol: l.symbol, ts: l.as_of, ...l.features } });
    rows.push(row);
  }

  if (candidates.length > 0) {
    const scores = await model.predict(
      candidates.map((c) => c.row),
      deps.signal,
    );
    if (scores.length !== candidates.length) {
      throw new RemoteServiceError(`model ${cfg.model.name} returned ${scores.length} scores for ${candidates.length} rows; nothing was stored`, false, { code: 'MODEL_BAD_OUTPUT' });
    }
    candidates.forEach((c, i) => {
      const s = scores[i];
      if (typeof s !== 'number' || !Number.isFinite(s)) {
        throw new RemoteServiceError(`model ${cfg.model.name} returned a non-finite score (${String(s)}) for ${c.row['symbol']} at ${new Date(c.row['ts'] as number).toISOString()}; nothing was stored`, false, {
          code: 'MODEL_BAD_OUTPUT',
        });
      }
      (rows[c.index] as { score: number | null }).score = s;
    });
  }

  deps.signal?.throwIfAborted();
  await deps.predictionStore.writePredictions(cfg.model.name, cfg.date, rows as PredictionRow[]);
  const file = deps.predictionStore.partitionFile(cfg.model.name, cfg.date);
  logger.info({ run_id: cfg.runId, instants: instants.length, counts, model_version: model.version }, 'predictions written');
  return { ...base, file, instants: instants.length, counts };
}
