import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { StorageError } from '../../../src/core/errors.js';
import {
  FEATURE_KEY_COLUMNS,
  featureFileColumnNames,
  featureFileSelect,
  featureRowColumns,
  featureRowSelect,
  parseFeatureKey,
  type FeatureFixedRow,
  type FeatureTableSchema,
} from '../../../src/storage/tables/features.js';
import { openTempLake, type TempLake } from '../../support/temp-lake.js';

let t: TempLake;
beforeAll(async () => {
  t = await openTempLake();
});
afterAll(async () => t.cleanup());

const TABLE: FeatureTableSchema = { group: 'technical', version: 'v1', definitionHash: 'a'.repeat(64), featureColumns: ['sma_5', 'rsi_14'], maskColumns: ['close_imputed'] };

describe('features table declaration', () => {
  it('lists the file columns (DESIGN §6 order: fixed, masks, features) and the columns a write takes (no group-version stamps)', () => {
    const fixed = ['symbol', 'ts', 'available_ts', 'feature_group', 'version', 'definition_hash', 'is_imputed', 'imputation'];
    expect(FEATURE_KEY_COLUMNS.map((c) => c.name)).toEqual(fixed);
    expect(featureFileColumnNames(TABLE)).toEqual([...fixed, 'close_imputed', 'sma_5', 'rsi_14']);
    expect(featureRowColumns(TABLE).map((c) => `${c.name} ${c.type}`)).toEqual([
      'symbol VARCHAR',
      'ts TIMESTAMPTZ',
      'available_ts TIMESTAMPTZ',
      'is_imputed BOOLEAN',
      'imputation VARCHAR',
      'close_imputed BOOLEAN',
      'sma_5 DOUBLE',
      'rsi_14 DOUBLE',
    ]);
    expect(featureRowColumns({ featureColumns: ['x'] }).map((c) => c.name)).toEqual(['symbol', 'ts', 'available_ts', 'is_imputed', 'imputation', 'x']);
  });

  it('file SELECT stamps the group version, casts each column to its type and turns NaN and ±Infinity into NULL', async () => {
    const rows = `(SELECT * FROM (VALUES
        ('AAPL', TIMESTAMPTZ '2024-11-26 15:00:00+00', TIMESTAMPTZ '2024-11-26 15:01:00+00', 1, NULL, 0, 'NaN'::DOUBLE, 42),
        ('MSFT', TIMESTAMPTZ '2024-11-26 15:00:00+00', TIMESTAMPTZ '2024-11-26 15:02:00+00', 0, 'ffill', 1, 'Infinity'::DOUBLE, '-Infinity'::DOUBLE)
      ) v(symbol, ts, available_ts, is_imputed, imputation, close_imputed, sma_5, rsi_14))`;
    const [described, got] = await Promise.all([
      t.lake.query<{ column_name: string; column_type: string }>(`DESCRIBE SELECT ${featureFileSelect(TABLE)} FROM ${rows}`),
      t.lake.query(`SELECT ${featureFileSelect(TABLE)} FROM ${rows} ORDER BY symbol`),
    ]);
    expect(described.map((d) => `${d.column_name} ${d.column_type}`)).toEqual([
      'symbol VARCHAR',
      'ts TIMESTAMP WITH TIME ZONE',
      'available_ts TIMESTAMP WITH TIME ZONE',
      'feature_group VARCHAR',
      'version VARCHAR',
      'definition_hash VARCHAR',
      'is_imputed BOOLEAN',
      'imputation VARCHAR',
      'close_imputed BOOLEAN',
      'sma_5 DOUBLE',
      'rsi_14 DOUBLE',
    ]);
    const t0 = Date.parse('2024-11-26T15:00:00Z');
    expect(got).toEqual([
      { symbol: 'AAPL', ts: t0, available_ts: t0 + 60_000, feature_group: 'technical', version: 'v1', definition_hash: TABLE.definitionHash, is_imputed: true, imputation: null, close_imputed: false, sma_5: null, rsi_14: 42 },
      { symbol: 'MSFT', ts: t0, available_ts: t0 + 120_000, feature_group: 'technical', version: 'v1', definition_hash: TABLE.definitionHash, is_imputed: false, imputation: 'ffill', close_imputed: true, sma_5: null, rsi_14: null },
    ]);
  });

  it('row SELECT takes each column from its expression (default: its own name) and casts it', async () => {
    const select = featureRowSelect(TABLE, {
      row: { symbol: "upper(s)", available_ts: "ts + INTERVAL 5 MINUTE", imputation: 'NULL' },
      mask: (m) => `NOT ${m}`,
      feature: (f) => `${f} * 2`,
    });
    const [r] = await t.lake.query(
      `SELECT ${select} FROM (SELECT 'aapl' AS s, TIMESTAMPTZ '2024-11-26 15:00:00+00' AS ts, 1 AS is_imputed, true AS close_imputed, 1.5 AS sma_5, 2 AS rsi_14)`,
    );
    const t0 = Date.parse('2024-11-26T15:00:00Z');
    expect(r).toEqual({ symbol: 'AAPL', ts: t0, available_ts: t0 + 300_000, is_imputed: true, imputation: null, close_imputed: false, sma_5: 3, rsi_14: 4 });
  });

  it('parses the key of a row read back, and names the file when a row is not a feature row', () => {
    const key: Pick<FeatureFixedRow, 'symbol' | 'ts' | 'available_ts' | 'is_imputed'> = parseFeatureKey({ symbol: 'AAPL', ts: 1, available_ts: 2, is_imputed: null, f: 3 }, 'x.parquet');
    expect(key).toEqual({ symbol: 'AAPL', ts: 1, available_ts: 2, is_imputed: null });
    expect(parseFeatureKey({ symbol: 'AAPL', ts: 1, available_ts: 2, is_imputed: true }, 'x.parquet').is_imputed).toBe(true);
    expect(() => parseFeatureKey({ symbol: 'AAPL', ts: 1 }, '/lake/features/t/v=1/date=2024-11-26/data.parquet')).toThrow(StorageError);
    expect(() => parseFeatureKey({ symbol: null, ts: 1, available_ts: 2 }, 'y.parquet')).toThrow(/feature file y\.parquet/);
  });
});
