import { spawn, type ChildProcess } from 'node:child_process';
import { resolve } from 'node:path';
import { childBundleFor } from './child-bundle.js';

export const REPO = resolve(import.meta.dirname, '../..');

export interface SpawnOptions {
  /**
   * Run the TypeScript file through tsx's loader even when the test run bundled it: for a child
   * that must load users' TypeScript modules, which built JavaScript refuses (src/core/user-module.ts).
   */
  readonly tsx?: boolean;
}

/**
 * The node arguments that run a TypeScript file of this repo: its bundle from this test run
 * (test/support/child-bundle.ts, the same sources) when there is one, else the file through tsx.
 */
export function nodeArgsFor(file: string, options: SpawnOptions = {}): string[] {
  const bundle = options.tsx ? null : childBundleFor(file);
  return bundle === null ? ['--import', 'tsx', resolve(REPO, file)] : [bundle];
}

/** Runs a TypeScript file of this repo in a real child process. */
export function spawnTs(file: string, args: string[], env: Record<string, string> = {}, options: SpawnOptions = {}): ChildProcess {
  return spawn(process.execPath, [...nodeArgsFor(file, options), ...args], {
    cwd: REPO,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
}

/** Resolves when the child prints a line containing marker. */
export function waitForLine(child: ChildProcess, marker: string, timeoutMs = 180_000): Promise<void> {
  return new Promise((res, rej) => {
    let buf = '';
    const timer = setTimeout(() => rej(new Error(`timeout waiting for ${marker}; got: ${buf}`)), timeoutMs);
    child.stdout?.on('data', (d: Buffer) => {
      buf += d.toString();
      if (buf.includes(marker)) {
        clearTimeout(timer);
        res();
      }
    });
    child.on('exit', () => {
      if (!buf.includes(marker)) {
        clearTimeout(timer);
        rej(new Error(`child exited before ${marker}; got: ${buf}`));
      }
    });
  });
}

export function waitForExit(child: ChildProcess): Promise<number | null> {
  return new Promise((res) => {
    if (child.exitCode !== null || child.signalCode !== null) res(child.exitCode);
    else child.on('exit', (code) => res(code));
  });
}

/** Runs the ibpipe CLI to completion and captures its output. */
export async function runCli(args: string[], env: Record<string, string> = {}, options: SpawnOptions = {}): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawnTs('src/cli/main.ts', args, env, options);
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
  const code = await waitForExit(child);
  return { code, stdout, stderr };
}
