import type { FeatureGroup } from '../pipelines/features/feature-config.js';

/**
 * TTL of a feature group without a configured `ttl`, in bars of its source: a row up to five
 * bars old still counts as current (a late live bar or a slow features run), an older one is
 * stale. Training and scoring use the same rule, so a model is trained on what it is served.
 */
export const DEFAULT_FEATURE_TTL_BARS = 5;

/** The group's TTL in ms: its `ttl` (seconds) when set, else {@link DEFAULT_FEATURE_TTL_BARS} bars. */
export function featureTtlMs(group: Pick<FeatureGroup, 'ttl'> | undefined, barMs: number): number {
  if (group?.ttl !== undefined) return Math.round(group.ttl * 1000);
  return DEFAULT_FEATURE_TTL_BARS * barMs;
}
