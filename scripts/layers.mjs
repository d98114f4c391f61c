// The layering of src/, checked by `npm run lint` (scripts/check-layers.mjs and the per-folder
// no-restricted-imports rules in eslint.config.js, both generated from this table).
//
// Data flows down DESIGN §2's picture: core ← calendar ← storage ← data-quality / data-sources ←
// pipelines ← training ← scoring ← jobs ← ops ← cli. The simulator depends only on core and
// calendar. config composes every module's schema slice, so it sits above the stages and below
// the jobs, ops and the CLI; no stage imports it (each is handed its slice). jobs/ (the `*-job.ts`
// wrappers that bind a stage to the app context) and ops/ may import each other: ops/job-table.ts
// lists the jobs, and the jobs use the app context and job ledger; file-level cycles stay banned.

/** Folder under src/ → the folders (besides itself) its files may import. */
export const LAYERS = {
  core: [],
  calendar: ['core'],
  storage: ['core', 'calendar'],
  'data-quality': ['core', 'calendar', 'storage'],
  'data-sources': ['core', 'calendar', 'storage'],
  sim: ['core', 'calendar'],
  pipelines: ['core', 'calendar', 'storage', 'data-quality', 'data-sources'],
  training: ['core', 'calendar', 'storage', 'data-quality', 'pipelines'],
  scoring: ['core', 'calendar', 'storage', 'data-quality', 'pipelines', 'training'],
  config: ['core', 'calendar', 'storage', 'data-quality', 'data-sources', 'sim', 'pipelines', 'training', 'scoring', 'ops'],
  jobs: ['core', 'calendar', 'storage', 'data-quality', 'data-sources', 'pipelines', 'training', 'scoring', 'config', 'ops'],
  ops: ['core', 'calendar', 'storage', 'data-quality', 'data-sources', 'sim', 'pipelines', 'training', 'scoring', 'jobs', 'config'],
  cli: ['core', 'calendar', 'storage', 'data-quality', 'data-sources', 'sim', 'pipelines', 'training', 'scoring', 'jobs', 'ops', 'config'],
};

/**
 * Imports that still run the wrong way, each with the reason it is not fixed yet. The check fails
 * on any wrong-way import not listed here, and on a listed one that no longer exists (so the list
 * only shrinks). `from` and `to` are paths under src/.
 */
export const KNOWN_BREAKS = [];

/** File-level import cycles not broken yet, each as the sorted list of its files (the check fails on any other). */
export const KNOWN_CYCLES = [];
