import { chmodSync, lstatSync, mkdirSync, statfsSync } from 'node:fs';
import { join } from 'node:path';

/** Free space a run needs in its temp folder (lakes, copies of the checkout, builds), with room to spare. */
const NEEDED_BYTES = 2 * 1024 ** 3;

/**
 * The temp folder for this test run's lakes and child processes: a private folder on the machine's
 * tmpfs (/dev/shm) when it has room, else undefined (os.tmpdir() as it is). A TMPDIR set by the
 * caller is kept. Why: the stores fsync every ledger line and commit; on a disk that other work keeps
 * busy each fsync waits for it (two of the slowest files took 83–91 s on the disk against 48–70 s on
 * tmpfs, same CPU time). tmpfs is a real file system with the same rename, unlink and
 * permission semantics; only durability across a power cut differs, which no test can observe.
 */
export function testTmpdir(env: Readonly<Record<string, string | undefined>> = process.env): string | undefined {
  if (env['TMPDIR']) return undefined;
  try {
    const fs = statfsSync('/dev/shm');
    if (fs.bavail * fs.bsize < NEEDED_BYTES) return undefined;
    const dir = join('/dev/shm', `ibpipe-test-${process.getuid?.() ?? 'user'}`);
    mkdirSync(dir, { recursive: true });
    const st = lstatSync(dir);
    // Only a real folder of this user (/dev/shm is world-writable: another user may have made one).
    if (!st.isDirectory() || (process.getuid !== undefined && st.uid !== process.getuid())) return undefined;
    // The modes of /tmp (sticky, writable by all): a server the tests start under its own user
    // (test/support/postgres-server.ts runs PostgreSQL as `postgres` when the tests run as root)
    // needs to reach its folder, made private by mkdtemp, inside.
    chmodSync(dir, 0o1777);
    return dir;
  } catch {
    return undefined;
  }
}
