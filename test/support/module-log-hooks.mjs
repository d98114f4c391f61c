// Module hooks for test/support/cli-module-probe.ts: append the URL of every module resolved by an
// import (static or dynamic, ESM or the CommonJS entry of a package) to a file, synchronously, so
// the list is complete by the time the importing code runs.
import { appendFileSync } from 'node:fs';

let file = '';

export function initialize(data) {
  file = data.file;
}

export async function resolve(specifier, context, nextResolve) {
  const resolved = await nextResolve(specifier, context);
  appendFileSync(file, `${resolved.url}\n`);
  return resolved;
}
