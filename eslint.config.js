import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import { KNOWN_BREAKS, LAYERS } from './scripts/layers.mjs';

const escape = (s) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/**
 * The layering (scripts/layers.mjs) as `no-restricted-imports` per folder and depth: from
 * src/<folder>/<d - 1 subfolders>/x.ts, `../` d times reaches src/. scripts/check-layers.mjs
 * checks the same table on resolved paths (dynamic imports too) and looks for import cycles.
 */
function layerRules() {
  const folders = Object.keys(LAYERS);
  const out = [];
  for (const [folder, allowed] of Object.entries(LAYERS)) {
    const banned = folders.filter((f) => f !== folder && !allowed.includes(f));
    if (banned.length === 0) continue;
    for (let depth = 1; depth <= 3; depth++) {
      const glob = `src/${folder}/${'*/'.repeat(depth - 1)}*.ts`;
      const rule = (except) => {
        const skip = except.map((to) => `(?!${escape(to.replace(/\.ts$/, '.js'))}$)`).join('');
        return [
          'error',
          {
            patterns: [
              {
                regex: `^(\\.\\./){${depth}}${skip}(${banned.map(escape).join('|')})(/|$)`,
                message: `${folder}/ may import ${allowed.length > 0 ? allowed.join(', ') : 'nothing outside itself'} (scripts/layers.mjs, src/${folder}/README.md).`,
              },
            ],
          },
        ];
      };
      out.push({ files: [glob], rules: { 'no-restricted-imports': rule([]) } });
      const exceptions = KNOWN_BREAKS.filter((k) => k.from.startsWith(`${folder}/`) && k.from.split('/').length === depth + 1);
      for (const from of new Set(exceptions.map((k) => k.from))) {
        out.push({ files: [`src/${from}`], rules: { 'no-restricted-imports': rule(exceptions.filter((k) => k.from === from).map((k) => k.to)) } });
      }
    }
  }
  return out;
}

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', 'data/**', 'coverage/**', 'test-artifacts/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      'no-restricted-syntax': [
        'error',
        { selector: "MemberExpression[object.name='Date'][property.name='now']", message: 'Read time through the Clock port (src/core/clock.ts).' },
      ],
    },
  },
  {
    // ESM-importing this CommonJS package costs ~0.2 s of CPU per start (src/storage/duckdb-api.ts).
    files: ['src/**/*.ts'],
    ignores: ['src/storage/duckdb-api.ts'],
    rules: {
      '@typescript-eslint/no-restricted-imports': [
        'error',
        { paths: [{ name: '@duckdb/node-api', allowTypeImports: true, message: "Import DuckDB's values from src/storage/duckdb-api.ts (loaded with require: faster start-up)." }] },
      ],
    },
  },
  {
    // Every command file is imported on every start (`ibpipe --help` included), so each stays cheap:
    // commander, types, sibling CLI files and the dependency-free core at the top; the command's
    // implementation modules are imported inside its action (`await import('../…')`).
    files: ['src/cli/*-command.ts'],
    rules: {
      '@typescript-eslint/no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              regex: '^(?!commander$|node:|\\./|\\.\\./core/|\\.\\./ops/job-kinds\\.js$)',
              allowTypeImports: true,
              message: 'A command file imports its implementation inside the action: `const { x } = await import(...)` (keeps start-up lazy; see src/cli/program.ts).',
            },
          ],
        },
      ],
    },
  },
  ...layerRules(),
  {
    files: ['src/core/clock.ts', 'test/**', 'bench/**', 'scripts/**'],
    rules: { 'no-restricted-syntax': 'off' },
  },
);
