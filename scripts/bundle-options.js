// The esbuild options of ibpipe's bundles, shared by `npm run build` (scripts/build.js, dist/) and the test run's
// bundle of the entry points tests start as child processes (test/support/child-bundle.ts): tests start the code
// packed the way the build packs it.
import { readFileSync } from 'node:fs';
import { relative } from 'node:path';

/**
 * Packages bundled in (pure JavaScript, no files read by path). Every other package stays an import of
 * node_modules: @duckdb/node-bindings (the native library), pino and pino-pretty (worker-thread transports found
 * by path), @stoqey/ib, pg, prom-client, dotenv, uplot (its files are served as they are).
 */
const BUNDLED_PACKAGES = ['@duckdb/node-api', 'commander', 'croner', 'yaml', 'zod'];

function packageOf(specifier) {
  const parts = specifier.split('/');
  return specifier.startsWith('@') ? parts.slice(0, 2).join('/') : parts[0];
}

/**
 * src/storage/duckdb-api.ts loads @duckdb/node-api with `createRequire(import.meta.url)(…)`, which a bundler
 * cannot follow (it is the fast way to load the package from the sources: see that file). In the bundle a plain
 * `require()` of it lets esbuild inline the package's 181 files.
 */
const DUCKDB_API_LOAD = "createRequire(import.meta.url)('@duckdb/node-api')";

function bundleDuckdbApi(root) {
  return {
    name: 'bundle-duckdb-api',
    setup(build) {
      build.onLoad({ filter: /[\\/]src[\\/]storage[\\/]duckdb-api\.ts$/ }, (a) => {
        const text = readFileSync(a.path, 'utf8');
        if (!text.includes(DUCKDB_API_LOAD)) {
          return { errors: [{ text: `${relative(root, a.path)} no longer contains ${DUCKDB_API_LOAD}; update scripts/bundle-options.js` }] };
        }
        return { contents: text.replace(DUCKDB_API_LOAD, "require('@duckdb/node-api')"), loader: 'ts' };
      });
    },
  };
}

const externalPackages = {
  name: 'external-packages',
  setup(build) {
    build.onResolve({ filter: /^[^./]/ }, (a) => (a.path.startsWith('node:') || BUNDLED_PACKAGES.includes(packageOf(a.path)) ? undefined : { external: true }));
  },
};

/**
 * esbuild options for an ESM bundle of `entryPoints` (esbuild's `{ in, out }` form) into `outdir`, for Node 20,
 * split into chunks so each `await import()` stays lazy. `root` is the checkout.
 */
export function bundleOptions(root, { entryPoints, outdir, chunkNames }) {
  return {
    absWorkingDir: root,
    entryPoints,
    outdir,
    ...(chunkNames === undefined ? {} : { chunkNames }),
    bundle: true,
    splitting: true,
    format: 'esm',
    platform: 'node',
    target: 'node20',
    // Bundled CommonJS (commander, @duckdb/node-api) calls require() for built-ins and for
    // @duckdb/node-bindings: an ES module has no `require` of its own.
    banner: { js: "import { createRequire as __ibpipeCreateRequire } from 'node:module'; const require = __ibpipeCreateRequire(import.meta.url);" },
    plugins: [bundleDuckdbApi(root), externalPackages],
    logLevel: 'warning',
  };
}
