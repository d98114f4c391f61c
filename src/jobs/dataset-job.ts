import type { Settings } from '../config/settings.js';
import { ConfigError, InputError } from '../core/errors.js';
import type { JobDefinition } from '../ops/job-definition.js';
import { featureDefinitionHash } from '../pipelines/features/feature-definition-hash.js';
import { buildTrainingDataset, type DatasetBuildConfig } from '../training/dataset-builder.js';
import { datasetSpecSchema } from '../training/training-config.js';
import { resolveSourceDataset } from '../pipelines/source-dataset.js';
import { featureTtlMs } from '../training/feature-timing.js';

/**
 * The build config of `datasets[name]`: its label, its feature groups with their TTL (the same
 * rule as scoring) and, when the configured group is at the pinned version, the definition hash
 * the stored version must have. Labels come from the groups' source dataset.
 */
export function datasetBuildConfigFrom(settings: Pick<Settings, 'datasets' | 'labels' | 'feature_groups' | 'alignments'>, name: string | undefined): DatasetBuildConfig {
  let dataset;
  if (name === undefined) {
    if (settings.datasets.length !== 1) {
      throw new InputError(`name the dataset to build (--name): configured datasets are ${settings.datasets.map((d) => d.name).join(', ') || '(none)'}`);
    }
    dataset = settings.datasets[0];
  } else {
    dataset = settings.datasets.find((d) => d.name === name);
    if (!dataset) throw new InputError(`no dataset named ${name} in datasets (configured: ${settings.datasets.map((d) => d.name).join(', ') || 'none'})`);
  }
  if (!dataset) throw new InputError('no datasets configured');
  const label = settings.labels.find((l) => l.name === dataset.label);
  if (!label) throw new ConfigError(`dataset ${dataset.name}: no label named ${dataset.label}`, [`datasets: label ${dataset.label} is not in labels`]);
  const groups = dataset.feature_groups.map((ref) => {
    const group = settings.feature_groups.find((g) => g.name === ref.name);
    if (!group) throw new ConfigError(`dataset ${dataset.name}: no feature group named ${ref.name}`, [`datasets: feature group ${ref.name} is not in feature_groups`]);
    return { ref, group };
  });
  const sources = [...new Set(groups.map((g) => g.group.source))];
  if (sources.length !== 1) {
    throw new ConfigError(`dataset ${dataset.name}: its feature groups read different sources (${sources.join(', ')}); labels need one bar series`, [
      `datasets: feature groups of ${dataset.name} must share one source`,
    ]);
  }
  const source = resolveSourceDataset(sources[0] as string, settings.alignments);
  return {
    dataset,
    label,
    source,
    featureGroups: groups.map(({ ref, group }) => ({
      name: ref.name,
      version: ref.version,
      ttlMs: featureTtlMs(group, source.barMs),
      ...(group.version === ref.version ? { configDefinitionHash: featureDefinitionHash(group) } : {}),
    })),
  };
}

/**
 * The config with its anchor range replaced by `--start/--end` (either may be given), checked
 * again as a whole (split cutoffs must still fall inside the range). The manifest records the
 * range actually built, so the id tells the builds apart.
 */
export function withRange(cfg: DatasetBuildConfig, start: string | undefined, end: string | undefined): DatasetBuildConfig {
  if (start === undefined && end === undefined) return cfg;
  const parsed = datasetSpecSchema.safeParse({ ...cfg.dataset, start: start ?? cfg.dataset.start, end: end ?? cfg.dataset.end });
  if (!parsed.success) {
    const issues = parsed.error.issues.map((i) => `datasets.${cfg.dataset.name}.${i.path.join('.')}: ${i.message}`);
    throw new InputError(`--start/--end: ${issues.join('; ')}`, { details: { issues } });
  }
  return { ...cfg, dataset: parsed.data };
}

/**
 * `dataset` as a job (`ibpipe run dataset --config F --name N [--start D --end D | --date D]`):
 * builds `datasets[name]` over its configured date range, or the one given. The summary is the
 * dataset handle (id, path, manifest).
 */
export const datasetJob: JobDefinition = {
  kind: 'dataset',
  description: 'training dataset: labels joined point-in-time to features, filtered, split by time, written with a manifest',
  perDate: false,
  async run({ app, logger }, params) {
    const name = typeof params['name'] === 'string' ? params['name'] : undefined;
    const cfg = withRange(datasetBuildConfigFrom(app.settings, name), params.start ?? params.date, params.end ?? params.date);
    const handle = await buildTrainingDataset(cfg, {
      lake: app.lake,
      featureStore: app.featureStore,
      calendars: app.calendars,
      logger,
    });
    const m = handle.manifest;
    const dropped = Object.values(m.dropped).reduce((a, b) => a + b, 0);
    return {
      counts: { rows: m.rows.total, dropped, ...(m.rows.by_split ?? {}), missing_partitions: m.missing_partitions.length },
      summary: { id: handle.id, path: handle.path, manifest: m },
      display: { dataset_id: handle.id },
    };
  },
};
