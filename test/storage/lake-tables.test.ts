import { mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { afterEach, beforeEach, describe, expect, expectTypeOf, it } from 'vitest';
import type { BarEvent } from '../../src/core/bars.js';
import { InputError, StorageError } from '../../src/core/errors.js';
import { sqlString } from '../../src/core/sql.js';
import { PredictionStore } from '../../src/storage/prediction-store.js';
import { QuarantineStore } from '../../src/storage/quarantine-store.js';
import { CURATED_BARS, type CuratedBarRow } from '../../src/storage/tables/curated-bars.js';
import { column, enumColumn, lakeTable, nullableColumn, type TableColumn } from '../../src/storage/tables/lake-table.js';
import { PREDICTIONS, type PredictionRow } from '../../src/storage/tables/predictions.js';
import { QUARANTINE, type QuarantineRow } from '../../src/storage/tables/quarantine.js';
import { RAW_BAR_READS, RAW_BARS, type RawBarRow } from '../../src/storage/tables/raw-bars.js';
import { openTempLake, type TempLake } from '../support/temp-lake.js';

// The columns as DESIGN §6 and the README's data layout name them, written out by hand.
const RAW_FILE = ['source', 'symbol', 'con_id', 'what_to_show', 'ts', 'open', 'high', 'low', 'close', 'volume', 'wap', 'trade_count', 'batch_id', 'ingestion_ts', 'request_id'];
const CURATED = [
  'symbol', 'ts', 'available_ts', 'open', 'high', 'low', 'close', 'volume', 'wap', 'trade_count', 'is_imputed', 'imputation',
  'open_imputed', 'high_imputed', 'low_imputed', 'close_imputed', 'volume_imputed', 'wap_imputed', 'trade_count_imputed',
];
const PREDICTION = [
  'symbol', 'ts', 'score', 'status', 'reason', 'model', 'model_id', 'model_version', 'feature_group', 'feature_version', 'feature_definition_hash',
  'feature_ts', 'feature_available_ts', 'feature_age_ms', 'feature_is_imputed', 'run_id', 'scored_at',
];
/** DuckDB's name of each declared type, as DESCRIBE prints it. */
const DUCKDB_TYPE: Record<string, string> = { VARCHAR: 'VARCHAR', DOUBLE: 'DOUBLE', BIGINT: 'BIGINT', BOOLEAN: 'BOOLEAN', TIMESTAMPTZ: 'TIMESTAMP WITH TIME ZONE' };

const T0 = Date.parse('2024-11-26T14:30:00Z');
const M = 60_000;

function curatedRow(symbol: string, ts: number, close: number | null): CuratedBarRow {
  const gap = close === null;
  return {
    symbol, ts, available_ts: ts + M, open: close, high: close, low: close, close, volume: gap ? null : 5, wap: gap ? null : 1.5, trade_count: gap ? null : 7,
    is_imputed: gap, imputation: gap ? 'none' : null,
    open_imputed: gap, high_imputed: gap, low_imputed: gap, close_imputed: gap, volume_imputed: gap, wap_imputed: gap, trade_count_imputed: gap,
  };
}

function prediction(symbol: string, ts: number, status: PredictionRow['status']): PredictionRow {
  const ok = status === 'ok';
  return {
    symbol, ts, score: ok ? 0.25 : null, status, reason: ok ? null : 'no feature row', model: 'm1', model_id: 'id-1', model_version: '3',
    feature_group: 'g', feature_version: '2', feature_definition_hash: 'abc', feature_ts: ok ? ts - M : null, feature_available_ts: ok ? ts : null,
    feature_age_ms: ok ? M : null, feature_is_imputed: ok ? false : null, run_id: 'run-1', scored_at: ts + 5_000,
  };
}

function quarantined(symbol: string, ts: number | null, rule: string): QuarantineRow {
  return {
    source: 'TWS', symbol, con_id: 265598, what_to_show: 'TRADES', ts, open: -1, high: 2, low: 0.5, close: 1, volume: 10, wap: null, trade_count: null,
    batch_id: 'b1', ingestion_ts: T0 + 10 * M, request_id: null, stage: 'validity', rule, reason: `${rule} failed`, other_rules: null,
  };
}

describe('lake table declarations', () => {
  it('derive the column list, SELECT list, relation schema and write batch in declaration order', () => {
    expect(RAW_BARS.names).toEqual(RAW_FILE);
    expect(RAW_BARS.select).toBe(RAW_FILE.join(', '));
    expect(RAW_BARS.withPartitions.map((c) => c.name)).toEqual([...RAW_FILE, 'bar_size', 'date']);
    expect(RAW_BAR_READS.names).toEqual([...RAW_FILE, 'bar_size']);
    expect(CURATED_BARS.names).toEqual(CURATED);
    expect(CURATED_BARS.withPartitions.map((c) => c.name)).toEqual([...CURATED, 'date']);
    expect(QUARANTINE.names).toEqual([...RAW_FILE, 'stage', 'rule', 'reason', 'other_rules']);
    expect(PREDICTIONS.names).toEqual(PREDICTION);
    expect(PREDICTIONS.select).toBe(PREDICTION.join(', '));
    // A quarantined record may lack anything but its symbol (and the why).
    expect(QUARANTINE.columns.filter((c) => !c.nullable).map((c) => c.name)).toEqual(['symbol', 'stage', 'rule', 'reason']);
    expect(QUARANTINE.columns.slice(0, RAW_FILE.length).map((c) => c.type)).toEqual(RAW_BARS.columns.map((c) => c.type));

    const rows = [curatedRow('AAPL', T0, 1), curatedRow('AAPL', T0 + M, null)];
    const batch = CURATED_BARS.columnBatch(rows);
    expect(Object.keys(batch)).toEqual(CURATED);
    expect(batch.close).toEqual([1, null]);
    expect(batch.is_imputed).toEqual([false, true]);
    expect(batch.trade_count_imputed).toEqual([false, true]);

    expect(() => lakeTable('t', [column('a', 'VARCHAR'), nullableColumn('a', 'DOUBLE')])).toThrow(/lake table t: column a declared twice/);
  });

  it('derive row types from the declaration (checked by the type check)', () => {
    expectTypeOf<CuratedBarRow['open']>().toEqualTypeOf<number | null>();
    expectTypeOf<CuratedBarRow['available_ts']>().toEqualTypeOf<number>();
    expectTypeOf<CuratedBarRow['wap_imputed']>().toEqualTypeOf<boolean>();
    expectTypeOf<RawBarRow['bar_size']>().toEqualTypeOf<string>();
    expectTypeOf<RawBarRow['con_id']>().toEqualTypeOf<number | null>();
    expectTypeOf<QuarantineRow['ts']>().toEqualTypeOf<number | null>();
    expectTypeOf<QuarantineRow['symbol']>().toEqualTypeOf<string>();
    expectTypeOf<PredictionRow['status']>().toEqualTypeOf<'ok' | 'stale' | 'missing' | 'incomplete'>();
    expectTypeOf<PredictionRow['feature_is_imputed']>().toEqualTypeOf<boolean | null>();
    expectTypeOf<keyof CuratedBarRow>().toEqualTypeOf<(typeof CURATED_BARS.columns)[number]['name']>();
  });

  it('parse refuses a missing column, a NULL where none may be, a wrong type or a value outside the set, naming table, column and row', () => {
    const good = CURATED_BARS.columnBatch([curatedRow('AAPL', T0, 1)]);
    const plain: Record<string, unknown> = Object.fromEntries(Object.entries(good).map(([k, v]) => [k, v[0]]));
    expect(CURATED_BARS.parseRows([{ ...plain, date: '2024-11-26' }])).toEqual([curatedRow('AAPL', T0, 1)]);
    const refused = (fn: () => unknown): StorageError => {
      try {
        fn();
      } catch (err) {
        expect(err).toBeInstanceOf(StorageError);
        return err as StorageError;
      }
      throw new Error('not refused');
    };
    const wrongType = refused(() => CURATED_BARS.parseRows([plain, { ...plain, ts: '2024-11-26 14:31:00+00' }]));
    expect(wrongType.message).toBe('curated row 1: column ts: expected TIMESTAMPTZ (NOT NULL), got the string "2024-11-26 14:31:00+00"');
    expect(wrongType.details).toEqual({ table: 'curated', column: 'ts', row: 1 });
    expect(refused(() => CURATED_BARS.parseRows([{ ...plain, is_imputed: null }])).message).toBe('curated row 0: column is_imputed: expected BOOLEAN (NOT NULL), got NULL');
    expect(refused(() => CURATED_BARS.parseRows([{ ...plain, trade_count: 1.5 }])).message).toBe('curated row 0: column trade_count: expected BIGINT or NULL, got the number 1.5');
    const { wap_imputed: _dropped, ...missing } = plain;
    expect(refused(() => CURATED_BARS.parseRows([missing])).message).toBe('curated row 0: column wap_imputed is missing from the result');
    const pred = Object.fromEntries(Object.entries(PREDICTIONS.columnBatch([prediction('AAPL', T0, 'ok')])).map(([k, v]) => [k, v[0]]));
    expect(refused(() => PREDICTIONS.parseRows([{ ...pred, status: 'bogus' }])).message).toBe(
      'predictions row 0: column status: expected one of "ok", "stale", "missing", "incomplete" (NOT NULL), got the string "bogus"',
    );
    // NULL is fine where declared so.
    expect(PREDICTIONS.parseRows([{ ...pred, score: null }])[0]?.score).toBeNull();
    const t = lakeTable('t', [enumColumn('side', ['buy', 'sell']), column('n', 'INTEGER')]);
    expect(t.parseRows([{ side: 'sell', n: 3 }])).toEqual([{ side: 'sell', n: 3 }]);
  });
});

describe('lake tables through a real temp lake', () => {
  let t: TempLake;
  beforeEach(async () => {
    t = await openTempLake();
  });
  afterEach(async () => {
    await t.cleanup();
  });

  /** (name, DuckDB type) of a Parquet file's columns. */
  async function fileSchema(file: string): Promise<[string, string][]> {
    const rows = await t.lake.query<{ column_name: string; column_type: string }>(`DESCRIBE SELECT * FROM read_parquet(${sqlString(file)}, hive_partitioning = false)`);
    return rows.map((r) => [r.column_name, r.column_type]);
  }
  const declared = (cols: readonly TableColumn[]): [string, string][] => cols.map((c) => [c.name, DUCKDB_TYPE[c.type] as string]);

  it('round trip: rows written by each store are read back equal, from files whose columns and types are the declaration', async () => {
    // Raw: a TWS bar with NaN prices is stored as received (NULL), to be quarantined by the transform.
    const bar = (ts: number, close: number): BarEvent => ({
      source: 'TWS', symbol: 'AAPL', conId: 265598, barSize: '1 min', whatToShow: 'TRADES', ts, open: close, high: close + 1, low: close - 1, close, volume: 100,
      wap: close === close ? close : null, tradeCount: 12, requestId: 'req-7',
    });
    await t.raw.writeTwsBars([bar(T0, 10), bar(T0 + M, NaN)], 'b-1', T0 + 5 * M);
    const raw = await t.raw.readTwsBars({ start: '2024-11-26', end: '2024-11-26' });
    const stored = (ts: number, close: number | null): RawBarRow => ({
      source: 'TWS', symbol: 'AAPL', con_id: 265598, bar_size: '1min', what_to_show: 'TRADES', ts, open: close, high: close === null ? null : close + 1, low: close === null ? null : close - 1, close,
      volume: 100, wap: close, trade_count: 12, batch_id: 'b-1', ingestion_ts: T0 + 5 * M, request_id: 'req-7',
    });
    expect(raw).toEqual([stored(T0, 10), stored(T0 + M, null)]);
    const [rawFile] = t.raw.visibleFiles('1 min').get('2024-11-26') ?? [];
    expect(await fileSchema(rawFile as string)).toEqual(declared(RAW_BARS.columns));

    const curated = [curatedRow('AAPL', T0, 10), curatedRow('AAPL', T0 + M, null), curatedRow('MSFT', T0, 20)];
    await t.curated.writeCuratedBars(curated, 'bars_1min', '2024-11-26');
    expect(await t.curated.readCuratedBars('bars_1min', undefined, '2024-11-26', '2024-11-26')).toEqual(curated);
    expect(await fileSchema(t.curated.partitionFile('bars_1min', '2024-11-26'))).toEqual(declared(CURATED_BARS.columns));

    const quarantine = new QuarantineStore(t.lake);
    const q = [quarantined('AAPL', null, 'valid_ts'), quarantined('AAPL', T0, 'positive_price')];
    await quarantine.replace('bars_1min', '2024-11-26', ['AAPL'], q);
    expect(await quarantine.read('bars_1min', '2024-11-26')).toEqual(q);
    expect(await fileSchema(quarantine.partitionFile('bars_1min', '2024-11-26'))).toEqual(declared(QUARANTINE.columns));

    const predictions = new PredictionStore(t.lake);
    const p = [prediction('AAPL', T0, 'ok'), prediction('MSFT', T0, 'missing')];
    await predictions.writePredictions('m1', '2024-11-26', p);
    expect(await predictions.readPredictions('m1', '2024-11-26')).toEqual(p);
    expect(await fileSchema(predictions.partitionFile('m1', '2024-11-26'))).toEqual(declared(PREDICTIONS.columns));
  });

  it('each table keeps one file per name and session date under its root, and refuses names and dates that would leave it', () => {
    const quarantine = new QuarantineStore(t.lake);
    const predictions = new PredictionStore(t.lake);
    expect(t.curated.partitionFile('bars_1min', '2024-11-26')).toBe(join(t.dir, 'curated', 'bars_1min', 'date=2024-11-26', 'data.parquet'));
    expect(quarantine.partitionFile('bars_1min', '2024-11-26')).toBe(join(t.dir, 'quarantine', 'bars_1min', 'date=2024-11-26', 'data.parquet'));
    expect(predictions.partitionFile('Model-1.2', '2024-11-26')).toBe(join(t.dir, 'predictions', 'Model-1.2', 'date=2024-11-26', 'data.parquet'));
    expect(() => t.curated.partitionFile('../raw', '2024-11-26')).toThrow(new InputError('dataset name "../raw" must match ^[a-z][a-z0-9_]{0,63}$'));
    expect(() => quarantine.partitionFile('Bars', '2024-11-26')).toThrow(InputError);
    expect(() => predictions.partitionFile('../m', '2024-11-26')).toThrow(new InputError('model name "../m" must match ^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$'));
    expect(() => predictions.partitionFile('m', '2024-11-26/..')).toThrow(new InputError('date must be YYYY-MM-DD, got "2024-11-26/.."'));
  });

  it('a file whose column has another type is refused at the read, naming the table and column', async () => {
    const file = t.curated.partitionFile('bars_1min', '2024-11-26');
    mkdirSync(dirname(file), { recursive: true });
    // Everything right but is_imputed, written as text by some other tool.
    const cols = CURATED_BARS.columns.map((c) => (c.name === 'is_imputed' ? `'no' AS is_imputed` : c.name === 'symbol' ? `'AAPL' AS symbol` : c.type === 'BOOLEAN' ? `false AS ${c.name}` : c.name.endsWith('ts') ? `TIMESTAMPTZ '2024-11-26 14:30:00+00' AS ${c.name}` : `CAST(1 AS ${c.type}) AS ${c.name}`));
    await t.lake.run(`COPY (SELECT ${cols.join(', ')}) TO ${sqlString(file)} (FORMAT parquet)`);
    const err = await t.curated.readCuratedBars('bars_1min', undefined, '2024-11-26', '2024-11-26').then(
      () => null,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(StorageError);
    expect((err as StorageError).message).toBe('curated row 0: column is_imputed: expected BOOLEAN (NOT NULL), got the string "no"');

    const predictions = new PredictionStore(t.lake);
    await predictions.writePredictions('m1', '2024-11-26', [prediction('AAPL', T0, 'ok')]);
    const pfile = predictions.partitionFile('m1', '2024-11-26');
    await t.lake.run(`COPY (SELECT * REPLACE ('maybe' AS status) FROM read_parquet(${sqlString(pfile)})) TO ${sqlString(`${pfile}.x`)} (FORMAT parquet)`);
    await t.lake.run(`COPY (SELECT * FROM read_parquet(${sqlString(`${pfile}.x`)})) TO ${sqlString(pfile)} (FORMAT parquet)`);
    await expect(predictions.readPredictions('m1', '2024-11-26')).rejects.toThrow(/^predictions row 0: column status: expected one of "ok", "stale", "missing", "incomplete" \(NOT NULL\), got the string "maybe"$/);
  });
});
