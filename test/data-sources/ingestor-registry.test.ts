import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { instrumentConfigSchema } from '../../src/config/instrument-config.js';
import { settingsSchema } from '../../src/config/settings.js';
import { ManualClock } from '../../src/core/clock.js';
import { ConfigError, InputError, TimeoutError } from '../../src/core/errors.js';
import { runIngestSources } from '../../src/jobs/ingest-sources-job.js';
import { parseWindowEdge } from '../../src/data-sources/ingestor.js';
import { createIngestor, sourceEnvNames } from '../../src/data-sources/ingestor-registry.js';
import { classifyPgError, DbAccessError, DbConnectionError, DbQueryError, pgTargetFromEnv, retryDelayMs, SourceSchemaError } from '../../src/data-sources/pg-connection.js';
import { sourcesConfigSchema } from '../../src/data-sources/sources-config.js';
import { silentLogger } from '../../src/ops/logging-setup.js';
import { openTempLake, type TempLake } from '../support/temp-lake.js';

const INSTRUMENTS = ['AAPL', 'MSFT'].map((key) =>
  instrumentConfigSchema.parse({ key, symbol: key, sec_type: 'STK', exchange: 'SMART', currency: 'USD', calendar: 'XNYS' }),
);
const COLUMNS = { symbol: 's', ts: 't', open: 'o', high: 'h', low: 'l', close: 'c', volume: 'v' };

describe('sources config', () => {
  it('is a union on type; postgres needs exactly one of table or query; names are unique', () => {
    const ok = sourcesConfigSchema.parse([
      { type: 'file', name: 'drop', paths: ['./incoming'] },
      { type: 'postgres', name: 'warehouse', table: 'market.bars', columns: COLUMNS },
    ]);
    expect(ok[1]).toMatchObject({ page_size: 10_000, ts_label: 'start', retry: { retries: 6, initial_delay_ms: 500, max_delay_ms: 30_000 } });
    const issues = (v: unknown): string[] => {
      const r = sourcesConfigSchema.safeParse(v);
      return r.success ? [] : r.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
    };
    expect(issues([{ type: 'postgres', name: 'w', columns: COLUMNS }])).toEqual(['0.table: set exactly one of table or query']);
    expect(issues([{ type: 'postgres', name: 'w', table: 't', query: 'SELECT 1', columns: COLUMNS }])).toEqual(['0.table: set exactly one of table or query']);
    expect(issues([{ type: 'postgres', name: 'w', table: 't', params: [1], columns: COLUMNS }])).toEqual(['0.params: params are only for query']);
    expect(issues([{ type: 'file', name: 'a', paths: ['x'] }, { type: 'file', name: 'a', paths: ['y'] }])).toEqual(['1.name: duplicate source name a (also sources[0])']);
    expect(issues([{ type: 'mysql', name: 'a' }])[0]).toMatch(/^0\.type: /);
  });

  it('is part of the root settings and defaults to no sources', () => {
    const base = { instruments: [{ key: 'AAPL', sec_type: 'STK', symbol: 'AAPL', exchange: 'SMART', currency: 'USD', calendar: 'XNYS' }] };
    expect(settingsSchema.parse(base).sources).toEqual([]);
    expect(settingsSchema.safeParse({ ...base, sources: [{ type: 'file', name: 'x', paths: [] }] }).success).toBe(false);
  });

  it('the CLI passes down only the variables the configured sources read', () => {
    const sources = sourcesConfigSchema.parse([
      { type: 'file', name: 'drop', paths: ['.'] },
      { type: 'postgres', name: 'a', table: 't', columns: COLUMNS, url_env: 'A_URL' },
    ]);
    expect(sourceEnvNames(sources)).toEqual(['A_URL']);
    expect(sourceEnvNames([...sources, ...sourcesConfigSchema.parse([{ type: 'postgres', name: 'b', table: 't', columns: COLUMNS }])]).sort()).toEqual(
      ['A_URL', 'PGDATABASE', 'PGHOST', 'PGPASSWORD', 'PGPORT', 'PGSSLMODE', 'PGUSER'],
    );
  });
});

describe('PostgreSQL connection helpers', () => {
  it('classifies pg and socket errors by SQLSTATE / errno, not by luck', () => {
    const pgErr = (code: string, message = 'x'): Error => Object.assign(new Error(message), { code });
    expect(classifyPgError(pgErr('ECONNREFUSED'), 'w')).toBeInstanceOf(DbConnectionError);
    expect(classifyPgError(pgErr('57P01', 'terminating connection due to administrator command'), 'w')).toBeInstanceOf(DbConnectionError);
    expect(classifyPgError(pgErr('08006'), 'w')).toBeInstanceOf(DbConnectionError);
    expect(classifyPgError(new Error('Connection terminated unexpectedly'), 'w').retryable).toBe(true);
    expect(classifyPgError(pgErr('40001'), 'w')).toMatchObject({ retryable: true });
    expect(classifyPgError(pgErr('57014'), 'w')).toBeInstanceOf(TimeoutError);
    expect(classifyPgError(pgErr('28P01'), 'w')).toBeInstanceOf(DbAccessError);
    expect(classifyPgError(pgErr('3D000'), 'w')).toMatchObject({ retryable: false, exitCode: 2 });
    expect(classifyPgError(pgErr('42P01'), 'w')).toBeInstanceOf(SourceSchemaError);
    const other = classifyPgError(pgErr('22012', 'division by zero'), 'w');
    expect(other).toBeInstanceOf(DbQueryError);
    expect(other.retryable).toBe(false);
    expect(other.message).toBe('source w: division by zero (22012)');
  });

  it('backoff doubles from the initial delay up to the cap', () => {
    const p = { retries: 6, initialDelayMs: 500, maxDelayMs: 3_000 };
    expect([1, 2, 3, 4, 5].map((n) => retryDelayMs(n, p))).toEqual([500, 1000, 2000, 3000, 3000]);
  });

  it('reads the target from the variables passed down; the loggable label never holds credentials', () => {
    const a = pgTargetFromEnv({ PGHOST: 'db.example', PGPORT: '6432', PGUSER: 'reader', PGPASSWORD: 'pw1', PGDATABASE: 'market' }, { source: 'w', connectTimeoutMs: 1000 });
    expect(a.config).toMatchObject({ host: 'db.example', port: 6432, user: 'reader', password: 'pw1', database: 'market', application_name: 'ibpipe:w' });
    expect(a.label).toBe('db.example:6432/market');
    const b = pgTargetFromEnv({ W_URL: 'postgres://reader:pw2@ts.example:5433/bars?sslmode=require' }, { source: 'w', urlEnv: 'W_URL', connectTimeoutMs: 1000 });
    expect(b.label).toBe('ts.example:5433/bars');
    expect(() => pgTargetFromEnv({}, { source: 'w', urlEnv: 'W_URL', connectTimeoutMs: 1000 })).toThrow(ConfigError);
    expect(() => pgTargetFromEnv({ PGPORT: 'abc' }, { source: 'w', connectTimeoutMs: 1000 })).toThrow(/PGPORT/);
  });

  it('window edges: a day starts at 00:00 UTC, an end day is inclusive, instants need a zone', () => {
    expect(parseWindowEdge('2024-01-02', 'start')).toBe(Date.UTC(2024, 0, 2));
    expect(parseWindowEdge('2024-01-02', 'end')).toBe(Date.UTC(2024, 0, 3));
    expect(parseWindowEdge('2024-01-02T09:30:00-05:00', 'end')).toBe(Date.UTC(2024, 0, 2, 14, 30));
    expect(() => parseWindowEdge('2024-01-02T09:30:00', 'start')).toThrow(InputError);
    expect(() => parseWindowEdge('2024-02-30', 'start')).toThrow(InputError);
    expect(() => parseWindowEdge('2024-02-30T10:00:00Z', 'start')).toThrow(/not a calendar date/);
  });
});

describe('file source through the registry', () => {
  let t: TempLake;
  beforeEach(async () => {
    t = await openTempLake();
  });
  afterEach(async () => {
    await t.cleanup();
  });

  it('reads a folder of files, one idempotent batch per file; a narrowed request gets its own batch id', async () => {
    const folder = join(t.dir, 'incoming');
    mkdirSync(folder);
    writeFileSync(join(folder, 'a.csv'), 'symbol,ts,open,high,low,close,volume\nAAPL,2024-01-02T14:30:00Z,1,2,0.5,1.5,10\nMSFT,2024-01-02T14:30:00Z,3,4,2,3.5,20\n');
    writeFileSync(join(folder, 'b.csv'), 'symbol,ts,open,high,low,close,volume\nAAPL,2024-01-02T14:31:00Z,1,2,0.5,1.5,11\n');
    writeFileSync(join(folder, 'notes.txt'), 'ignored');
    const [cfg] = sourcesConfigSchema.parse([{ type: 'file', name: 'drop', paths: [folder] }]);
    const ctx = { lake: t.lake, rawStore: t.raw, clock: new ManualClock(), logger: silentLogger(), instruments: INSTRUMENTS, barSize: '1 min' as const, env: {} };
    const ing = createIngestor(cfg!, ctx);
    expect(ing).toMatchObject({ name: 'drop', source: 'FILE' });
    expect((await ing.plan({})).map((w) => w.label)).toEqual([join(folder, 'a.csv'), join(folder, 'b.csv')]);

    const narrowed = await runIngestSources({ ...ctx, sources: [cfg!] }, { symbols: ['AAPL'] });
    expect(narrowed[0]).toMatchObject({ batches: 2, rowsWritten: 2 });
    const [first, second] = narrowed[0]!.outcomes;
    expect(first!.batchId).toMatch(/^file-[0-9a-f]{32}-[0-9a-f]{12}$/); // a.csv lost its MSFT row
    expect(second!.batchId).toMatch(/^file-[0-9a-f]{32}$/); // b.csv is whole: the plain file id

    const full = await runIngestSources({ ...ctx, sources: [cfg!] }, {});
    expect(full[0]).toMatchObject({ batches: 2, batchesWritten: 1, rowsWritten: 2 });
    // narrowed a.csv (1) + b.csv (1) + whole a.csv (2); AAPL 14:30 twice, as raw allows (curated dedups)
    expect((await t.raw.readTwsBars({ start: '2024-01-02', end: '2024-01-02' })).length).toBe(4);
    await expect(runIngestSources({ ...ctx, sources: [cfg!] }, { types: ['postgres'] })).rejects.toThrow(/no postgres source is configured/);
    await expect(runIngestSources({ ...ctx, sources: [cfg!] }, { sources: ['nope'] })).rejects.toThrow(/no configured source named nope/);
  });
});
