import { formatPath } from '../core/config-path.js';
import { IbpipeError } from '../core/errors.js';
import type { Settings } from './settings.js';

/**
 * Loads every user module a valid config names, the way a run would load it — custom feature
 * functions (`feature_groups[].features[]` with `fn: custom`) and module sources
 * (`sources[]` with `type: module`) — and returns each failure as `path: message`, in config
 * order; empty when all load. Modules are imported, never called: a source's factory and a
 * feature function run only in a real run. The loaders are imported only when the config names a
 * module, so checking a config without any stays as light as before.
 */
export async function userModuleIssues(settings: Readonly<Settings>): Promise<string[]> {
  const issues: string[] = [];
  const failure = (path: readonly PropertyKey[], err: unknown): string => {
    // Only the loaders' own typed errors are a config problem; anything else is a bug and surfaces.
    if (!(err instanceof IbpipeError)) throw err;
    return `${formatPath(path)}: ${err.message}`;
  };

  const customs = settings.feature_groups.flatMap((g, gi) => g.features.flatMap((spec, fi) => (spec.fn === 'custom' ? [{ spec, path: ['feature_groups', gi, 'features', fi, 'module'] }] : [])));
  if (customs.length > 0) {
    const { loadCustomFeatures } = await import('../pipelines/features/custom-feature.js');
    for (const { spec, path } of customs) {
      try {
        await loadCustomFeatures([spec]);
      } catch (err) {
        issues.push(failure(path, err));
      }
    }
  }

  const sources = settings.sources.flatMap((s, i) => (s.type === 'module' ? [{ s, path: ['sources', i, 'module'] }] : []));
  if (sources.length > 0) {
    const { loadSourceFactory } = await import('../data-sources/module-ingestor.js');
    for (const { s, path } of sources) {
      try {
        await loadSourceFactory(s, s.name);
      } catch (err) {
        issues.push(failure(path, err));
      }
    }
  }
  return issues;
}
