import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { runCliInProcess } from '../support/cli-in-process.js';

// `ibpipe config check` loads the user modules a config names (custom feature functions, module
// sources) with real files on disk, and reports each one that a run would fail to load.
const dir = mkdtempSync(join(tmpdir(), 'ibpipe-config-modules-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
mkdirSync(join(dir, 'mods'));
const mod = (name: string, text: string): void => writeFileSync(join(dir, 'mods', name), text);
mod('good-feature.mjs', 'export function run({ inputs }) { return { out: inputs.close }; }\n');
mod('not-a-function.mjs', 'export const run = 42;\n');
mod('syntax.mjs', 'export function run( {\n');
mod('good-source.mjs', 'export default function factory() { return { plan: () => [], run: async function* () {} }; }\n');
mod('source-object.mjs', 'export default { plan: () => [] };\n');

const INSTRUMENTS = `instruments:
  - { key: AAPL, sec_type: STK, symbol: AAPL, exchange: SMART, currency: USD, calendar: XNYS }
`;
const feature = (name: string, module: string, exp = 'run'): string => `      - { name: ${name}, fn: custom, module: ${module}, export: ${exp}, inputs: [close], outputs: [out] }`;

function config(name: string, features: string[], sources: string[]): string {
  const f = join(dir, `${name}.yaml`);
  const groups = features.length === 0 ? '' : `feature_groups:\n  - name: g\n    version: v1\n    source: bars_1min\n    features:\n${features.join('\n')}\n`;
  writeFileSync(f, `lake: { root: ./lake }\n${INSTRUMENTS}${groups}${sources.length === 0 ? '' : `sources:\n${sources.join('\n')}\n`}`);
  return f;
}

describe('ibpipe config check: user modules', () => {
  it('accepts a config whose modules all load, without calling them', async () => {
    // The source factory would throw if called with no context; loading must not call it.
    mod('throws-if-called.mjs', "export default function factory(ctx) { return ctx.options.x.y; }\n");
    const f = config('ok', [feature('a', './mods/good-feature.mjs')], ['  - { type: module, name: walk, module: ./mods/throws-if-called.mjs }']);
    const r = await runCliInProcess(['config', 'check', f]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toBe(`${f}: ok (1 instruments)\n`);
  });

  it('names each module that a run would fail to load, by its config path, and exits 2', async () => {
    const abs = (n: string): string => join(dir, 'mods', n);
    const f = config(
      'bad',
      [
        feature('ok', './mods/good-feature.mjs'),
        feature('missing', './mods/nope.mjs'),
        feature('no_export', './mods/good-feature.mjs', 'other'),
        feature('not_fn', './mods/not-a-function.mjs'),
        feature('broken', './mods/syntax.mjs'),
      ],
      ['  - { type: module, name: fine, module: ./mods/good-source.mjs }', '  - { type: module, name: obj, module: ./mods/source-object.mjs }', '  - { type: module, name: gone, module: ./mods/gone.mjs }'],
    );
    const r = await runCliInProcess(['config', 'check', f]);
    expect(r.code).toBe(2);
    expect(r.stdout).toBe('');
    const lines = r.stderr.trim().split('\n');
    expect(lines).toHaveLength(6);
    expect(lines[0]).toMatch(new RegExp(`^feature_groups\\[0\\]\\.features\\[1\\]\\.module: feature missing: cannot read module ${abs('nope.mjs')} \\(ENOENT\\)$`));
    expect(lines[1]).toBe(`feature_groups[0].features[2].module: feature no_export: module ${abs('good-feature.mjs')} has no export other (exports: run)`);
    expect(lines[2]).toBe(`feature_groups[0].features[3].module: feature not_fn: module ${abs('not-a-function.mjs')}: export run is a number, not a function`);
    expect(lines[3]).toMatch(new RegExp(`^feature_groups\\[0\\]\\.features\\[4\\]\\.module: feature broken: cannot load module ${abs('syntax.mjs')}: .+`));
    expect(lines[4]).toBe(`sources[1].module: source obj (module ${abs('source-object.mjs')}): export "default" is a object, expected a factory function (ctx) => ({ plan, run })`);
    expect(lines[5]).toBe(`sources[2].module: source gone: module ${abs('gone.mjs')} does not exist`);
  });
});
