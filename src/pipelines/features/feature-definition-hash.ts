import { createHash } from 'node:crypto';
import { formatPath } from '../../core/config-path.js';
import { ConfigError } from '../../core/errors.js';
import { featureGroupSchema } from './feature-config.js';
import type { FeatureGroup, FeatureGroupInput } from './feature-config.js';

/** Bumped if the canonical form below ever changes, so old and new hashes never collide silently. */
export const FEATURE_DEFINITION_HASH_VERSION = 1;

/**
 * JSON with object keys sorted at every level, no whitespace, undefined members dropped and
 * -0 written as 0: equal values always give the same text.
 */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value === 'boolean' || typeof value === 'string') return JSON.stringify(value);
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) throw new TypeError(`canonicalJson: non-finite number ${value}`);
    return JSON.stringify(Object.is(value, -0) ? 0 : value);
  }
  if (Array.isArray(value)) return `[${value.map((v) => (v === undefined ? 'null' : canonicalJson(v))).join(',')}]`;
  if (typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
  }
  throw new TypeError(`canonicalJson: unsupported ${typeof value}`);
}

/**
 * The canonical text of what a group computes: its source and its feature specs with defaults
 * applied, sorted by feature name (YAML order and spelled-out defaults do not matter). The group
 * name and version are the registry's key, and `ttl` is a serving policy that changes no value,
 * so none of them is part of the definition.
 */
export function canonicalFeatureDefinition(group: FeatureGroupInput | FeatureGroup): string {
  const parsed = featureGroupSchema.safeParse(group);
  if (!parsed.success) {
    const issues = parsed.error.issues.map((i) => `${formatPath(i.path)}: ${i.message}`);
    const name = typeof (group as { name?: unknown }).name === 'string' ? (group as { name: string }).name : '(unnamed)';
    throw new ConfigError(`feature group ${name}: invalid definition\n${issues.join('\n')}`, issues);
  }
  const { source, features } = parsed.data;
  const sorted = [...features].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  return canonicalJson({ hash_version: FEATURE_DEFINITION_HASH_VERSION, source, features: sorted });
}

/** sha256 (hex) of {@link canonicalFeatureDefinition}: the value stored in the feature-group registry. */
export function featureDefinitionHash(group: FeatureGroupInput | FeatureGroup): string {
  return createHash('sha256').update(canonicalFeatureDefinition(group)).digest('hex');
}
