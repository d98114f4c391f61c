import js from '@eslint/js';
import tseslint from 'typescript-eslint';

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
  {
    files: ['src/core/clock.ts', 'test/**', 'bench/**', 'scripts/**'],
    rules: { 'no-restricted-syntax': 'off' },
  },
);
