import { createHash } from 'node:crypto';
import { canonicalJson } from '../../core/canonical-json.js';
import { formatPath } from '../../core/config-path.js';
import { ConfigError } from '../../core/errors.js';
import { featureModuleSha256 } from './custom-feature.js';
import { featureGroupSchema } from './feature-config.js';
import type { FeatureGroup, FeatureGroupInput } from './feature-config.js';

/** Bumped if the canonical form below ever changes, so old and new hashes never collide silently. */
export const FEATURE_DEFINITION_HASH_VERSION = 1;

export { canonicalJson };

/**
 * The canonical text of what a group computes: its source and its feature specs with defaults
 * applied, sorted by feature name (YAML order and spelled-out defaults do not matter). The group
 * name and version are the registry's key, and `ttl` is a serving policy that changes no value,
 * so none of them is part of the definition. A custom feature's module counts by its content
 * (`module_sha256`, read now), not its path: editing the file changes the definition, moving the
 * checkout does not.
 */
export function canonicalFeatureDefinition(group: FeatureGroupInput | FeatureGroup, moduleHashes?: Readonly<Record<string, string>>): string {
  const parsed = featureGroupSchema.safeParse(group);
  if (!parsed.success) {
    const issues = parsed.error.issues.map((i) => `${formatPath(i.path)}: ${i.message}`);
    const name = typeof (group as { name?: unknown }).name === 'string' ? (group as { name: string }).name : '(unnamed)';
    throw new ConfigError(`feature group ${name}: invalid definition\n${issues.join('\n')}`, issues);
  }
  const { source, features } = parsed.data;
  const sorted = [...features]
    .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))
    .map((spec) => {
      if (spec.fn !== 'custom') return spec;
      const { module: _path, ...rest } = spec;
      return { ...rest, module_sha256: moduleHashes?.[spec.module] ?? featureModuleSha256(spec) };
    });
  return canonicalJson({ hash_version: FEATURE_DEFINITION_HASH_VERSION, source, features: sorted });
}

/**
 * sha256 (hex) of {@link canonicalFeatureDefinition}: the value stored in the feature-group
 * registry. `moduleHashes` (path → sha256) are the module contents a run computes with; absent,
 * the files are read now.
 */
export function featureDefinitionHash(group: FeatureGroupInput | FeatureGroup, moduleHashes?: Readonly<Record<string, string>>): string {
  return createHash('sha256').update(canonicalFeatureDefinition(group, moduleHashes)).digest('hex');
}
