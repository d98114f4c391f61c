#!/usr/bin/env node
// The `ibpipe` entry point. It runs the built JavaScript (dist/, from `npm run build`) when that
// build is current, else the TypeScript sources through tsx's loader, so a checkout works without
// a build step and never runs code older than its sources (bin/dist-freshness.js says what
// "current" means). `NODE_DEBUG=ibpipe` prints which one runs and why.
import { resolve } from 'node:path';
import process from 'node:process';
import { debuglog } from 'node:util';
import { distFreshness } from './dist-freshness.js';

const debug = debuglog('ibpipe');
const root = resolve(import.meta.dirname, '..');
const freshness = distFreshness(root);

if (freshness.current) {
  debug('running dist/: %s', freshness.reason);
  await import('../dist/cli/main.js');
} else {
  debug('running src/ through tsx: %s', freshness.reason);
  let register;
  try {
    ({ register } = await import('tsx/esm/api'));
  } catch (err) {
    if (err?.code !== 'ERR_MODULE_NOT_FOUND') throw err;
    process.stderr.write(
      `ibpipe: cannot run: ${freshness.reason}, and tsx (a development dependency) is not installed to run the sources.\n` +
        'Build once with `npm ci && npm run build` (then `npm prune --omit=dev` if wanted).\n',
    );
    process.exit(1);
  }
  register();
  await import('../src/cli/main.ts');
}
