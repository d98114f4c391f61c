import { mkdirSync } from 'node:fs';
import type { TradingCalendar } from '../calendar/trading-calendar.js';
import { BAR_SIZES, type BarEvent, type BarSize } from '../core/bars.js';
import type { Clock } from '../core/clock.js';
import { ConfigError, IbpipeError, InputError, type IbpipeErrorOptions } from '../core/errors.js';
import { loadUserExport } from '../core/user-module.js';
import type { Instrument } from '../core/instruments.js';
import type { Logger } from '../core/logger.js';
import type { WriteBatchResult } from '../storage/raw-store.js';
import { isPlausibleInstant, PROBLEMS, shownValue } from './bar-value-rules.js';
import type { IngestBatch, IngestRequest, IngestWorkItem, Ingestor } from './ingestor.js';
import type { ModuleSourceConfig } from './sources-config.js';
import type { WatermarkStore } from './watermark-store.js';

/**
 * A bar as a source module yields it: a `BarEvent` whose bookkeeping fields may be left out.
 * Omitted, `source` is the ingestor's `source`, `barSize` the source's bar size, `whatToShow`
 * and `conId` the instrument's, `wap`, `tradeCount` and `requestId` null. Given, they must agree
 * (same source and bar size) or be well-formed.
 */
export type SourceBar = Pick<BarEvent, 'symbol' | 'ts' | 'open' | 'high' | 'low' | 'close' | 'volume'> & Partial<Omit<BarEvent, 'symbol' | 'ts' | 'open' | 'high' | 'low' | 'close' | 'volume'>>;

/** A batch as a source module yields it: an `IngestBatch` of `SourceBar`s (no SQL `relation`). */
export interface SourceBatch {
  /** Deterministic (see IngestBatch.batchId); `^[A-Za-z0-9._-]{1,80}$`. Stored as `<source name>.<batchId>`. */
  readonly batchId: string;
  readonly events: readonly SourceBar[];
  readonly label?: string | undefined;
  /** Called after the raw store committed the batch (see IngestBatch.acknowledge). */
  acknowledge?(result: WriteBatchResult): Promise<void> | void;
}

/**
 * What a source module's factory returns: the `Ingestor` contract (src/data-sources/ingestor.ts)
 * with `name` taken from the config and `source` optional. Any `Ingestor` whose batches carry
 * `events` qualifies.
 */
export interface SourceModule {
  /** Value of the `source` column of its bars, `^[A-Z][A-Z0-9_]{0,31}$`; default MODULE. */
  readonly source?: string;
  plan(request: IngestRequest): Promise<readonly IngestWorkItem[]> | readonly IngestWorkItem[];
  run(request: IngestRequest): AsyncIterable<SourceBatch> | Iterable<SourceBatch>;
}

/** What a source module's factory receives (one object, so fields can be added without breaking modules). */
export interface SourceModuleContext {
  /** The config name of the source. */
  readonly name: string;
  /** The entry's `options`, as written. */
  readonly options: Readonly<Record<string, unknown>>;
  /** The instruments this source serves (its `symbols`, default all), as configured. */
  readonly instruments: readonly Instrument[];
  readonly barSize: BarSize;
  /** Length of one bar in ms. */
  readonly barMs: number;
  /** The process clock: modules read time here, so tests can drive them with a manual clock. */
  readonly clock: Pick<Clock, 'now'>;
  readonly logger: Logger;
  /** Only the environment variables the entry lists under `env`. */
  readonly env: Readonly<Record<string, string | undefined>>;
  /** A folder of the lake (`state/sources/<name>`) for the module's own progress state. */
  readonly stateDir: string;
  /** Trading calendar of a served instrument. */
  calendarFor(symbol: string): TradingCalendar;
  /**
   * Start of the newest bar per symbol that this source has had committed (epoch ms), kept by
   * ibpipe: advanced after each batch's commit, before the module's `acknowledge`. Where an
   * incremental run resumes from.
   */
  watermarks(): ReadonlyMap<string, number>;
}

/** `export default function (ctx) { return { plan, run } }` (or an async one). */
export type SourceModuleFactory = (ctx: SourceModuleContext) => SourceModule | Promise<SourceModule>;

/** A source module threw while planning, producing or acknowledging; `retryable` follows the thrown error's own flag. */
export class SourceModuleError extends IbpipeError {
  readonly code = 'SOURCE_MODULE_FAILED';
  readonly retryable: boolean;
  constructor(message: string, retryable: boolean, options?: IbpipeErrorOptions) {
    super(message, options);
    this.retryable = retryable;
  }
}

export const DEFAULT_MODULE_SOURCE = 'MODULE';
/** Rows one module batch may hold: a batch is checked and staged in memory whole. */
export const MAX_MODULE_BATCH_ROWS = 1_000_000;
const USER_BATCH_ID = /^[A-Za-z0-9._-]{1,80}$/;
const SOURCE_VALUE = /^[A-Z][A-Z0-9_]{0,31}$/;
const WHAT_TO_SHOW = /^[A-Z_]{1,32}$/;

export interface ModuleIngestorDeps {
  readonly config: ModuleSourceConfig;
  /** Every configured instrument (the source serves `config.symbols` of them, default all). */
  readonly instruments: readonly Instrument[];
  readonly barSize: BarSize;
  readonly clock: Clock;
  readonly logger: Logger;
  readonly env: Readonly<Record<string, string | undefined>>;
  readonly stateDir: string;
  readonly watermarks: WatermarkStore;
  readonly calendarFor: (symbol: string) => TradingCalendar;
}

/**
 * The factory a module source names, loaded but not called (calling it is the run's business):
 * a ConfigError naming the source and module when the file is missing, does not load, lacks the
 * export, or exports something other than a function. `ibpipe config check` uses it too.
 */
export async function loadSourceFactory(config: Pick<ModuleSourceConfig, 'module' | 'export'>, name: string): Promise<SourceModuleFactory> {
  const factory = await loadUserExport(config.module, config.export, `source ${name}`);
  if (typeof factory !== 'function') {
    const issue = `source ${name} (module ${config.module}): export ${JSON.stringify(config.export)} is a ${typeof factory}, expected a factory function (ctx) => ({ plan, run })`;
    throw new ConfigError(issue, [issue]);
  }
  return factory as SourceModuleFactory;
}

/**
 * The `module` source type: loads the user's module (on the first plan / run), and holds what it
 * yields to the rules of every other ingest edge before anything reaches the raw store. Each
 * bar is checked (a configured instrument the source serves, an integer epoch-ms `ts` in the
 * plausible range and inside the requested window, finite prices and volume, the source's bar
 * size); one bad bar refuses its whole batch with an InputError naming the source, the module,
 * the batch, the row and the field, and nothing of that batch is written. Bars that are
 * well-formed but implausible as market data (high below low, negative volume …) are stored
 * raw and quarantined by the transform's DQ rules, as for every source.
 */
export class ModuleIngestor implements Ingestor {
  readonly name: string;
  readonly #d: ModuleIngestorDeps;
  readonly #what: string;
  readonly #served: Instrument[];
  readonly #byKey: Map<string, Instrument>;
  #module: Promise<SourceModule> | null = null;
  #source = DEFAULT_MODULE_SOURCE;

  constructor(deps: ModuleIngestorDeps) {
    this.#d = deps;
    this.name = deps.config.name;
    this.#what = `source ${this.name} (module ${deps.config.module})`;
    const all = new Map(deps.instruments.map((i) => [i.key, i]));
    const unknown = (deps.config.symbols ?? []).filter((s) => !all.has(s));
    if (unknown.length > 0) {
      const issue = `sources.${this.name}.symbols: not a configured instrument: ${unknown.join(', ')}`;
      throw new ConfigError(issue, [issue]);
    }
    this.#served = deps.config.symbols ? deps.instruments.filter((i) => deps.config.symbols?.includes(i.key)) : [...deps.instruments];
    this.#byKey = new Map(this.#served.map((i) => [i.key, i]));
  }

  /** Value of the `source` column (known once the module is loaded; MODULE before). */
  get source(): string {
    return this.#source;
  }

  async plan(request: IngestRequest): Promise<IngestWorkItem[]> {
    const mod = await this.#load();
    const req = this.#request(request);
    try {
      return [...(await mod.plan(req))];
    } catch (err) {
      throw this.#failure('plan', err, request.signal);
    }
  }

  async *run(request: IngestRequest): AsyncGenerator<IngestBatch> {
    const mod = await this.#load();
    const req = this.#request(request);
    let iterator: AsyncIterator<SourceBatch> | Iterator<SourceBatch>;
    try {
      const iterable = mod.run(req) as Partial<AsyncIterable<SourceBatch> & Iterable<SourceBatch>> | null | undefined;
      const make = (iterable?.[Symbol.asyncIterator] ?? iterable?.[Symbol.iterator]) as ((this: unknown) => AsyncIterator<SourceBatch> | Iterator<SourceBatch>) | undefined;
      if (typeof make !== 'function') throw new TypeError('run() returned neither an async iterable nor an iterable of batches');
      iterator = make.call(iterable);
    } catch (err) {
      throw this.#failure('run', err, request.signal);
    }
    const seen = new Set<string>();
    let finished = false;
    try {
      for (;;) {
        let step: IteratorResult<SourceBatch>;
        try {
          step = await iterator.next();
        } catch (err) {
          finished = true;
          throw this.#failure('run', err, request.signal);
        }
        if (step.done) {
          finished = true;
          return;
        }
        yield this.#checked(step.value, req, seen);
      }
    } finally {
      // Stopped early (the consumer failed or was aborted): let the module release what it holds.
      if (!finished) await Promise.resolve(iterator.return?.()).catch(() => undefined);
    }
  }

  #load(): Promise<SourceModule> {
    this.#module ??= this.#instantiate();
    return this.#module;
  }

  async #instantiate(): Promise<SourceModule> {
    const { config } = this.#d;
    const factory = await loadSourceFactory(config, this.name);
    const stateDir = `${this.#d.stateDir}/sources/${this.name}`;
    mkdirSync(stateDir, { recursive: true });
    const ctx: SourceModuleContext = Object.freeze({
      name: this.name,
      options: config.options,
      instruments: this.#served,
      barSize: this.#d.barSize,
      barMs: BAR_SIZES[this.#d.barSize],
      clock: { now: () => this.#d.clock.now() },
      logger: this.#d.logger.child({ source: this.name }),
      env: Object.freeze(Object.fromEntries(config.env.map((n) => [n, this.#d.env[n]]))),
      stateDir,
      calendarFor: (symbol: string) => {
        if (!this.#byKey.has(symbol)) throw new InputError(`${this.#what}: ${symbol} is not an instrument this source serves`);
        return this.#d.calendarFor(symbol);
      },
      watermarks: () => new Map([...this.#d.watermarks.read(this.name)].map(([s, m]) => [s, m.ts])),
    });
    let mod: unknown;
    try {
      mod = await factory(ctx);
    } catch (err) {
      throw this.#configError(`the factory threw: ${err instanceof Error ? err.message : String(err)}`, err);
    }
    const m = mod as Partial<SourceModule> | null;
    if (m === null || typeof m !== 'object' || typeof m.run !== 'function' || typeof m.plan !== 'function') {
      throw this.#configError('the factory must return an object with plan(request) and run(request) methods (the Ingestor contract)');
    }
    if (m.source !== undefined) {
      if (typeof m.source !== 'string' || !SOURCE_VALUE.test(m.source)) throw this.#configError(`source ${JSON.stringify(m.source)} must match ${SOURCE_VALUE.source}`);
      this.#source = m.source;
    }
    return m as SourceModule;
  }

  /** The module sees the symbols spelled out (default: every served instrument). */
  #request(request: IngestRequest): IngestRequest {
    if (request.symbols !== undefined) {
      const unknown = request.symbols.filter((s) => !this.#byKey.has(s));
      if (unknown.length > 0) throw new InputError(`${this.#what} does not serve ${unknown.join(', ')} (serves ${[...this.#byKey.keys()].join(', ')})`);
    }
    const symbols = request.symbols === undefined ? this.#served.map((i) => i.key) : this.#served.filter((i) => request.symbols?.includes(i.key)).map((i) => i.key);
    return Object.freeze({ symbols: Object.freeze(symbols), start: request.start, end: request.end, signal: request.signal });
  }

  /** One batch held to the edge's rules, as an IngestBatch under its namespaced id. */
  #checked(batch: SourceBatch, request: IngestRequest, seen: Set<string>): IngestBatch {
    const b = batch as Partial<SourceBatch> & { relation?: unknown } | null;
    if (b === null || typeof b !== 'object') throw this.#refuse(`run() yielded ${b === null ? 'null' : typeof b}, expected a batch { batchId, events }`);
    if (typeof b.batchId !== 'string' || !USER_BATCH_ID.test(b.batchId)) throw this.#refuse(`batch id ${JSON.stringify(b.batchId)} must match ${USER_BATCH_ID.source}`);
    const where = `${this.#what}: batch ${b.batchId}`;
    if (seen.has(b.batchId)) throw new InputError(`${where}: the same batch id was yielded twice in one run`, { details: { source: this.name, batchId: b.batchId } });
    seen.add(b.batchId);
    if (b.relation !== undefined) throw new InputError(`${where}: a module batch carries its bars in events (relation is for built-in sources)`);
    if (!Array.isArray(b.events)) throw new InputError(`${where}: events must be an array of bars`);
    if (b.events.length > MAX_MODULE_BATCH_ROWS) throw new InputError(`${where}: ${b.events.length} bars; a batch holds at most ${MAX_MODULE_BATCH_ROWS} (split it)`);
    const events = b.events.map((e, i) => this.#event(e, i, where, request));
    const ack = typeof b.acknowledge === 'function' ? b.acknowledge.bind(b) : undefined;
    const batchId = `${this.name}.${b.batchId}`;
    return {
      batchId,
      events,
      label: typeof b.label === 'string' ? b.label : b.batchId,
      acknowledge: async (result: WriteBatchResult) => {
        // The rows are committed (written now or before): the source's watermarks may move.
        const last = new Map<string, { ts: number; key: string }>();
        for (const e of events) if ((last.get(e.symbol)?.ts ?? -Infinity) < e.ts) last.set(e.symbol, { ts: e.ts, key: new Date(e.ts).toISOString() });
        this.#d.watermarks.advance(this.name, batchId, this.#d.clock.now(), last);
        if (!ack) return;
        try {
          await ack(result);
        } catch (err) {
          throw this.#failure(`acknowledge of batch ${b.batchId}`, err, request.signal);
        }
      },
    };
  }

  #event(e: unknown, row: number, where: string, request: IngestRequest): BarEvent {
    const refuse = (field: string, value: unknown, problem: string): never => {
      const shown = value === undefined ? '' : `${shownValue(typeof value === 'string' ? value : String(value))} `;
      throw new InputError(`${where}: row ${row}: ${field}: ${shown}${problem}`, { details: { source: this.name, module: this.#d.config.module, row, field } });
    };
    if (e === null || typeof e !== 'object') return refuse('bar', e === null ? 'null' : typeof e, 'is not an object');
    const bar = e as Record<string, unknown>;
    const symbol = bar.symbol;
    const inst = typeof symbol === 'string' ? this.#byKey.get(symbol) : undefined;
    if (!inst) return refuse('symbol', symbol, this.#d.instruments.some((i) => i.key === symbol) ? 'is not an instrument this source serves (symbols)' : 'is not a configured instrument');
    const ts = bar.ts;
    if (typeof ts !== 'number' || !Number.isSafeInteger(ts)) return refuse('ts', ts, 'is not an integer epoch-ms instant');
    // Shown as an instant where Date can (a wrong unit reads better as a date), else as the number.
    const shownTs = Math.abs(ts) <= 8.64e15 ? new Date(ts).toISOString() : String(ts);
    if (!isPlausibleInstant(ts)) refuse('ts', shownTs, PROBLEMS.range);
    if ((request.start !== undefined && ts < request.start) || (request.end !== undefined && ts >= request.end)) {
      refuse('ts', shownTs, 'is outside the requested window');
    }
    const num = (field: 'open' | 'high' | 'low' | 'close' | 'volume'): number => {
      const v = bar[field];
      if (v === undefined || v === null) return refuse(field, undefined, PROBLEMS.missing);
      if (typeof v !== 'number') return refuse(field, v, 'is not a number');
      if (!Number.isFinite(v)) refuse(field, v, PROBLEMS.nonFinite);
      return v;
    };
    const opt = <T>(field: string, fallback: T, check: (v: unknown) => string | null): T => {
      const v = bar[field];
      if (v === undefined) return fallback;
      const problem = check(v);
      return problem === null ? (v as T) : refuse(field, v, problem);
    };
    const source = opt('source', this.#source, (v) => (v === this.#source ? null : `differs from the ingestor's source ${this.#source}`));
    const barSize = opt('barSize', this.#d.barSize, (v) => (v === this.#d.barSize ? null : `differs from the source's bar size ${this.#d.barSize}`));
    const whatToShow = opt('whatToShow', inst.what_to_show as string, (v) => (typeof v === 'string' && WHAT_TO_SHOW.test(v) ? null : `is not a what_to_show (${WHAT_TO_SHOW.source})`));
    const conId = opt<number | null>('conId', inst.con_id ?? null, (v) => (v === null || Number.isSafeInteger(v) ? null : PROBLEMS.integer));
    const wap = opt<number | null>('wap', null, (v) => (v === null || (typeof v === 'number' && Number.isFinite(v)) ? null : PROBLEMS.nonFinite));
    const tradeCount = opt<number | null>('tradeCount', null, (v) => (v === null || Number.isSafeInteger(v) ? null : PROBLEMS.integer));
    const requestId = opt<string | null>('requestId', null, (v) => (v === null || (typeof v === 'string' && v.length <= 128) ? null : 'is not a string of at most 128 characters'));
    return { source, symbol: inst.key, conId, barSize, whatToShow, ts, open: num('open'), high: num('high'), low: num('low'), close: num('close'), volume: num('volume'), wap, tradeCount, requestId };
  }

  #refuse(problem: string): InputError {
    return new InputError(`${this.#what}: ${problem}`, { details: { source: this.name, module: this.#d.config.module } });
  }

  #configError(problem: string, cause?: unknown): ConfigError {
    const issue = `${this.#what}: ${problem}`;
    return new ConfigError(issue, [issue], cause === undefined ? undefined : { cause });
  }

  /** An error the module threw, named after the source and module; an abort stays an abort. */
  #failure(during: string, err: unknown, signal: AbortSignal | undefined): unknown {
    if (signal?.aborted) return err;
    const retryable = (err as { retryable?: unknown } | null)?.retryable === true;
    return new SourceModuleError(`${this.#what}: ${during} failed: ${err instanceof Error ? err.message : String(err)}`, retryable, {
      cause: err,
      details: { source: this.name, module: this.#d.config.module },
    });
  }
}
