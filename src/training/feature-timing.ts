import { frequencyMs } from '../core/bars.js';
import { ConfigError } from '../core/errors.js';
import type { FeatureGroup } from '../pipelines/features/feature-config.js';

/** Bar length of a curated dataset named `bars_<frequency>` (e.g. `bars_1min` → 60 000). */
export function barMsOfDataset(dataset: string): number {
  const m = /^bars_(.+)$/.exec(dataset);
  try {
    if (m) return frequencyMs(m[1] as string);
  } catch {
    // fall through to the error below
  }
  throw new ConfigError(`cannot tell the bar length of dataset ${dataset}: expected bars_<frequency>, e.g. bars_1min`, [
    `feature_groups: source ${dataset} is not a curated bars_<frequency> dataset`,
  ]);
}

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
