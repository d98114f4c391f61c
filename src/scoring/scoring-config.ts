import { z } from 'zod';
import { specOutputColumns, type FeatureGroup } from '../pipelines/features/feature-config.js';

/** Model names become a directory under predictions/. */
const MODEL_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

const common = {
  name: z.string().regex(MODEL_NAME, 'must match ^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$ (it becomes a directory)'),
  /** The feature group (and its version) whose rows the model scores. */
  feature_group: z.string().min(1),
  feature_version: z.string().min(1),
};

/**
 * A model file on disk (linear-model.ts format); id, version and feature names come from the
 * file. A relative path is resolved against the config file's directory.
 */
export const localModelConfigSchema = z
  .object({
    ...common,
    kind: z.literal('local'),
    path: z.string().min(1),
  })
  .strict();

/** A model served over HTTP (http-model.ts protocol); id is `name`, the version is declared here. */
export const httpModelConfigSchema = z
  .object({
    ...common,
    kind: z.literal('http'),
    url: z.url({ protocol: /^https?$/, error: 'expected an http:// or https:// URL' }),
    /** Version of the served model, stored with every prediction. */
    version: z.string().min(1),
    /** Feature columns sent to the service, in this order. */
    features: z.array(z.string().min(1)).min(1, 'at least one feature is required'),
    /** Per request attempt, including reading the response body. */
    timeout_ms: z.number().int().min(1).max(600_000).default(10_000),
    /** Further attempts after the first, on 5xx / 408 / 429, connection errors and timeouts. */
    retries: z.number().int().min(0).max(20).default(3),
    /** First retry delay; doubles each attempt up to max_backoff_ms. */
    backoff_ms: z.number().int().min(0).default(250),
    max_backoff_ms: z.number().int().min(0).default(10_000),
    /** Rows per request. */
    batch_size: z.number().int().min(1).max(100_000).default(1_000),
    /** Extra request headers, e.g. an Authorization token. */
    headers: z.record(z.string(), z.string()).optional(),
  })
  .strict();

export const modelConfigSchema = z.discriminatedUnion('kind', [localModelConfigSchema, httpModelConfigSchema]);
export type ModelConfig = z.infer<typeof modelConfigSchema>;
export type LocalModelConfig = z.infer<typeof localModelConfigSchema>;
export type HttpModelConfig = z.infer<typeof httpModelConfigSchema>;

export const modelsConfigSchema = z
  .array(modelConfigSchema)
  .default([])
  .superRefine((models, ctx) => {
    const seen = new Map<string, number>();
    models.forEach((m, i) => {
      const prev = seen.get(m.name);
      if (prev !== undefined) ctx.addIssue({ code: 'custom', path: [i, 'name'], message: `duplicate model ${m.name} (also models[${prev}])` });
      seen.set(m.name, i);
    });
  });

/**
 * Cross-slice checks: a model's feature group is declared, and an HTTP model's features are
 * columns that group produces when the configured version is the one the model pins (an older
 * pinned version is checked against the store at scoring time).
 */
export function scoringReferenceIssues(cfg: {
  readonly models: readonly ModelConfig[];
  readonly feature_groups: readonly FeatureGroup[];
}): { path: (string | number)[]; message: string }[] {
  const groups = new Map(cfg.feature_groups.map((g) => [g.name, g]));
  const issues: { path: (string | number)[]; message: string }[] = [];
  cfg.models.forEach((m, i) => {
    const group = groups.get(m.feature_group);
    if (!group) {
      issues.push({ path: ['models', i, 'feature_group'], message: `no feature group named ${m.feature_group} in feature_groups` });
      return;
    }
    if (m.kind !== 'http' || group.version !== m.feature_version) return;
    const columns = new Set(group.features.flatMap(specOutputColumns));
    m.features.forEach((f, j) => {
      if (!columns.has(f)) issues.push({ path: ['models', i, 'features', j], message: `${f} is not a column of feature group ${group.name} ${group.version}` });
    });
  });
  return issues;
}
