import type { Settings } from '../config/settings.js';
import { dateLabelsBetween } from '../core/dates.js';
import { InputError } from '../core/errors.js';
import type { JobDefinition } from '../ops/job-definition.js';
import type { JobParams } from '../core/job.js';
import type { InstrumentCalendars } from '../calendar/instrument-calendars.js';
import type { FeatureStore } from '../storage/feature-store.js';
import { runFeaturePipeline, type FeaturePipelineResult } from '../pipelines/feature-pipeline.js';
import { featureGroupSchema, type FeatureGroup } from '../pipelines/features/feature-config.js';
import { resolveSourceDataset } from '../pipelines/source-dataset.js';

/** A group definition to compute and the version label to write it under. */
export interface ResolvedFeatureGroup {
  readonly group: FeatureGroup;
  readonly version: string;
  /** True when the definition was read back from the registry (an older version than the config's). */
  readonly fromRegistry: boolean;
}

/**
 * The group named `name` at `version`: the configured definition when `version` is absent or is
 * the configured one; otherwise the definition stored in the registry for that version, so an
 * older version can be recomputed (e.g. after a curated fix) without editing the config. Throws
 * InputError for an unknown group or a version that is neither.
 */
export function resolveFeatureGroup(
  settings: Pick<Settings, 'feature_groups'>,
  store: Pick<FeatureStore, 'registeredVersion'>,
  name: string,
  version?: string,
): ResolvedFeatureGroup {
  const configured = settings.feature_groups.find((g) => g.name === name);
  if (configured && (version === undefined || version === configured.version)) return { group: configured, version: configured.version, fromRegistry: false };
  const record = version === undefined ? undefined : store.registeredVersion(name, version);
  if (record && version !== undefined) {
    const def = record.definition as { source?: unknown; features?: unknown } | null;
    if (Array.isArray(def?.features) && def.features.some((f) => typeof f === 'object' && f !== null && 'module_sha256' in f)) {
      throw new InputError(`feature group ${name} version ${version}: its definition uses a custom module, of which the registry keeps only the content hash; configure that version (with the module) to recompute it`, {
        details: { group: name, version },
      });
    }
    const parsed = featureGroupSchema.safeParse({ name, version, source: def?.source, features: def?.features, ...(configured?.ttl !== undefined ? { ttl: configured.ttl } : {}) });
    if (!parsed.success) throw new InputError(`feature group ${name} version ${version}: the registry's definition cannot be read back`, { cause: parsed.error });
    return { group: parsed.data, version, fromRegistry: true };
  }
  if (!configured) {
    const known = settings.feature_groups.map((g) => g.name).join(', ') || 'none';
    throw new InputError(`no feature group named ${name} in feature_groups (configured: ${known})`, { details: { group: name } });
  }
  throw new InputError(`feature group ${name}: version ${version} is neither the configured version (${configured.version}) nor registered in the lake`, {
    details: { group: name, version },
  });
}

/** Session dates of `params` (`date`, or every session of the symbols' calendars in start..end). */
export function featureRunDates(params: Pick<JobParams, 'date' | 'start' | 'end'>, symbols: readonly string[], calendars: InstrumentCalendars): string[] {
  if (params.date !== undefined) {
    dateLabelsBetween(params.date, params.date);
    return [params.date];
  }
  if (params.start === undefined || params.end === undefined) throw new InputError('features needs --date D, or --start D and --end D');
  dateLabelsBetween(params.start, params.end);
  const dates = new Set<string>();
  for (const cal of new Set(symbols.map((s) => calendars.calendarFor(s)))) for (const s of cal.sessionsInRange(params.start, params.end)) dates.add(s.date);
  if (dates.size === 0) throw new InputError(`no trading session between ${params.start} and ${params.end}`);
  return [...dates].sort();
}

/**
 * `features` as a job: `ibpipe run features --config F (--date D | --start D --end D) [--group G]
 * [--version V] [--symbols A,B]`. A range is one pass per group (lookback read once); without
 * `--group` every configured group runs.
 */
export const featuresJob: JobDefinition = {
  kind: 'features',
  description: 'feature groups for a session date or a range, in one pass with lookback: curated/aligned bars → feature store',
  perDate: false,
  async run({ app, logger, signal, metrics }, params) {
    const groupName = typeof params['group'] === 'string' ? params['group'] : undefined;
    const version = typeof params['version'] === 'string' ? params['version'] : undefined;
    if (groupName === undefined && version !== undefined) throw new InputError('--version needs --group');
    const store = app.featureStore;
    const names = groupName !== undefined ? [groupName] : app.settings.feature_groups.map((g) => g.name);
    if (names.length === 0) throw new InputError('no feature_groups configured');
    const resolved = names.map((n) => resolveFeatureGroup(app.settings, store, n, version));
    const symbols = params.symbols ?? app.calendars.symbols();
    for (const s of symbols) app.calendars.calendarFor(s);
    const dates = featureRunDates(params, symbols, app.calendars);
    const results: FeaturePipelineResult[] = [];
    for (const { group, version: v, fromRegistry } of resolved) {
      const source = resolveSourceDataset(group.source, app.settings.alignments);
      const index = app.settings.feature_groups.findIndex((g) => g.name === group.name);
      const configPath = fromRegistry || index < 0 ? `feature group ${group.name} version ${v} (registry)` : `feature_groups[${index}]`;
      const result = await runFeaturePipeline(dates, symbols, group, v, { lake: app.lake, featureStore: store, logger, source, signal, batchRows: app.settings.lake.feature_batch_rows, configPath });
      metrics?.featureRevisions.labels(group.name, v).inc(result.revisions);
      results.push(result);
    }
    const sum = (f: (r: FeaturePipelineResult) => number): number => results.reduce((a, r) => a + f(r), 0);
    return {
      counts: {
        groups: results.length,
        dates: new Set(results.flatMap((r) => r.dates)).size,
        lookback_sessions: Math.max(0, ...results.map((r) => r.lookbackDates.length)),
        rows_read: sum((r) => r.rowsRead),
        rows_written: sum((r) => r.rowsWritten),
        feature_revisions: sum((r) => r.revisions),
      },
      summary: results,
    };
  },
};
