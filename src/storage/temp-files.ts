import { createHash, randomBytes } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';

/**
 * Hidden temporary files and folders of the lake, named after the process that writes them.
 *
 * Every atomic write (a Parquet file, a dataset folder) goes to `.tmp-<pid>-<start>-<host>-<rand>-<name>`
 * in its final folder and is renamed into place. A writer is recognised by its process id, its
 * start time (Linux: the kernel's start tick from /proc/<pid>/stat, so a reused pid does not pass
 * for the dead writer) and a hash of its host name. A temporary name is stale, and removed by
 * `removeStaleTempFiles`, when its writer no longer runs: no such pid, or a pid that started at
 * another time. Names this host cannot judge (another host sharing the lake, the older
 * `.tmp-<name>-<hex>` form) are removed only once older than FOREIGN_TEMP_MAX_AGE_MS, far longer
 * than any single write.
 */

export const TEMP_PREFIX = '.tmp-';
/** Age after which a temporary name whose writer cannot be checked here is removed anyway. */
export const FOREIGN_TEMP_MAX_AGE_MS = 24 * 3_600_000;

/** The identity a writer puts into its temporary names. */
export interface WriterId {
  readonly pid: number;
  /** Start time: kernel start tick on Linux, epoch ms of the process start elsewhere. */
  readonly start: string;
  /** First 8 hex digits of the SHA-256 of the host name. */
  readonly host: string;
}

function hostHash(name: string): string {
  return createHash('sha256').update(name).digest('hex').slice(0, 8);
}

/** Start tick of a process from /proc (field 22 of stat, after the parenthesised command name); null when unknown. */
function procStart(pid: number): string | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return fields[19] ?? null;
  } catch {
    return null;
  }
}

const HAS_PROC = existsSync('/proc/self/stat');
const SELF: WriterId = {
  pid: process.pid,
  start: (HAS_PROC ? procStart(process.pid) : null) ?? String(Math.round(performance.timeOrigin)),
  host: hostHash(hostname()),
};

/** This process as a writer. */
export function currentWriter(): WriterId {
  return SELF;
}

/** A temporary name for `name` in the same folder, owned by this process. */
export function tempName(name: string): string {
  return `${TEMP_PREFIX}${SELF.pid}-${SELF.start}-${SELF.host}-${randomBytes(4).toString('hex')}-${name}`;
}

const OWNED = /^\.tmp-(\d+)-(\d+)-([0-9a-f]{8})-[0-9a-f]{8}-/;

/** The writer named in a temporary name, or null for a name in another (older) form. */
export function writerOf(name: string): WriterId | null {
  const m = OWNED.exec(name);
  return m ? { pid: Number(m[1]), start: m[2] as string, host: m[3] as string } : null;
}

/** What a temporary name stands for (the part after the writer), or null for a name in another form. */
export function tempSubject(name: string): string | null {
  const m = OWNED.exec(name);
  return m ? name.slice(m[0].length) : null;
}

/**
 * Temporary names whose subject starts with this are markers of a write in progress that
 * another module sweeps itself (RawStore.removeStaleFiles: it must delete the dead writer's
 * renamed files first); the generic sweep leaves them.
 */
export const PENDING_MARKER = 'pending-';

/** Whether the writer may still be running ('unknown' when this host cannot tell). */
export function writerState(w: WriterId): 'running' | 'gone' | 'unknown' {
  if (w.host !== SELF.host) return 'unknown';
  if (w.pid === SELF.pid) return w.start === SELF.start ? 'running' : 'gone';
  if (HAS_PROC) {
    const start = procStart(w.pid);
    return start !== null && start === w.start ? 'running' : 'gone';
  }
  try {
    process.kill(w.pid, 0);
    return 'running';
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM' ? 'running' : 'gone';
  }
}

export interface StaleTempSweep {
  /** Lake-relative paths removed. */
  readonly removed: string[];
  /** Temporary names left alone: their writer runs, or they are too young to judge. */
  readonly kept: number;
}

/**
 * Removes stale temporary files and folders (see above) anywhere under `root`, except in the
 * folders named in `skip` (e.g. DuckDB's own spill folder). `now` is epoch ms from the Clock.
 */
export function removeStaleTempFiles(root: string, now: number, skip: readonly string[] = []): StaleTempSweep {
  const removed: string[] = [];
  let kept = 0;
  const walk = (dir: string, rel: string): void => {
    let entries;
    try {
      entries = readdirSync(dir, { withFileTypes: true });
    } catch {
      return; // removed meanwhile, or not readable: nothing to sweep there
    }
    for (const e of entries) {
      const path = join(dir, e.name);
      const relPath = rel === '' ? e.name : `${rel}/${e.name}`;
      if (e.name.startsWith(TEMP_PREFIX)) {
        if (tempSubject(e.name)?.startsWith(PENDING_MARKER)) continue;
        const w = writerOf(e.name);
        const state = w === null ? 'unknown' : writerState(w);
        let stale = state === 'gone';
        if (state === 'unknown') {
          try {
            stale = now - statSync(path).mtimeMs > FOREIGN_TEMP_MAX_AGE_MS;
          } catch {
            stale = false;
          }
        }
        if (stale) {
          rmSync(path, { recursive: true, force: true });
          removed.push(relPath);
        } else kept++;
      } else if (e.isDirectory() && !skip.includes(relPath)) {
        walk(path, relPath);
      }
    }
  };
  walk(root, '');
  return { removed, kept };
}
