import { z } from 'zod';
import { BAR_SIZES, type BarSize } from '../core/bars.js';
import { checkTimeZone } from './bar-value-rules.js';

/**
 * The `sources:` config slice: extra bar sources declared by `type`. Adding a source type is a
 * schema here, an ingestor file, and one factory line in ingestor-registry.ts (which the
 * compiler demands once the type is in this union).
 */

const sourceName = z.string().regex(/^[a-z0-9][a-z0-9_-]{0,39}$/, 'expected lowercase letters, digits, _ or -, at most 40 characters');
const barSize = z.enum(Object.keys(BAR_SIZES) as [BarSize, ...BarSize[]]);
const column = z.string().min(1).max(63);
/** A YYYY-MM-DD date (00:00 UTC) or an ISO-8601 instant with Z or an offset. */
const instant = z
  .string()
  .regex(/^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:?\d{2}))?$/i, 'expected YYYY-MM-DD or an ISO-8601 instant with Z or an offset');

/** An IANA zone name this Node knows (its tz data), e.g. America/New_York or UTC. */
const timeZone = z.string().refine(
  (zone) => {
    try {
      checkTimeZone(zone);
      return true;
    } catch {
      return false;
    }
  },
  { message: 'expected an IANA time zone, e.g. America/New_York or UTC' },
);

/** CSV / Parquet files (symbol, ts, open, high, low, close, volume[, wap, trade_count]). */
export const fileSourceConfigSchema = z
  .object({
    type: z.literal('file'),
    name: sourceName,
    /** Files, or folders whose *.csv / *.parquet files are read (not recursively). Each file is one idempotent batch. */
    paths: z.array(z.string().min(1)).min(1),
    /**
     * Zone of zone-less `ts` values (CSV text without Z or offset, Parquet TIMESTAMP without time
     * zone). Without it they are refused; they are never read as UTC silently.
     */
    ts_timezone: timeZone.optional(),
  })
  .strict();
export type FileSourceConfig = z.infer<typeof fileSourceConfigSchema>;

const DEFAULT_RETRY = { retries: 6, initial_delay_ms: 500, max_delay_ms: 30_000 };

/** A PostgreSQL / TimescaleDB table, view or query of bars. Credentials come from the environment only. */
export const postgresSourceConfigSchema = z
  .object({
    type: z.literal('postgres'),
    name: sourceName,
    /** `table` or `schema.table` (a view or a hypertable works too); names are used verbatim (case-sensitive). */
    table: z.string().regex(/^[^.]+(\.[^.]+)?$/, 'expected "table" or "schema.table"').optional(),
    /** A SELECT producing the mapped columns; `$1`, `$2` … are bound from `params`. */
    query: z.string().min(1).optional(),
    params: z.array(z.union([z.string(), z.number(), z.boolean()])).default([]),
    /** Which column holds each field; `wap` and `trade_count` are optional. */
    columns: z
      .object({
        symbol: column,
        ts: column,
        open: column,
        high: column,
        low: column,
        close: column,
        volume: column,
        wap: column.optional(),
        trade_count: column.optional(),
      })
      .strict(),
    /** Whether `ts` labels the bar's start (ibpipe's convention) or its end. */
    ts_label: z.enum(['start', 'end']).default('start'),
    /** Unit of an integer `ts` column (epoch); required for integer columns, ignored for timestamps. */
    ts_epoch_unit: z.enum(['s', 'ms', 'us']).optional(),
    /**
     * Zone of a `timestamp` (without time zone) `ts` column; required for such a column (it is never
     * read as UTC silently), ignored for timestamptz and epoch columns.
     */
    ts_timezone: timeZone.optional(),
    /** Instrument key → value in the symbol column, where they differ. */
    symbol_map: z.record(z.string(), z.string().min(1)).default({}),
    /** Instruments this source serves; default every configured instrument. */
    symbols: z.array(z.string()).min(1).optional(),
    /** Bar size of the rows; default `tws.historical_bar_size`. */
    bar_size: barSize.optional(),
    /** Earliest bar to ingest; the watermark starts here. */
    start: instant.optional(),
    /** Rows per page; each page is one raw batch. */
    page_size: z.number().int().min(1).max(1_000_000).default(10_000),
    /** Name of an environment variable holding a postgres:// URL; without it, PGHOST, PGPORT, PGUSER, PGPASSWORD, PGDATABASE. */
    url_env: z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'expected an environment variable name').optional(),
    statement_timeout_ms: z.number().int().positive().default(300_000),
    connect_timeout_ms: z.number().int().positive().default(10_000),
    /** Backoff for connection errors (per page: the page is re-read after reconnecting). */
    retry: z
      .object({
        retries: z.number().int().min(0).max(100).default(DEFAULT_RETRY.retries),
        initial_delay_ms: z.number().int().min(0).default(DEFAULT_RETRY.initial_delay_ms),
        max_delay_ms: z.number().int().min(0).default(DEFAULT_RETRY.max_delay_ms),
      })
      .strict()
      .default(DEFAULT_RETRY),
  })
  .strict()
  .superRefine((cfg, ctx) => {
    if ((cfg.table === undefined) === (cfg.query === undefined)) {
      ctx.addIssue({ code: 'custom', path: ['table'], message: 'set exactly one of table or query' });
    }
    if (cfg.table !== undefined && cfg.params.length > 0) {
      ctx.addIssue({ code: 'custom', path: ['params'], message: 'params are only for query' });
    }
  });
export type PostgresSourceConfig = z.infer<typeof postgresSourceConfigSchema>;

/** Completed sessions a `tws` source backfills when nothing of an instrument is stored yet and no start is given. */
export const DEFAULT_TWS_SOURCE_SESSIONS = 5;

/** IB history through the gateway in `tws:` (bar size, pacing), for the configured instruments. */
export const twsSourceConfigSchema = z
  .object({
    type: z.literal('tws'),
    name: sourceName,
    /**
     * A run without a start begins, per instrument, at the session of its newest stored raw bar;
     * with nothing stored, this many completed sessions back (the daemon's catch-up rule).
     */
    default_sessions: z.number().int().min(1).max(250).default(DEFAULT_TWS_SOURCE_SESSIONS),
    /**
     * Client id of the source's own connection (default `tws.client_id`). IB refuses a second
     * connection with an id in use: give one of its own to run it while the daemon is connected.
     */
    client_id: z.number().int().min(0).optional(),
  })
  .strict();
export type TwsSourceConfig = z.infer<typeof twsSourceConfigSchema>;

/**
 * A user-defined ingestor: a JavaScript (or, run from a checkout, TypeScript) module whose export
 * is a factory returning an object that implements the `Ingestor` contract (src/data-sources/
 * ingestor.ts; the factory's arguments in module-ingestor.ts). `module` is resolved relative to
 * the config file's directory.
 */
export const moduleSourceConfigSchema = z
  .object({
    type: z.literal('module'),
    name: sourceName,
    module: z.string().min(1),
    /** Name of the factory export; `default` for `export default`. */
    export: z.string().regex(/^[A-Za-z_$][A-Za-z0-9_$]*$/, 'expected a JavaScript export name').default('default'),
    /** Handed to the factory as is. */
    options: z.record(z.string(), z.unknown()).default({}),
    /** Instruments this source serves; default every configured instrument. */
    symbols: z.array(z.string()).min(1).optional(),
    /** Bar size of its bars; default `tws.historical_bar_size`. */
    bar_size: barSize.optional(),
    /** Environment variables (credentials, endpoints) the factory may read; it sees no others. */
    env: z.array(z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'expected an environment variable name')).default([]),
  })
  .strict();
export type ModuleSourceConfig = z.infer<typeof moduleSourceConfigSchema>;

export const sourceConfigSchema = z.discriminatedUnion('type', [fileSourceConfigSchema, postgresSourceConfigSchema, twsSourceConfigSchema, moduleSourceConfigSchema]);
export type SourceConfig = z.infer<typeof sourceConfigSchema>;
export type SourceType = SourceConfig['type'];

export const sourcesConfigSchema = z.array(sourceConfigSchema).superRefine((sources, ctx) => {
  const seen = new Map<string, number>();
  sources.forEach((s, i) => {
    const prev = seen.get(s.name);
    if (prev !== undefined) ctx.addIssue({ code: 'custom', path: [i, 'name'], message: `duplicate source name ${s.name} (also sources[${prev}])` });
    seen.set(s.name, i);
  });
});
