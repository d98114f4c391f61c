import { appendFileSync, closeSync, existsSync, openSync, readSync, statSync } from 'node:fs';
import { classifyWriteFault, ensureDir } from '../../storage/write-faults.js';
import { dirname } from 'node:path';
import { REQUEST_LOG, type RequestLogRecord } from '../../storage/state-ledgers.js';

/** File name under state/. */
export { REQUEST_LOG } from '../../storage/state-ledgers.js';

/** The log's tail read at start-up: IB's 10-minute window holds at most 60 requests (~70 bytes each). */
const TAIL_BYTES = 64 * 1024;

export interface LoggedRequest {
  readonly at: number;
  readonly whatToShow: string;
}

/**
 * Historical requests this lake's backfills sent, one line each, noted as the request goes out.
 * IB counts a dead process's requests against its 10-minute pacing window, and pages that were
 * fetched but not yet group-committed have no window ledger line; this log tells a restarted
 * backfill exactly how much of the window is spent. Lines are not fsynced: a killed process's
 * writes survive in the page cache, and after a machine crash the window has long passed.
 */
export class RequestLog {
  readonly file: string;

  constructor(file: string) {
    this.file = file;
  }

  /** True once any request was noted (lakes from before this log have none). */
  exists(): boolean {
    return existsSync(this.file);
  }

  note(at: number, whatToShow: string): void {
    try {
      ensureDir(dirname(this.file), 'create the state folder');
      const record: RequestLogRecord = { at, what_to_show: whatToShow };
      appendFileSync(this.file, `${JSON.stringify(record)}\n`);
    } catch (err) {
      throw classifyWriteFault(err, `append to ${REQUEST_LOG}`, this.file) ?? err;
    }
  }

  /** Requests noted within `windowMs` before `now`, oldest first. */
  recent(now: number, windowMs: number): LoggedRequest[] {
    if (!this.exists()) return [];
    const size = statSync(this.file).size;
    const from = Math.max(0, size - TAIL_BYTES);
    const buf = Buffer.alloc(size - from);
    const fd = openSync(this.file, 'r');
    try {
      readSync(fd, buf, 0, buf.length, from);
    } finally {
      closeSync(fd);
    }
    const lines = buf.toString('utf8').split('\n');
    if (from > 0) lines.shift(); // starts mid-line
    const out: LoggedRequest[] = [];
    for (const line of lines) {
      try {
        const r = JSON.parse(line) as { [K in keyof RequestLogRecord]?: unknown };
        if (typeof r.at === 'number' && r.at + windowMs > now) out.push({ at: r.at, whatToShow: typeof r.what_to_show === 'string' ? r.what_to_show : 'TRADES' });
      } catch {
        // empty or torn line
      }
    }
    return out;
  }
}
