import { lstatSync, mkdirSync, statfsSync } from 'node:fs';
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
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    const st = lstatSync(dir);
    // Only a real folder of this user that nobody else can write (a shared /dev/shm is world-writable).
    if (!st.isDirectory() || (process.getuid !== undefined && st.uid !== process.getuid()) || (st.mode & 0o077) !== 0) return undefined;
    return dir;
  } catch {
    return undefined;
  }
}
