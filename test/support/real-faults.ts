import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * Real file-system faults for tests: a small tmpfs fills up for real (ENOSPC), a child process
 * without root's override is refused by a folder's mode for real (EACCES). Both need root in a
 * sandbox that permits them; the helpers report whether it does, so a test can run only there.
 */

/** Mounts a tmpfs of `bytes` at `dir`; false when this sandbox does not permit mounting. */
export function mountTmpfs(dir: string, bytes: number): boolean {
  if (process.getuid?.() !== 0) return false;
  const r = spawnSync('mount', ['-t', 'tmpfs', '-o', `size=${bytes}`, 'tmpfs', dir], { stdio: 'ignore' });
  return r.status === 0;
}

/** Grows (or shrinks) a tmpfs mounted by mountTmpfs. */
export function resizeTmpfs(dir: string, bytes: number): void {
  execFileSync('mount', ['-o', `remount,size=${bytes}`, dir], { stdio: 'ignore' });
}

export function unmount(dir: string): void {
  spawnSync('umount', [dir], { stdio: 'ignore' });
}

/**
 * Runs a command as root without the capabilities that let root ignore file modes (setpriv drops
 * them from the bounding set), so a folder's mode refuses it for real: EACCES, as for any user.
 * Same uid, so the child shares the test's caches and starts as fast.
 */
export function withoutRootOverride(command: string, args: readonly string[]): [string, string[]] {
  return ['setpriv', ['--bounding-set=-dac_override,-dac_read_search,-fowner', '--', command, ...args]];
}

/** True when withoutRootOverride really makes a read-only folder refuse a write here. */
export function canDropRootOverride(): boolean {
  if (process.getuid?.() !== 0) return false;
  const dir = mkdtempSync(join(tmpdir(), 'ibpipe-perm-probe-'));
  try {
    chmodSync(dir, 0o555);
    const [cmd, args] = withoutRootOverride(process.execPath, ['-e', `require('fs').writeFileSync(${JSON.stringify(join(dir, 'x'))}, '1')`]);
    const r = spawnSync(cmd, args, { encoding: 'utf8' });
    return r.status !== 0 && r.stderr.includes('EACCES');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
