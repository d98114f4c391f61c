import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { ESLint } from 'eslint';
import { afterAll, describe, expect, it } from 'vitest';
// @ts-expect-error: a plain ESM script without type declarations
import { checkLayers } from '../../scripts/check-layers.mjs';

type Problem = { kind: 'layer' | 'cycle' | 'stale-exception'; message: string };
const check = checkLayers as (srcDir: string, layers?: unknown, knownBreaks?: unknown, knownCycles?: unknown) => Problem[];

const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

function tree(files: Record<string, string>): string {
  const root = mkdtempSync(join(tmpdir(), 'ibpipe-layers-'));
  dirs.push(root);
  for (const [path, text] of Object.entries(files)) {
    mkdirSync(dirname(join(root, path)), { recursive: true });
    writeFileSync(join(root, path), text);
  }
  return root;
}

const LAYERS = { core: [], storage: ['core'], sim: ['core'], pipelines: ['core', 'storage'], ops: ['core', 'storage', 'pipelines', 'sim'] };

describe('the layering check', () => {
  it('passes on src/ as it is (every remaining break and cycle is listed in scripts/layers.mjs)', () => {
    expect(check(join(import.meta.dirname, '..', '..', 'src'))).toEqual([]);
  });

  it('fails on a wrong-way import (type-only, re-export and dynamic ones too) and on an import cycle', () => {
    const src = tree({
      'core/clock.ts': "export const now = 1;\n",
      'core/a.ts': "import { b } from './b.js';\nexport const a = b;\n",
      'core/b.ts': "import { a } from './a.js';\nexport const b = () => a;\n",
      'storage/lake.ts': "import { now } from '../core/clock.js';\nexport const lake = now;\n",
      'pipelines/transform.ts': "import { lake } from '../storage/lake.js';\nimport type { Daemon } from '../ops/daemon.js';\nexport const t = (d: Daemon) => [lake, d];\n",
      'pipelines/features/sma.ts': "export { daemon } from '../../ops/daemon.js';\n",
      'sim/replay.ts': "export const load = () => import('../storage/lake.js');\n",
      'ops/daemon.ts': "import { t } from '../pipelines/transform.js';\nexport type Daemon = typeof t;\nexport const daemon = 1;\n",
    });
    const problems = check(src, LAYERS, [], []);
    expect(problems.filter((p) => p.kind === 'layer').map((p) => p.message.split(':')[0])).toEqual([
      'pipelines/features/sma.ts imports ops/daemon.ts',
      'pipelines/transform.ts imports ops/daemon.ts (type)',
      'sim/replay.ts imports storage/lake.ts',
    ]);
    expect(problems.filter((p) => p.kind === 'cycle').map((p) => p.message)).toEqual([
      'import cycle: core/a.ts -> core/b.ts -> core/a.ts',
      // A type-only cycle still knots the two files together.
      'import cycle: ops/daemon.ts -> pipelines/transform.ts -> ops/daemon.ts',
    ]);
  });

  it('lets a listed break or cycle pass, and fails once it is gone so the list only shrinks', () => {
    const src = tree({
      'core/clock.ts': "export const now = 1;\n",
      'sim/replay.ts': "import { lake } from '../storage/lake.js';\nexport const r = lake;\n",
      'storage/lake.ts': "export const lake = 1;\n",
    });
    const known = [
      { from: 'sim/replay.ts', to: 'storage/lake.ts' },
      { from: 'sim/replay.ts', to: 'core/gone.ts' },
    ];
    expect(check(src, LAYERS, known, [['core/a.ts', 'core/b.ts']]).map((p) => p.kind)).toEqual(['stale-exception', 'stale-exception']);
  });
});

describe('the eslint layer rules', () => {
  it('reject an import from a folder the file may not use, and accept one it may', async () => {
    const eslint = new ESLint({ cwd: join(import.meta.dirname, '..', '..') });
    const [bad] = await eslint.lintText("import type { AppContext } from '../../ops/app-context.js';\nexport type A = AppContext;\n", {
      filePath: join(import.meta.dirname, '..', '..', 'src', 'pipelines', 'features', 'fixture.ts'),
    });
    expect(bad?.messages.map((m) => m.ruleId)).toEqual(['no-restricted-imports']);
    expect(bad?.messages[0]?.message).toMatch(/pipelines\/ may import core, calendar, storage/);
    const [good] = await eslint.lintText("import type { Clock } from '../../core/clock.js';\nexport type C = Clock;\n", {
      filePath: join(import.meta.dirname, '..', '..', 'src', 'pipelines', 'features', 'fixture.ts'),
    });
    expect(good?.messages).toEqual([]);
  });
});
