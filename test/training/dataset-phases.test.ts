import { describe, expect, it } from 'vitest';
import { InstrumentCalendars } from '../../src/calendar/instrument-calendars.js';
import { InputError, UpstreamMissingError, VersionConflictError } from '../../src/core/errors.js';
import type { FeatureRegistryRecord } from '../../src/storage/feature-store.js';
import { checkDatasetColumns, planDatasetDates, resolveFeatureGroups } from '../../src/training/dataset-inputs.js';
import { datasetColumns, emptyDropped, tallyDatasetRows } from '../../src/training/dataset-rows.js';
import { TEST_INSTRUMENTS } from '../support/temp-lake.js';

const MIN = 60_000;
const HOUR = 3_600_000;
const record = (over: Partial<FeatureRegistryRecord> = {}): FeatureRegistryRecord => ({
  group: 'tech',
  version: 'v1',
  definition_hash: 'a'.repeat(64),
  definition: null,
  columns: ['sma_5', 'rsi_14'],
  mask_columns: [],
  registered_at: '2024-12-01T00:00:00.000Z',
  ...over,
});

describe('dataset phase: resolve feature groups', () => {
  const registry = (g: string, v: string): FeatureRegistryRecord | undefined => (g === 'tech' && v === 'v1' ? record() : undefined);

  it("takes each group's columns from its registry record, in file order", () => {
    const [g] = resolveFeatureGroups('ds', [{ name: 'tech', version: 'v1', ttlMs: 5 * MIN, configDefinitionHash: 'a'.repeat(64) }], registry);
    expect(g).toMatchObject({ name: 'tech', version: 'v1', ttlMs: 5 * MIN, columns: ['sma_5', 'rsi_14'] });
  });

  it('refuses an unwritten version, a changed definition, a bad TTL and no group, each with its error class', () => {
    expect(() => resolveFeatureGroups('ds', [{ name: 'tech', version: 'v2', ttlMs: 0 }], registry)).toThrow(UpstreamMissingError);
    expect(() => resolveFeatureGroups('ds', [{ name: 'tech', version: 'v1', ttlMs: 0, configDefinitionHash: 'b'.repeat(64) }], registry)).toThrow(VersionConflictError);
    expect(() => resolveFeatureGroups('ds', [{ name: 'tech', version: 'v1', ttlMs: -1 }], registry)).toThrow(/ttl must be a non-negative/);
    expect(() => resolveFeatureGroups('ds', [{ name: 'tech', version: 'v1', ttlMs: NaN }], registry)).toThrow(InputError);
    expect(() => resolveFeatureGroups('ds', [], registry)).toThrow(/at least one feature group/);
  });
});

describe('dataset phase: output columns', () => {
  it('lists keys, label, split, then per group its times, flag and features; a clash names both owners', () => {
    const groups = [
      { name: 'tech', columns: ['sma_5'] },
      { name: 'vol', columns: ['rv'] },
    ];
    expect(datasetColumns('fwd5', true, groups).map((c) => `${c.name}:${c.type}`)).toEqual([
      'symbol:VARCHAR',
      'ts:TIMESTAMPTZ',
      'session_date:DATE',
      'anchor_ts:TIMESTAMPTZ',
      'label_end_ts:TIMESTAMPTZ',
      'fwd5:DOUBLE',
      'label_imputed:BOOLEAN',
      'split:VARCHAR',
      'tech_ts:TIMESTAMPTZ',
      'tech_available_ts:TIMESTAMPTZ',
      'tech_is_imputed:BOOLEAN',
      'sma_5:DOUBLE',
      'vol_ts:TIMESTAMPTZ',
      'vol_available_ts:TIMESTAMPTZ',
      'vol_is_imputed:BOOLEAN',
      'rv:DOUBLE',
    ]);
    expect(datasetColumns('fwd5', false, groups).map((c) => c.name)).not.toContain('split');
    expect(() => checkDatasetColumns({ name: 'ds', split: undefined }, 'fwd5', groups)).not.toThrow();
    expect(() => checkDatasetColumns({ name: 'ds', split: undefined }, 'sma_5', groups)).toThrow('column sma_5 of feature group tech clashes with the dataset itself');
    expect(() => checkDatasetColumns({ name: 'ds', split: undefined }, 'fwd5', [...groups, { name: 'tech2', columns: ['rv'] }])).toThrow('column rv of feature group tech2 clashes with feature group vol');
    expect(() => checkDatasetColumns({ name: 'ds', split: undefined }, 'fwd5', [{ name: 'a', columns: ['b_ts'] }, { name: 'b', columns: [] }])).toThrow(/column b_ts/);
  });
});

describe('dataset phase: dates', () => {
  // XNYS around Thanksgiving 2024: Wed 27th full day, Thu 28th closed, Fri 29th closes at
  // 13:00 ET (210 one-minute bars), Mon 2 Dec full day. 09:30 ET = 14:30 UTC.
  const nyse = [new InstrumentCalendars(TEST_INSTRUMENTS).calendarFor('AAPL')];

  it('anchors every date of the range, traded ones per calendar; labels cross sessions until the horizon is covered', () => {
    const wed = { start: '2024-11-27', end: '2024-11-27' };
    const same = planDatasetDates(wed, { across_sessions: false, horizon_bars: 500 }, nyse, MIN, 0);
    expect(same.labelEnd).toBe('2024-11-27');
    expect(planDatasetDates(wed, { across_sessions: true, horizon_bars: 210 }, nyse, MIN, 0).labelEnd).toBe('2024-11-29');
    expect(planDatasetDates(wed, { across_sessions: true, horizon_bars: 211 }, nyse, MIN, 0).labelEnd).toBe('2024-12-02');
    const week = planDatasetDates({ start: '2024-11-27', end: '2024-11-29' }, { across_sessions: false, horizon_bars: 5 }, nyse, MIN, 0);
    expect(week.anchorDates).toEqual(['2024-11-27', '2024-11-28', '2024-11-29']);
    expect([...week.tradedDates].sort()).toEqual(['2024-11-27', '2024-11-29']);
  });

  it('reads features from the sessions before the first that can hold a row within the longest TTL', () => {
    const label = { across_sessions: false, horizon_bars: 5 };
    const wed = { start: '2024-11-27', end: '2024-11-27' };
    // The session before is always read (a row of the previous close can be the answer).
    expect(planDatasetDates(wed, label, nyse, MIN, 0).featureStart).toBe('2024-11-26');
    // Tue closes 21:00 UTC, 17.5 h before Wed's open: a 24 h TTL reaches back past it to Monday.
    expect(planDatasetDates(wed, label, nyse, MIN, 24 * HOUR).featureStart).toBe('2024-11-25');
    expect(planDatasetDates(wed, label, nyse, MIN, 17 * HOUR).featureStart).toBe('2024-11-26');
  });
});

describe('dataset phase: tally', () => {
  it('totals the written rows per symbol and split, spans only them, and counts purged and embargoed apart', () => {
    const rows = [
      { symbol: 'AAPL', split: 'train', n: 3, first: 100, last: 300, last_end: 400 },
      { symbol: 'AAPL', split: 'purged', n: 1, first: 50, last: 900, last_end: 990 },
      { symbol: 'MSFT', split: 'validation', n: 2, first: 500, last: 600, last_end: 700 },
      { symbol: 'MSFT', split: 'embargoed', n: 4, first: 10, last: 20, last_end: 30 },
    ];
    const t = tallyDatasetRows(rows, ['AAPL', 'MSFT', 'SPY'], true);
    expect(t.total).toBe(5);
    expect(t.bySplit).toEqual({ train: 3, validation: 2, test: 0 });
    expect(t.bySymbol).toEqual({ AAPL: { total: 3, train: 3, validation: 0, test: 0 }, MSFT: { total: 2, train: 0, validation: 2, test: 0 }, SPY: { total: 0, train: 0, validation: 0, test: 0 } });
    expect(t.span).toEqual({ first: 100, last: 600, last_end: 700 });
    expect([t.purged, t.embargoed]).toEqual([1, 4]);
    const all = tallyDatasetRows([{ symbol: 'AAPL', split: 'all', n: 7, first: 1, last: 2, last_end: 3 }], ['AAPL'], false);
    expect([all.total, all.bySplit, all.bySymbol]).toEqual([7, null, { AAPL: { total: 7 } }]);
    expect(tallyDatasetRows([], ['AAPL'], false).span).toEqual({ first: null, last: null, last_end: null });
  });

  it('starts every drop reason at zero', () => {
    const d = emptyDropped();
    expect(Object.values(d).every((n) => n === 0)).toBe(true);
    expect(Object.keys(d)).toEqual(expect.arrayContaining(['features_missing', 'features_stale', 'imputed_inputs', 'purged', 'embargoed']));
  });
});
