// Types of scripts/bundle-options.js (plain JavaScript: scripts/build.js runs it before anything is compiled).
import type { BuildOptions } from 'esbuild';

export declare function bundleOptions(
  root: string,
  layout: { entryPoints: { in: string; out: string }[]; outdir: string; chunkNames?: string },
): BuildOptions;
