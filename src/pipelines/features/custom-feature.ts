import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { InputError } from '../../core/errors.js';
import { typeScriptLoadIssue } from '../../core/user-module.js';
import type { FeatureSpec, SpecOf } from './feature-config.js';
import type { SessionKeys } from './session-keys.js';

/** What a custom feature function is called with: one symbol's series (README "Custom features"). */
export interface CustomFeatureArgs {
  /** The spec's `inputs`, each a copy of the column (NaN = NULL), of length `length`. */
  readonly inputs: Readonly<Record<string, Float64Array>>;
  /** Indices where a trading session starts (always 0 first: the first bar given). */
  readonly sessionStarts: Int32Array;
  /** The spec's `params`. */
  readonly params: Readonly<Record<string, unknown>>;
  /** Bars in the series: every returned array has this length. */
  readonly length: number;
}

/**
 * The contract of a module's exported function: synchronous and pure, returns one Float64Array
 * of `length` per declared output; value i may depend only on inputs at indices <= i and on at
 * most `lookback_bars` bars before i.
 */
export type CustomFeatureFunction = (args: CustomFeatureArgs) => Record<string, Float64Array>;

type CustomSpec = SpecOf<'custom'>;

/** sha256 (hex) of a module file's bytes; InputError naming the feature when it cannot be read. */
export function featureModuleSha256(spec: Pick<CustomSpec, 'name' | 'module'>): string {
  let bytes: Buffer;
  try {
    bytes = readFileSync(spec.module);
  } catch (err) {
    throw new InputError(`feature ${spec.name}: cannot read module ${spec.module} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`, {
      cause: err,
      details: { feature: spec.name, module: spec.module },
    });
  }
  return createHash('sha256').update(bytes).digest('hex');
}

/** The sha256 of every custom spec's module, by path. */
export function featureModuleHashes(specs: readonly FeatureSpec[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const s of specs) if (s.fn === 'custom') out[s.module] ??= featureModuleSha256(s);
  return out;
}

/** Functions loaded in this thread, by `module#export`: what `callCustomFeature` runs. */
const loaded = new Map<string, { sha256: string; fn: CustomFeatureFunction }>();

const keyOf = (spec: Pick<CustomSpec, 'module' | 'export'>): string => `${spec.module}#${spec.export}`;

async function importModule(spec: CustomSpec, sha256: string): Promise<Record<string, unknown>> {
  // The content hash in the URL: an edited module is a new module instance in a long-running daemon.
  const url = `${pathToFileURL(spec.module).href}?sha256=${sha256}`;
  try {
    return (await import(url)) as Record<string, unknown>;
  } catch (err) {
    const ts = typeScriptLoadIssue(err, spec.module, `feature ${spec.name}`);
    if (ts !== null) throw new InputError(ts, { cause: err, details: { feature: spec.name, module: spec.module } });
    throw new InputError(`feature ${spec.name}: cannot load module ${spec.module}: ${(err as Error).message}`, { cause: err, details: { feature: spec.name, module: spec.module } });
  }
}

/**
 * Loads (once per content) the function of every custom spec, in this thread, so that
 * `callCustomFeature` can run it synchronously. With `expected` (path → sha256, taken when the
 * run's definition hash was), a module whose content changed since is refused. Throws
 * InputError naming the feature and the module: missing file, failed import, missing export,
 * export not a function.
 */
export async function loadCustomFeatures(specs: readonly FeatureSpec[], expected?: Readonly<Record<string, string>>): Promise<void> {
  for (const spec of specs) {
    if (spec.fn !== 'custom') continue;
    const sha256 = featureModuleSha256(spec);
    const want = expected?.[spec.module];
    if (want !== undefined && want !== sha256) {
      throw new InputError(`feature ${spec.name}: module ${spec.module} changed while the run was going (its content is part of the definition hash); run again`, {
        details: { feature: spec.name, module: spec.module },
      });
    }
    const key = keyOf(spec);
    if (loaded.get(key)?.sha256 === sha256) continue;
    const mod = await importModule(spec, sha256);
    if (!Object.hasOwn(mod, spec.export)) {
      const found = Object.keys(mod).join(', ') || 'none';
      throw new InputError(`feature ${spec.name}: module ${spec.module} has no export ${spec.export} (exports: ${found})`, { details: { feature: spec.name, module: spec.module } });
    }
    const fn = mod[spec.export];
    if (typeof fn !== 'function') {
      throw new InputError(`feature ${spec.name}: module ${spec.module}: export ${spec.export} is a ${fn === null ? 'null' : typeof fn}, not a function`, {
        details: { feature: spec.name, module: spec.module },
      });
    }
    loaded.set(key, { sha256, fn: fn as CustomFeatureFunction });
  }
}

/** Indices where the session key changes (and 0). */
function sessionStarts(keys: SessionKeys, n: number): Int32Array {
  const starts: number[] = [];
  for (let i = 0; i < n; i++) if (i === 0 || keys[i] !== keys[i - 1]) starts.push(i);
  return Int32Array.from(starts);
}

/**
 * Runs a loaded custom spec on one series and checks what it returns: an object with exactly
 * the declared outputs, each a Float64Array of the series' length. Throws InputError naming the
 * feature and module otherwise, or when the function throws.
 */
export function callCustomFeature(spec: CustomSpec, column: (name: string) => Float64Array, sessionDate: SessionKeys, n: number): Float64Array[] {
  const entry = loaded.get(keyOf(spec));
  const where = `feature ${spec.name} (module ${spec.module}, export ${spec.export})`;
  const fail = (what: string, cause?: unknown): InputError =>
    new InputError(`${where}: ${what}`, { ...(cause === undefined ? {} : { cause }), details: { feature: spec.name, module: spec.module } });
  if (!entry) throw fail('not loaded (loadCustomFeatures runs before computing)');
  // Copies: a function that scribbles on its inputs must not change another feature's.
  const inputs: Record<string, Float64Array> = {};
  for (const c of spec.inputs) inputs[c] = column(c).slice();
  let result: unknown;
  try {
    result = entry.fn({ inputs, sessionStarts: sessionStarts(sessionDate, n), params: spec.params, length: n });
  } catch (err) {
    throw fail(`threw: ${err instanceof Error ? err.message : String(err)}`, err);
  }
  if (typeof result !== 'object' || result === null) throw fail(`returned ${result === null ? 'null' : typeof result}, expected an object of Float64Arrays (${spec.outputs.join(', ')})`);
  if (typeof (result as { then?: unknown }).then === 'function') throw fail('returned a Promise: feature functions must be synchronous');
  const out = result as Record<string, unknown>;
  const extra = Object.keys(out).filter((k) => !spec.outputs.includes(k));
  if (extra.length) throw fail(`returned output(s) ${extra.join(', ')} not declared in outputs (${spec.outputs.join(', ')})`);
  return spec.outputs.map((o) => {
    const v = out[o];
    if (v === undefined) throw fail(`returned no output ${o}`);
    if (!(v instanceof Float64Array)) throw fail(`output ${o} is ${Array.isArray(v) ? 'an Array' : typeof v === 'object' && v !== null ? (v.constructor?.name ?? 'an object') : typeof v}, expected a Float64Array`);
    if (v.length !== n) throw fail(`output ${o} has ${v.length} values for ${n} bars`);
    return v;
  });
}
