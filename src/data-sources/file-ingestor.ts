import { createHash } from 'node:crypto';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { basename, extname, join, resolve } from 'node:path';
import type { BarEvent, BarSize } from '../core/bars.js';
import type { Clock } from '../core/clock.js';
import { InputError } from '../core/errors.js';
import type { Lake } from '../storage/lake.js';
import type { RawStore, WriteBatchResult } from '../storage/raw-store.js';
import { sqlString } from '../core/sql.js';
import { parseCsv } from './csv-reader.js';
import type { IngestBatch, IngestRequest, IngestWorkItem, Ingestor } from './ingestor.js';

const REQUIRED = ['symbol', 'ts', 'open', 'high', 'low', 'close', 'volume'] as const;
const OPTIONAL = ['wap', 'trade_count'] as const;
const KNOWN = new Set<string>([...REQUIRED, ...OPTIONAL]);

/** What the file ingestor needs to know about a configured instrument. */
export interface FileInstrument {
  readonly key: string;
  readonly what_to_show: string;
  readonly con_id?: number | undefined;
}

export interface FileIngestorDeps {
  rawStore: RawStore;
  lake: Lake;
  clock: Clock;
  instruments: readonly FileInstrument[];
  barSize: BarSize;
  /** Source name when run as a configured source (default `file`). */
  name?: string;
  /** Files or folders (their *.csv / *.parquet, not recursive) that `plan` / `run` read. */
  paths?: readonly string[];
}

export interface ParsedFileBatch {
  file: string;
  batchId: string;
  events: BarEvent[];
}

export interface FileIngestResult extends WriteBatchResult {
  file: string;
}

/**
 * Parses a `ts` cell: ISO-8601 with an explicit offset or Z (zone-less local times are refused:
 * their instant is ambiguous), or epoch seconds / milliseconds.
 */
export function parseBarTimestamp(cell: string): number | null {
  const s = cell.trim();
  if (/^-?\d+(\.\d+)?$/.test(s)) {
    const v = Number(s);
    if (!Number.isFinite(v) || v <= 0) return null;
    // Epoch seconds stay below 1e11 until the year 5138; milliseconds are above it since 1973.
    const ms = v < 1e11 ? v * 1000 : v;
    return Number.isInteger(ms) ? ms : Math.round(ms);
  }
  if (!/^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:?\d{2})$/i.test(s)) return null;
  const ms = Date.parse(s.replace(' ', 'T'));
  return Number.isNaN(ms) ? null : ms;
}

function fail(file: string, line: number, column: string | null, message: string): never {
  const where = column ? `${file}:${line}: column ${column}` : `${file}:${line}`;
  throw new InputError(`${where}: ${message}`, { details: { file, line, column } });
}

/**
 * Loads CSV or Parquet bar files into the raw store with source FILE. One file is one batch
 * whose id is the hash of its bytes, so ingesting the same file again adds nothing. Any bad
 * row rejects the whole file before anything is written.
 */
export class FileIngestor implements Ingestor {
  readonly name: string;
  readonly source = 'FILE';
  readonly #deps: FileIngestorDeps;
  readonly #instruments: Map<string, FileInstrument>;

  constructor(deps: FileIngestorDeps) {
    this.#deps = deps;
    this.name = deps.name ?? 'file';
    this.#instruments = new Map(deps.instruments.map((i) => [i.key, i]));
  }

  /** Parses and checks a file into one batch without writing anything. */
  async parseFile(path: string): Promise<ParsedFileBatch> {
    const file = resolve(path);
    let bytes: Buffer;
    try {
      bytes = readFileSync(file);
    } catch (err) {
      throw new InputError(`${file}: cannot read (${(err as Error).message})`, { cause: err });
    }
    const batchId = `file-${createHash('sha256').update(bytes).digest('hex').slice(0, 32)}`;
    const ext = extname(file).toLowerCase();
    const events =
      ext === '.parquet' ? await this.#parseParquet(file) : ext === '.csv' ? this.#parseCsv(file, bytes.toString('utf8')) : fail(file, 0, null, 'expected a .csv or .parquet file');
    return { file, batchId, events };
  }

  /** Writes a parsed batch (a no-op when its id is already in the batch ledger). */
  async writeBatch(batch: ParsedFileBatch): Promise<FileIngestResult> {
    const result = await this.#deps.rawStore.writeTwsBars(batch.events, batch.batchId, this.#deps.clock.now());
    return { ...result, file: batch.file };
  }

  async ingestFile(path: string): Promise<FileIngestResult> {
    return this.writeBatch(await this.parseFile(path));
  }

  /** The configured paths, folders expanded to their .csv / .parquet files (sorted). */
  listFiles(): string[] {
    const out: string[] = [];
    for (const p of this.#deps.paths ?? []) {
      const abs = resolve(p);
      let isDir: boolean;
      try {
        isDir = statSync(abs).isDirectory();
      } catch (err) {
        throw new InputError(`${abs}: cannot read (${(err as Error).message})`, { cause: err });
      }
      if (!isDir) {
        out.push(abs);
        continue;
      }
      const names = readdirSync(abs).filter((n) => /\.(csv|parquet)$/i.test(n)).sort();
      out.push(...names.map((n) => join(abs, n)));
    }
    return out;
  }

  async plan(_request: IngestRequest): Promise<IngestWorkItem[]> {
    return this.listFiles().map((file) => ({ label: file, symbols: [], start: null, end: null, rows: null }));
  }

  /**
   * One batch per file. Every file is parsed and checked before the first batch is produced,
   * so one bad file leaves the lake untouched. A request that narrows symbols or the window
   * keeps only matching bars; such a batch gets its own id (file hash + filter), so the
   * unfiltered file can still be ingested later.
   */
  async *run(request: IngestRequest): AsyncGenerator<IngestBatch> {
    const parsed: ParsedFileBatch[] = [];
    for (const f of this.listFiles()) parsed.push(await this.parseFile(f));
    const symbols = request.symbols ? new Set(request.symbols) : null;
    const keep = (e: BarEvent): boolean =>
      (!symbols || symbols.has(e.symbol)) && (request.start === undefined || e.ts >= request.start) && (request.end === undefined || e.ts < request.end);
    for (const b of parsed) {
      request.signal?.throwIfAborted();
      const events = b.events.filter(keep);
      if (events.length === 0) continue;
      let batchId = b.batchId;
      if (events.length !== b.events.length) {
        const filter = JSON.stringify([symbols ? [...symbols].sort() : null, request.start ?? null, request.end ?? null]);
        batchId = `${b.batchId}-${createHash('sha256').update(filter).digest('hex').slice(0, 12)}`;
      }
      yield { batchId, events, label: b.file };
    }
  }

  #event(file: string, line: number, cells: Record<string, string | number | null>): BarEvent {
    const symbol = String(cells.symbol ?? '').trim();
    const inst = this.#instruments.get(symbol);
    if (!inst) fail(file, line, 'symbol', `unknown symbol ${JSON.stringify(symbol)} (not a configured instrument)`);
    const tsCell = cells.ts;
    const ts = typeof tsCell === 'number' ? parseBarTimestamp(String(tsCell)) : parseBarTimestamp(String(tsCell ?? ''));
    if (ts === null) fail(file, line, 'ts', `cannot parse ${JSON.stringify(tsCell)} as an ISO-8601 instant with offset or epoch seconds/ms`);
    const num = (col: string, required: boolean, integer = false): number | null => {
      const raw = cells[col];
      if (raw === null || raw === undefined || (typeof raw === 'string' && raw.trim() === '')) {
        if (required) fail(file, line, col, 'value is missing');
        return null;
      }
      const v = typeof raw === 'number' ? raw : Number(raw.trim());
      if (!Number.isFinite(v)) fail(file, line, col, `cannot parse ${JSON.stringify(raw)} as a number`);
      if (integer && !Number.isInteger(v)) fail(file, line, col, `expected an integer, got ${JSON.stringify(raw)}`);
      return v;
    };
    return {
      source: 'FILE',
      symbol,
      conId: inst.con_id ?? null,
      barSize: this.#deps.barSize,
      whatToShow: inst.what_to_show,
      ts,
      open: num('open', true) as number,
      high: num('high', true) as number,
      low: num('low', true) as number,
      close: num('close', true) as number,
      volume: num('volume', true) as number,
      wap: num('wap', false),
      tradeCount: num('trade_count', false, true),
      requestId: basename(file),
    };
  }

  #checkHeader(file: string, header: readonly string[]): void {
    for (const h of header) if (!KNOWN.has(h)) fail(file, 1, h, `unknown column; expected ${[...REQUIRED, ...OPTIONAL].join(', ')}`);
    for (const r of REQUIRED) if (!header.includes(r)) fail(file, 1, r, 'required column is missing from the header');
    const dup = header.find((h, i) => header.indexOf(h) !== i);
    if (dup) fail(file, 1, dup, 'column appears twice');
  }

  #parseCsv(file: string, text: string): BarEvent[] {
    let records;
    try {
      records = parseCsv(text);
    } catch (err) {
      const m = /^line (\d+): (.*)$/.exec((err as Error).message);
      fail(file, m ? Number(m[1]) : 0, null, m ? (m[2] as string) : (err as Error).message);
    }
    const head = records[0];
    if (!head) fail(file, 1, null, 'file is empty; expected a header row');
    const header = head.fields.map((h) => h.trim().toLowerCase());
    this.#checkHeader(file, header);
    const events: BarEvent[] = [];
    for (const rec of records.slice(1)) {
      if (rec.fields.length !== header.length) {
        fail(file, rec.line, null, `expected ${header.length} fields, found ${rec.fields.length}`);
      }
      const cells: Record<string, string> = {};
      header.forEach((h, i) => (cells[h] = rec.fields[i] as string));
      events.push(this.#event(file, rec.line, cells));
    }
    return events;
  }

  async #parseParquet(file: string): Promise<BarEvent[]> {
    const lake = this.#deps.lake;
    let cols: { name: string }[];
    try {
      cols = await lake.query<{ name: string }>(`SELECT name FROM parquet_schema(${sqlString(file)}) WHERE num_children IS NULL`);
    } catch (err) {
      fail(file, 0, null, `not a readable Parquet file (${(err as Error).message.split('\n')[0]})`);
    }
    this.#checkHeader(file, cols.map((c) => c.name.toLowerCase()));
    const sel = [...REQUIRED, ...OPTIONAL.filter((o) => cols.some((c) => c.name.toLowerCase() === o))]
      .map((c) => (c === 'ts' ? `CASE WHEN typeof(ts) LIKE 'TIMESTAMP%' THEN CAST(epoch_ms(ts) AS VARCHAR) ELSE CAST(ts AS VARCHAR) END AS ts` : `"${c}"`))
      .join(', ');
    const rows = await lake.query(`SELECT ${sel} FROM read_parquet(${sqlString(file)})`);
    // Parquet has no lines: "line" is the 1-based row number (+1 so it reads like a CSV with header).
    return rows.map((r, i) => this.#event(file, i + 2, r as Record<string, string | number | null>));
  }
}
