import { mkdirSync } from 'node:fs';
import { StorageWriteError, type StorageWriteErrorCode } from '../core/errors.js';

/** errno codes of the faults an operator must fix, whatever wrote the file. */
const ERRNO: Readonly<Record<string, StorageWriteErrorCode>> = {
  ENOSPC: 'DISK_FULL',
  EDQUOT: 'DISK_FULL',
  EACCES: 'PERMISSION_DENIED',
  EPERM: 'PERMISSION_DENIED',
  EROFS: 'READ_ONLY_FS',
  ENOTDIR: 'NOT_A_DIRECTORY',
};

/**
 * DuckDB reports file-system failures as text only ("IO Error: Could not write file "…": No space
 * left on device"); the strerror wording is libc's and stable, so this is the one place it is read.
 */
const DUCKDB_TEXT: ReadonlyArray<readonly [RegExp, StorageWriteErrorCode]> = [
  [/No space left on device|Disk quota exceeded/i, 'DISK_FULL'],
  [/Permission denied|Operation not permitted/i, 'PERMISSION_DENIED'],
  [/Read-only file system/i, 'READ_ONLY_FS'],
  [/Not a directory/i, 'NOT_A_DIRECTORY'],
];

const WHAT_HAPPENED: Readonly<Record<StorageWriteErrorCode, string>> = {
  DISK_FULL: 'no space left on the device',
  PERMISSION_DENIED: 'permission denied',
  READ_ONLY_FS: 'the file system is read-only',
  NOT_A_DIRECTORY: 'a file stands where a folder is expected',
};

const WHAT_TO_DO: Readonly<Record<StorageWriteErrorCode, string>> = {
  DISK_FULL: 'free space on that file system (or move lake.root to a larger one), then run the same command again',
  PERMISSION_DENIED: 'give the user running ibpipe write access to that folder (or point lake.root elsewhere), then run the same command again',
  READ_ONLY_FS: 'remount the file system read-write (or point lake.root elsewhere), then run the same command again',
  NOT_A_DIRECTORY: 'move that file out of the lake (only ibpipe should write under lake.root), then run the same command again',
};

function codeOf(err: unknown): StorageWriteErrorCode | null {
  for (let e: unknown = err, depth = 0; e instanceof Error && depth < 5; e = e.cause, depth++) {
    const errno = (e as NodeJS.ErrnoException).code;
    if (typeof errno === 'string' && errno in ERRNO) return ERRNO[errno] ?? null;
    for (const [re, code] of DUCKDB_TEXT) if (re.test(e.message)) return code;
  }
  return null;
}

/**
 * Translates the failure of a lake write into a StorageWriteError that says what failed, where,
 * and what to do; null when it is not one of those environment faults (the caller rethrows).
 * `what` completes "cannot …", e.g. `write raw batch g-12ab`.
 */
export function classifyWriteFault(err: unknown, what: string, path: string): StorageWriteError | null {
  if (err instanceof StorageWriteError) return err;
  const code = codeOf(err);
  return code === null ? null : writeFault(code, what, path, err);
}

function writeFault(code: StorageWriteErrorCode, what: string, path: string, cause: unknown): StorageWriteError {
  return new StorageWriteError(code, `cannot ${what} at ${path}: ${WHAT_HAPPENED[code]}. To fix: ${WHAT_TO_DO[code]}; nothing partial was kept`, path, { cause });
}

/** mkdir -p that reports a refused folder (or a file in its way) as a StorageWriteError. */
export function ensureDir(path: string, what: string): void {
  try {
    mkdirSync(path, { recursive: true });
  } catch (err) {
    // mkdir -p answers EEXIST when the path itself is a file: the same fault as a file further up.
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') throw writeFault('NOT_A_DIRECTORY', what, path, err);
    throw classifyWriteFault(err, what, path) ?? err;
  }
}
