import { createHash } from 'node:crypto';
import { canonicalJson } from '../../core/canonical-json.js';
import { formatPath } from '../../core/config-path.js';
import { ConfigError } from '../../core/errors.js';
import { featureGroupSchema } from './feature-config.js';
import type { FeatureGroup, FeatureGroupInput } from './feature-config.js';

/** Bumped if the canonical form below ever changes, so old and new hashes never collide silently. */
export const FEATURE_DEFINITION_HASH_VERSION = 1;

export { canonicalJson };

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
