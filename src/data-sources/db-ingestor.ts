import { createHash } from 'node:crypto';
import { BAR_SIZES, type BarEvent, type BarSize } from '../core/bars.js';
import type { Clock } from '../core/clock.js';
import { ConfigError, InputError } from '../core/errors.js';
import { sqlIdent } from '../core/sql.js';
import type { Logger } from '../core/logger.js';
import { parseWindowEdge, type IngestBatch, type IngestRequest, type IngestWorkItem, type Ingestor } from './ingestor.js';
import { instantToLocal } from '../calendar/zoned-time.js';
import { isPlausibleInstant, PLAUSIBLE_FROM_MS, PLAUSIBLE_TO_MS, PROBLEMS, shownValue } from './bar-value-rules.js';
import { PgSession, SourceSchemaError, type PgTarget } from './pg-connection.js';
import type { PostgresSourceConfig } from './sources-config.js';
import type { Watermark, WatermarkStore } from './watermark-store.js';

/** What the database ingestor needs to know about a configured instrument. */
export interface DbInstrument {
  readonly key: string;
  readonly what_to_show: string;
  readonly con_id?: number | undefined;
}

export interface DbIngestorDeps {
  readonly config: PostgresSourceConfig;
  readonly instruments: readonly DbInstrument[];
  /** Bar size when the source config names none (`tws.historical_bar_size`). */
  readonly defaultBarSize: BarSize;
  readonly watermarks: WatermarkStore;
  readonly target: PgTarget;
  readonly clock: Clock;
  readonly logger: Logger;
}

type Field = keyof PostgresSourceConfig['columns'];
const FIELDS: readonly Field[] = ['symbol', 'ts', 'open', 'high', 'low', 'close', 'volume', 'wap', 'trade_count'];

// pg type OIDs (pg_type.oid) of the column types the mapping accepts.
const TEXT_TYPES = new Set([25, 1043, 1042, 19]);
const INT_TYPES = new Map([[20, 'int8'], [23, 'int4'], [21, 'int2']]);
const NUMBER_TYPES = new Set([20, 21, 23, 700, 701, 1700]);
const TIMESTAMP_TYPES = new Map([[1184, 'timestamptz'], [1114, 'timestamp']]);

interface TsColumn {
  /** SQL type name used to cast watermark keys back (timestamptz, timestamp, int8 …). */
  type: string;
  /** Integer epoch columns: the unit; null for timestamp columns. */
  epochUnit: 's' | 'ms' | 'us' | null;
  /** A `timestamp` (without time zone) column: the declared zone of its wall times; null otherwise. */
  zone: string | null;
}

interface PageRow {
  s: string;
  /** The ts column as text (NULL when the column is). */
  k: string | null;
  t: number | null;
  /** NULL, or why the ts value has no instant in the declared zone (PROBLEMS.nonexistent / ambiguous). */
  z: string | null;
  o: number | null;
  h: number | null;
  l: number | null;
  c: number | null;
  v: number | null;
  w: number | null;
  n: number | null;
}

/** Position in (ts, symbol) order, in the source's own representation. */
interface Keyset {
  ts: string;
  symbol: string;
}

function ident(qualified: string): string {
  return qualified.split('.').map(sqlIdent).join('.');
}

/**
 * Bars from a PostgreSQL / TimescaleDB table, view or query (source DB).
 *
 * Incremental: each symbol has a watermark (the newest ingested bar, in `state/`); a run reads
 * rows after it, in pages ordered by (ts, symbol) with keyset pagination, so neither the client
 * nor the server holds more than a page. Each page is one raw batch whose id hashes the source
 * name, the symbols in the page, the page's first/last keys and its values; the watermark moves
 * only when the batch is acknowledged (committed). A re-run after a crash therefore reads the
 * unacknowledged page again with the same bounds and the same id, and the raw store turns it
 * into a no-op.
 *
 * Connection errors are retried per page after reconnecting (each page is a fresh idempotent
 * SELECT). Rows that arrive later with a `ts` at or before a symbol's watermark are not picked up
 * by incremental runs; a request with an explicit start re-reads its whole window regardless of
 * watermarks (unchanged pages are no-ops, corrected ones new batches).
 */
export class DbIngestor implements Ingestor {
  readonly name: string;
  readonly source = 'DB';
  readonly #deps: DbIngestorDeps;
  readonly #cfg: PostgresSourceConfig;
  readonly #instruments: Map<string, DbInstrument>;
  /** Instrument key → value in the symbol column, and back. */
  readonly #toDb = new Map<string, string>();
  readonly #fromDb = new Map<string, string>();
  readonly #served: string[];
  readonly #barSize: BarSize;
  /** Shift from the column's label to the bar start (ms). */
  readonly #labelShiftMs: number;
  readonly #floor: number | undefined;

  constructor(deps: DbIngestorDeps) {
    this.#deps = deps;
    this.#cfg = deps.config;
    this.name = deps.config.name;
    this.#instruments = new Map(deps.instruments.map((i) => [i.key, i]));
    const problems: string[] = [];
    for (const key of Object.keys(this.#cfg.symbol_map)) {
      if (!this.#instruments.has(key)) problems.push(`sources.${this.name}.symbol_map.${key}: not a configured instrument`);
    }
    for (const key of this.#cfg.symbols ?? []) {
      if (!this.#instruments.has(key)) problems.push(`sources.${this.name}.symbols: ${key} is not a configured instrument`);
    }
    if (problems.length > 0) throw new ConfigError(problems.join('\n'), problems);
    this.#served = this.#cfg.symbols ? [...this.#cfg.symbols] : deps.instruments.map((i) => i.key);
    for (const key of this.#served) {
      const db = this.#cfg.symbol_map[key] ?? key;
      if (this.#fromDb.has(db)) {
        const issue = `sources.${this.name}.symbol_map: ${key} and ${this.#fromDb.get(db)} both map to ${JSON.stringify(db)}`;
        throw new ConfigError(issue, [issue]);
      }
      this.#toDb.set(key, db);
      this.#fromDb.set(db, key);
    }
    this.#barSize = this.#cfg.bar_size ?? deps.defaultBarSize;
    this.#labelShiftMs = this.#cfg.ts_label === 'end' ? BAR_SIZES[this.#barSize] : 0;
    this.#floor = this.#cfg.start === undefined ? undefined : parseWindowEdge(this.#cfg.start, 'start');
  }

  async plan(request: IngestRequest): Promise<IngestWorkItem[]> {
    const symbols = this.#symbolsFor(request);
    if (symbols.length === 0) return [];
    const session = this.#session(request.signal);
    try {
      const ts = await this.#checkSchema(session);
      const marks = this.#deps.watermarks.read(this.name);
      const q = this.#pageQuery(ts, symbols, marks, request, null, null);
      const sql = `SELECT s, count(*)::float8 AS rows, min(t) AS first_t, max(t) AS last_t FROM (${q.text}) AS page GROUP BY s`;
      const res = await session.query<{ s: string; rows: number; first_t: number; last_t: number }>(sql, q.params);
      const bySym = new Map(res.rows.map((r) => [r.s, r]));
      return symbols.map((key) => {
        const r = bySym.get(this.#toDb.get(key) as string);
        const mark = marks.get(key);
        return {
          label: `${this.name} ${key} after ${mark ? new Date(mark.ts).toISOString() : 'the beginning'}`,
          symbols: [key],
          start: r ? r.first_t - this.#labelShiftMs : null,
          end: r ? r.last_t - this.#labelShiftMs + BAR_SIZES[this.#barSize] : null,
          rows: r ? r.rows : 0,
        };
      });
    } finally {
      await session.close();
    }
  }

  async *run(request: IngestRequest): AsyncGenerator<IngestBatch> {
    const symbols = this.#symbolsFor(request);
    if (symbols.length === 0) return;
    const session = this.#session(request.signal);
    try {
      const ts = await this.#checkSchema(session);
      const marks = this.#deps.watermarks.read(this.name);
      await this.#refuseBadRows(session, ts, symbols, marks, request);
      const advancing = new Set(symbols.filter((s) => this.#contiguous(request.start, marks.get(s))));
      let position: Keyset | null = null;
      for (;;) {
        request.signal?.throwIfAborted();
        const q = this.#pageQuery(ts, symbols, marks, request, position, this.#cfg.page_size);
        const res = await session.query<PageRow>(q.text, q.params);
        const rows = res.rows;
        const first = rows[0];
        const last = rows[rows.length - 1];
        if (!first || !last) return;
        const events = rows.map((r) => this.#event(r));
        const reached = new Map<string, Watermark>();
        for (let i = 0; i < rows.length; i++) {
          const e = events[i] as BarEvent;
          if (advancing.has(e.symbol)) reached.set(e.symbol, { ts: e.ts, key: (rows[i] as PageRow).k as string });
        }
        const batchId = this.#batchId(events, rows);
        const label = `${this.name} ${rows.length} rows ${new Date((events[0] as BarEvent).ts).toISOString()} .. ${new Date((events[events.length - 1] as BarEvent).ts).toISOString()}`;
        const { watermarks, clock } = this.#deps;
        yield {
          batchId,
          events,
          label,
          acknowledge: () => watermarks.advance(this.name, batchId, clock.now(), reached),
        };
        position = { ts: last.k as string, symbol: last.s }; // every row passed #event, so its ts is not NULL
        if (rows.length < this.#cfg.page_size) return;
      }
    } finally {
      await session.close();
    }
  }

  /** Instruments this run reads: the request's (each must be served here) or all served. */
  #symbolsFor(request: IngestRequest): string[] {
    if (!request.symbols) return [...this.#served];
    const bad = request.symbols.filter((s) => !this.#toDb.has(s));
    if (bad.length > 0) {
      throw new InputError(`source ${this.name} does not serve ${bad.join(', ')} (serves ${this.#served.join(', ')})`, { details: { source: this.name, symbols: bad } });
    }
    return [...new Set(request.symbols)];
  }

  /**
   * A watermark is "everything from the source's start up to here is ingested", so it may only
   * move when this run reads on from it: no request start, or one at or before the watermark
   * (or, for a symbol without one, at or before the configured start).
   */
  #contiguous(start: number | undefined, mark: Watermark | undefined): boolean {
    if (start === undefined) return true;
    if (mark) return start <= mark.ts;
    return this.#floor !== undefined && start <= this.#floor;
  }

  #session(signal: AbortSignal | undefined): PgSession {
    const { clock, logger, target } = this.#deps;
    const r = this.#cfg.retry;
    return new PgSession({
      source: this.name,
      target,
      clock,
      logger,
      signal,
      statementTimeoutMs: this.#cfg.statement_timeout_ms,
      retry: { retries: r.retries, initialDelayMs: r.initial_delay_ms, maxDelayMs: r.max_delay_ms },
    });
  }

  #relation(): string {
    // The query becomes a subquery: a trailing semicolon, natural at the end of a SELECT, would break it.
    return this.#cfg.table !== undefined ? ident(this.#cfg.table) : `(${(this.#cfg.query as string).trim().replace(/;+\s*$/, '')})`;
  }

  #relationLabel(): string {
    return this.#cfg.table !== undefined ? `table ${this.#cfg.table}` : 'the configured query';
  }

  /** Fails fast, naming the column, when a mapped column is missing or has an unusable type. */
  async #checkSchema(session: PgSession): Promise<TsColumn> {
    const res = await session.query(`SELECT * FROM ${this.#relation()} AS src LIMIT 0`, this.#cfg.params);
    const types = new Map(res.fields.map((f) => [f.name, f.dataTypeID]));
    const fail = async (field: Field, column: string, problem: string): Promise<never> => {
      throw new SourceSchemaError(`source ${this.name}: column ${JSON.stringify(column)} (columns.${field}) ${problem}`, {
        details: { source: this.name, field, column },
      });
    };
    const typeName = async (oid: number): Promise<string> => {
      const r = await session.query<{ name: string }>('SELECT format_type($1::oid, NULL) AS name', [oid]);
      return r.rows[0]?.name ?? `type oid ${oid}`;
    };
    for (const field of FIELDS) {
      const column = this.#cfg.columns[field];
      if (column === undefined) continue;
      const oid = types.get(column);
      if (oid === undefined) {
        await fail(field, column, `not found in ${this.#relationLabel()}; it has ${[...types.keys()].map((c) => JSON.stringify(c)).join(', ') || 'no columns'}`);
        continue;
      }
      const ok = field === 'symbol' ? TEXT_TYPES.has(oid) : field === 'ts' ? TIMESTAMP_TYPES.has(oid) || INT_TYPES.has(oid) : NUMBER_TYPES.has(oid);
      if (!ok) {
        const expected = field === 'symbol' ? 'text or varchar' : field === 'ts' ? 'timestamptz, timestamp or an integer epoch' : 'a number';
        await fail(field, column, `has type ${await typeName(oid)}; expected ${expected}`);
      }
    }
    await this.#warnWithoutTsIndex(session);
    const tsOid = types.get(this.#cfg.columns.ts) as number;
    const tsType = TIMESTAMP_TYPES.get(tsOid);
    if (tsType === 'timestamptz') return { type: tsType, epochUnit: null, zone: null };
    if (tsType === 'timestamp') {
      if (this.#cfg.ts_timezone === undefined) {
        return fail(
          'ts',
          this.#cfg.columns.ts,
          `is timestamp without time zone, so its instants are unknown; set ts_timezone on source ${this.name} to the zone its wall times are in (e.g. America/New_York, or UTC)`,
        );
      }
      return { type: tsType, epochUnit: null, zone: this.#cfg.ts_timezone };
    }
    if (!this.#cfg.ts_epoch_unit) {
      return fail('ts', this.#cfg.columns.ts, `is an integer column; set ts_epoch_unit (s, ms or us) on source ${this.name}`);
    }
    return { type: INT_TYPES.get(tsOid) as string, epochUnit: this.#cfg.ts_epoch_unit, zone: null };
  }

  /**
   * Pages are read in (ts, symbol) order; without an index whose first column is ts, every page
   * scans and sorts the rest of the table. Worth a warning, not a failure (small tables are fine).
   */
  async #warnWithoutTsIndex(session: PgSession): Promise<void> {
    if (this.#cfg.table === undefined) return;
    const rel = ident(this.#cfg.table);
    const res = await session.query<{ kind: string; indexed: boolean }>(
      `SELECT c.relkind::text AS kind,
              EXISTS (SELECT 1 FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = i.indkey[0]
                      WHERE i.indrelid = c.oid AND a.attname = $2) AS indexed
       FROM pg_class c WHERE c.oid = $1::regclass`,
      [rel, this.#cfg.columns.ts],
    );
    const r = res.rows[0];
    if (r && (r.kind === 'r' || r.kind === 'p') && !r.indexed) {
      this.#deps.logger.warn(
        { source: this.name, table: this.#cfg.table, column: this.#cfg.columns.ts },
        `no index starts with ${this.#cfg.columns.ts}: each page scans and sorts the rest of the table; consider CREATE INDEX ON ${rel} (${sqlIdent(this.#cfg.columns.ts)})`,
      );
    }
  }

  /** A bar-start instant (epoch ms) as a value of the ts column, for bounds. */
  #bound(ts: TsColumn, barStartMs: number): string {
    const ms = barStartMs + this.#labelShiftMs;
    if (ts.epochUnit === 'ms') return String(Math.ceil(ms));
    if (ts.epochUnit === 's') return String(Math.ceil(ms / 1000));
    if (ts.epochUnit === 'us') return String(Math.ceil(ms) * 1000);
    if (ts.zone !== null) {
      // A wall time in the column's zone (during a repeated DST hour the bound is approximate by that hour).
      const local = instantToLocal(ts.zone, ms);
      return new Date(local.day * 86_400_000 + local.msOfDay).toISOString().slice(0, -1);
    }
    return new Date(ms).toISOString();
  }

  #pageQuery(
    ts: TsColumn,
    symbols: readonly string[],
    marks: ReadonlyMap<string, Watermark>,
    request: IngestRequest,
    position: Keyset | null,
    limit: number | null,
  ): { text: string; params: unknown[] } {
    const c = this.#cfg.columns;
    const params: unknown[] = [...this.#cfg.params];
    const p = (v: unknown): string => {
      params.push(v);
      return `$${params.length}`;
    };
    const sym = `src.${sqlIdent(c.symbol)}`;
    const col = `src.${sqlIdent(c.ts)}`;
    const num = (field: Field): string => {
      const name = c[field];
      return name === undefined ? 'NULL::float8' : `src.${sqlIdent(name)}::float8`;
    };
    let zoneJoin = '';
    let dst = 'NULL::text';
    let tsMs =
      ts.epochUnit === null
        ? `floor(extract(epoch FROM ${col}) * 1000)::float8`
        : ts.epochUnit === 's'
          ? `(${col}::float8 * 1000)`
          : ts.epochUnit === 'ms'
            ? `${col}::float8`
            : `floor(${col}::float8 / 1000)`;
    if (ts.zone !== null) {
      // Wall time -> instant with the same candidate test as localToInstantStrict: the offsets a day
      // either side are the candidates; a DST-skipped or repeated reading is flagged, never guessed.
      const tz = `${p(ts.zone)}::text`;
      const off = (x: string): string => `((${x}) AT TIME ZONE ${tz}) - ((${x}) AT TIME ZONE 'UTC')`;
      zoneJoin = `
      CROSS JOIN LATERAL (SELECT ${off(`(${col} - interval '1 day') AT TIME ZONE 'UTC'`)} AS ob, ${off(`(${col} + interval '1 day') AT TIME ZONE 'UTC'`)} AS oa) AS zo
      CROSS JOIN LATERAL (SELECT (${col} - zo.ob) AT TIME ZONE 'UTC' AS ca, (${col} - zo.oa) AT TIME ZONE 'UTC' AS cb) AS zc
      CROSS JOIN LATERAL (SELECT (zc.ca AT TIME ZONE ${tz}) = ${col} AS va, (zc.cb AT TIME ZONE ${tz}) = ${col} AS vb) AS zv`;
      const chosen = `CASE WHEN zo.ob = zo.oa OR (zv.va AND NOT zv.vb) THEN zc.ca WHEN zv.vb AND NOT zv.va THEN zc.cb END`;
      tsMs = `floor(extract(epoch FROM ${chosen}) * 1000)::float8`;
      dst = `CASE WHEN ${col} IS NULL OR zo.ob = zo.oa THEN NULL WHEN zv.va AND zv.vb THEN ${p(PROBLEMS.ambiguous)}::text WHEN zv.va OR zv.vb THEN NULL ELSE ${p(PROBLEMS.nonexistent)}::text END`;
    }
    const dbSymbols = symbols.map((s) => this.#toDb.get(s) as string);
    // An explicit start re-reads its whole window (e.g. to pick up corrected rows); otherwise
    // each symbol continues after its watermark.
    const live = request.start === undefined ? marks : new Map<string, Watermark>();
    const where: string[] = [`${sym} = ANY(${p(dbSymbols)}::text[])`];
    // Per-symbol watermarks as one jsonb object: a binary-search lookup per row, no join, so the
    // planner keeps the (ts) index order that LIMIT stops early on, whatever the universe size.
    const after = Object.fromEntries(symbols.filter((s) => live.has(s)).map((s) => [this.#toDb.get(s), live.get(s)?.key]));
    if (Object.keys(after).length > 0) {
      const m = `(${p(JSON.stringify(after))}::jsonb ->> ${sym}::text)`;
      where.push(`(${m} IS NULL OR ${col} > ${m}::${ts.type})`);
    }
    // A global lower bound when every symbol has a watermark lets TimescaleDB skip old chunks.
    const known = symbols.map((s) => live.get(s)).filter((m): m is Watermark => m !== undefined);
    if (known.length === symbols.length && known.length > 0) {
      const min = known.reduce((a, b) => (b.ts < a.ts ? b : a));
      where.push(`${col} >= ${p(this.#bound(ts, min.ts))}`);
    }
    const lower = Math.max(request.start ?? -Infinity, this.#floor ?? -Infinity);
    if (Number.isFinite(lower)) where.push(`${col} >= ${p(this.#bound(ts, lower))}`);
    if (request.end !== undefined) where.push(`${col} < ${p(this.#bound(ts, request.end))}`);
    if (position) {
      const k = p(position.ts);
      where.push(`${col} >= ${k}`, `(${col} > ${k} OR ${sym} > ${p(position.symbol)})`);
    }
    const text = `SELECT ${sym}::text AS s, ${col}::text AS k, ${tsMs} AS t, ${dst} AS z,
        ${num('open')} AS o, ${num('high')} AS h, ${num('low')} AS l, ${num('close')} AS c, ${num('volume')} AS v,
        ${num('wap')} AS w, ${num('trade_count')} AS n
      FROM ${this.#relation()} AS src${zoneJoin}
      WHERE ${where.join('\n        AND ')}
      ORDER BY ${col}, ${sym}${limit === null ? '' : `\n      LIMIT ${p(limit)}`}`;
    return { text, params };
  }

  #event(r: PageRow): BarEvent {
    const key = this.#fromDb.get(r.s);
    const inst = key === undefined ? undefined : this.#instruments.get(key);
    if (key === undefined || !inst) throw new InputError(`source ${this.name}: unexpected symbol ${JSON.stringify(r.s)} in a page`);
    const c = this.#cfg.columns;
    // "Row and column": a database row is named by its key, the only stable way to find it again.
    const row = `source ${this.name}: row with ${c.symbol} ${JSON.stringify(r.s)} and ${c.ts} ${shownValue(r.k ?? 'NULL')}`;
    const refuse = (field: Field, value: string | null, problem: string): never => {
      throw new InputError(`${row}: column ${JSON.stringify(c[field])} (columns.${field}): ${value === null ? '' : `${shownValue(value)} `}${problem}`, {
        details: { source: this.name, symbol: key, key: r.k, field },
      });
    };
    if (r.z !== null) refuse('ts', r.k, `${r.z.replace('the declared zone', `the declared zone ${String(this.#cfg.ts_timezone)}`)}`);
    if (r.t === null || !Number.isFinite(r.t)) refuse('ts', r.k, PROBLEMS.missing);
    const ts = (r.t as number) - this.#labelShiftMs;
    if (!Number.isSafeInteger(ts) || !isPlausibleInstant(ts)) refuse('ts', r.k, PROBLEMS.range);
    const need = (v: number | null, field: Field): number => {
      if (v === null) return refuse(field, null, PROBLEMS.missing);
      if (!Number.isFinite(v)) refuse(field, String(v), PROBLEMS.nonFinite);
      return v;
    };
    if (r.w !== null && !Number.isFinite(r.w)) refuse('wap', String(r.w), PROBLEMS.nonFinite);
    if (r.n !== null && !Number.isSafeInteger(r.n)) refuse('trade_count', String(r.n), PROBLEMS.integer);
    return {
      source: this.source,
      symbol: key,
      conId: inst.con_id ?? null,
      barSize: this.#barSize,
      whatToShow: inst.what_to_show,
      ts,
      open: need(r.o, 'open'),
      high: need(r.h, 'high'),
      low: need(r.l, 'low'),
      close: need(r.c, 'close'),
      volume: need(r.v, 'volume'),
      wap: r.w,
      tradeCount: r.n,
      requestId: this.name,
    };
  }

  /**
   * The first row of the run's window that a page would refuse (an implausible or DST-invalid
   * ts, a NULL or non-finite price, a fractional trade count), found in one set-based query
   * before the first page is read, so a bad row anywhere refuses the run before anything is
   * written. Rows inserted while the run pages through are still checked page by page.
   */
  async #refuseBadRows(session: PgSession, ts: TsColumn, symbols: readonly string[], marks: ReadonlyMap<string, Watermark>, request: IngestRequest): Promise<void> {
    const q = this.#pageQuery(ts, symbols, marks, request, null, null);
    const finite = (x: string): string => `(${x} > '-Infinity'::float8 AND ${x} < 'Infinity'::float8)`;
    const shift = this.#labelShiftMs;
    const bad = [
      't IS NULL',
      'z IS NOT NULL',
      `t - ${shift} < ${PLAUSIBLE_FROM_MS}`,
      `t - ${shift} >= ${PLAUSIBLE_TO_MS}`,
      ...['o', 'h', 'l', 'c', 'v'].map((x) => `${x} IS NULL OR NOT ${finite(x)}`),
      `(w IS NOT NULL AND NOT ${finite('w')})`,
      `(n IS NOT NULL AND (NOT ${finite('n')} OR n <> trunc(n)))`,
    ].join(' OR ');
    const res = await session.query<PageRow>(`SELECT * FROM (${q.text}) AS page WHERE ${bad} ORDER BY t NULLS FIRST, s LIMIT 1`, q.params);
    const first = res.rows[0];
    if (!first) return;
    this.#event(first);
    throw new InputError(`source ${this.name}: row with ${this.#cfg.columns.symbol} ${JSON.stringify(first.s)} and ${this.#cfg.columns.ts} ${shownValue(first.k ?? 'NULL')} is refused`);
  }

  /**
   * Hash of the source name, the symbols in the page, the page's bounds and its values: the same
   * page read again has the same id (a no-op in the raw store), while a page whose rows were
   * corrected in the source since gets a new id and is stored (curated keeps the latest).
   */
  #batchId(events: readonly BarEvent[], rows: readonly PageRow[]): string {
    const symbols = [...new Set(events.map((e) => e.symbol))].sort();
    const first = rows[0] as PageRow;
    const last = rows[rows.length - 1] as PageRow;
    const h = createHash('sha256').update(JSON.stringify([this.name, this.#barSize, symbols, [first.k, first.s], [last.k, last.s], rows.length]));
    for (const r of rows) h.update(`\n${r.s}\t${r.k}\t${r.o}\t${r.h}\t${r.l}\t${r.c}\t${r.v}\t${r.w}\t${r.n}`);
    return `db-${this.name}-${h.digest('hex').slice(0, 32)}`;
  }
}
