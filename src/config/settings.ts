import { readFileSync } from 'node:fs';
import { dirname, isAbsolute, resolve } from 'node:path';
import { parseDocument } from 'yaml';
import { z } from 'zod';
import { deepFreeze } from '../core/deep-freeze.js';
import { ConfigError } from '../core/errors.js';
import { sourcesConfigSchema } from '../data-sources/sources-config.js';
import { twsConfigSchema } from '../data-sources/tws/tws-config.js';
import { dqRulesConfigSchema, gapsConfigSchema } from '../data-quality/dq-config.js';
import { loggingConfigSchema } from '../ops/logging-config.js';
import { daemonConfigSchema, httpConfigSchema, jobsConfigSchema } from '../ops/ops-config.js';
import { alignmentsConfigSchema } from '../pipelines/alignment-config.js';
import { barDatasetReferenceIssues, barDatasetsConfigSchema } from '../pipelines/bar-datasets.js';
import { featureGroupsConfigSchema } from '../pipelines/features/feature-config.js';
import { modelsConfigSchema, scoringReferenceIssues } from '../scoring/scoring-config.js';
import { simConfigSchema } from '../sim/sim-config.js';
import { lakeConfigSchema } from '../storage/lake-config.js';
import { datasetsConfigSchema, labelsConfigSchema, trainingReferenceIssues } from '../training/training-config.js';
import { calendarsConfigSchema, instrumentConfigSchema, timeSeriesConfigSchema } from './instrument-config.js';

/** The root schema: one slice per module, composed here and nowhere else. */
export const settingsSchema = z
  .object({
    lake: lakeConfigSchema.default({ root: './data', memory_limit: '2GB', threads: 2, feature_batch_rows: 1_000_000 }),
    tws: twsConfigSchema.default(twsConfigSchema.parse({})),
    sources: sourcesConfigSchema.default([]),
    time_series: timeSeriesConfigSchema.default(timeSeriesConfigSchema.parse({})),
    calendars: calendarsConfigSchema.default({ extra_closures: {} }),
    instruments: z.array(instrumentConfigSchema).min(1, 'at least one instrument is required'),
    dq_rules: dqRulesConfigSchema,
    gaps: gapsConfigSchema.default(gapsConfigSchema.parse({})),
    bar_datasets: barDatasetsConfigSchema,
    alignments: alignmentsConfigSchema,
    feature_groups: featureGroupsConfigSchema,
    labels: labelsConfigSchema,
    datasets: datasetsConfigSchema,
    models: modelsConfigSchema,
    jobs: jobsConfigSchema,
    http: httpConfigSchema.default(httpConfigSchema.parse({})),
    daemon: daemonConfigSchema.default(daemonConfigSchema.parse({})),
    logging: loggingConfigSchema.default(loggingConfigSchema.parse({})),
    sim: simConfigSchema,
  })
  .strict()
  .superRefine((cfg, ctx) => {
    const seen = new Map<string, number>();
    cfg.instruments.forEach((inst, i) => {
      const prev = seen.get(inst.key);
      if (prev !== undefined) {
        ctx.addIssue({ code: 'custom', path: ['instruments', i, 'key'], message: `duplicate key ${inst.key} (also instruments[${prev}])` });
      }
      seen.set(inst.key, i);
    });
    for (const issue of barDatasetReferenceIssues(cfg)) ctx.addIssue({ code: 'custom', ...issue });
    for (const issue of trainingReferenceIssues(cfg)) ctx.addIssue({ code: 'custom', ...issue });
    for (const issue of scoringReferenceIssues(cfg)) ctx.addIssue({ code: 'custom', ...issue });
  });

export type Settings = z.infer<typeof settingsSchema>;

/** Where a Settings object came from; paths in it are already resolved. */
export interface LoadedSettings {
  readonly settings: Readonly<Settings>;
  readonly file: string | null;
}

export const ENV_PREFIX = 'IBPIPE_';

/** Formats a zod path as `instruments[2].key`. */
export function formatPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const seg of path) {
    if (typeof seg === 'number') out += `[${seg}]`;
    else out += out === '' ? String(seg) : `.${String(seg)}`;
  }
  return out === '' ? '(root)' : out;
}

function issuesOf(error: z.ZodError): string[] {
  return error.issues.map((iss) => {
    if (iss.code === 'unrecognized_keys') {
      return iss.keys.map((k) => `${formatPath([...iss.path, k])}: unknown key`).join('\n');
    }
    return `${formatPath(iss.path)}: ${iss.message}`;
  }).flatMap((s) => s.split('\n'));
}

/**
 * Applies IBPIPE_A__B=value overrides onto a raw config object. Values are parsed as YAML
 * scalars, so `IBPIPE_TWS__PORT=4001` is a number.
 */
export function applyEnvOverrides(raw: Record<string, unknown>, env: Readonly<Record<string, string | undefined>>): Map<string, string> {
  const applied = new Map<string, string>();
  for (const [name, value] of Object.entries(env)) {
    if (!name.startsWith(ENV_PREFIX) || value === undefined) continue;
    const path = name.slice(ENV_PREFIX.length).toLowerCase().split('__').filter(Boolean);
    if (path.length === 0) continue;
    let node: Record<string, unknown> = raw;
    for (const seg of path.slice(0, -1)) {
      const next = node[seg];
      if (typeof next !== 'object' || next === null || Array.isArray(next)) node[seg] = {};
      node = node[seg] as Record<string, unknown>;
    }
    node[path[path.length - 1] as string] = documentToJs(parseDocument(value), `environment variable ${name}`);
    applied.set(path.join('.'), name);
  }
  return applied;
}

/** Validates an already-parsed config object; throws ConfigError listing every problem. */
export function parseSettings(raw: unknown, source = 'config', baseDir = process.cwd()): Readonly<Settings> {
  const result = settingsSchema.safeParse(raw);
  if (!result.success) {
    const issues = issuesOf(result.error);
    throw new ConfigError(`${source}: ${issues.length} problem(s)\n${issues.join('\n')}`, issues);
  }
  const cfg = result.data;
  if (!isAbsolute(cfg.lake.root)) cfg.lake.root = resolve(baseDir, cfg.lake.root);
  for (const m of cfg.models) if (m.kind === 'local' && !isAbsolute(m.path)) m.path = resolve(baseDir, m.path);
  return deepFreeze(cfg);
}

/**
 * How many times aliases may be expanded in one document (the yaml library's own default, named
 * here): a config has no need for more, and a "billion laughs" document needs far more.
 */
export const MAX_YAML_ALIAS_COUNT = 100;

/** A parsed document as plain JS; alias bombs and unresolved aliases become a ConfigError. */
function documentToJs(doc: ReturnType<typeof parseDocument>, source: string): unknown {
  try {
    return doc.toJS({ maxAliasCount: MAX_YAML_ALIAS_COUNT });
  } catch (err) {
    // The library reports both as ReferenceError; nothing else in toJS throws one.
    if (!(err instanceof ReferenceError)) throw err;
    const issue = /excessive alias count/i.test(err.message)
      ? `${source}: YAML aliases expand more than ${MAX_YAML_ALIAS_COUNT} times (an alias bomb?); write the values out or use fewer anchors`
      : `${source}: ${err.message}`;
    throw new ConfigError(issue, [issue], { cause: err });
  }
}

/** Reads YAML text into a plain object, reporting syntax errors with line and column. */
export function parseYaml(text: string, source: string): Record<string, unknown> {
  const doc = parseDocument(text, { prettyErrors: true });
  if (doc.errors.length > 0) {
    const issues = doc.errors.map((e) => {
      const pos = e.linePos?.[0];
      return `${source}${pos ? `:${pos.line}:${pos.col}` : ''}: ${e.message.split('\n')[0]}`;
    });
    throw new ConfigError(`${source}: invalid YAML\n${issues.join('\n')}`, issues);
  }
  const js: unknown = documentToJs(doc, source) ?? {};
  if (typeof js !== 'object' || js === null || Array.isArray(js)) {
    throw new ConfigError(`${source}: expected a mapping at the top level`, ['(root): expected a mapping']);
  }
  return js as Record<string, unknown>;
}

/**
 * Loads one YAML file plus environment overrides, validates it once and freezes it.
 * Only the CLI edge calls this; modules receive their slice.
 */
export function loadSettings(file: string, env: Readonly<Record<string, string | undefined>> = {}): LoadedSettings {
  const path = resolve(file);
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new ConfigError(`${path}: cannot read config file`, [`${path}: cannot read (${(err as Error).message})`], { cause: err });
  }
  const raw = parseYaml(text, path);
  const fromEnv = applyEnvOverrides(raw, env);
  try {
    return { settings: parseSettings(raw, path, dirname(path)), file: path };
  } catch (err) {
    if (!(err instanceof ConfigError) || fromEnv.size === 0) throw err;
    // Say which problems an environment variable caused: the file alone would look fine.
    const issues = err.issues.map((issue) => {
      const at = issue.slice(0, issue.indexOf(':')).replace(/\[(\d+)\]/g, '.$1');
      const source = [...fromEnv.entries()].find(([p]) => at === p || at.startsWith(`${p}.`));
      return source ? `${issue} (set by environment variable ${source[1]})` : issue;
    });
    throw new ConfigError(`${path}: ${issues.length} problem(s)\n${issues.join('\n')}`, issues, { cause: err });
  }
}

/** JSON Schema of the config file, for editors. */
export function settingsJsonSchema(): unknown {
  return z.toJSONSchema(settingsSchema, { io: 'input', unrepresentable: 'any' });
}
