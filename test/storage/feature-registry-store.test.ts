import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/core/clock.js';
import { InputError, VersionConflictError } from '../../src/core/errors.js';
import { sqlKeySet } from '../../src/core/sql.js';
import { FeatureRegistryStore, type FeatureRegistration } from '../../src/storage/feature-registry-store.js';
import { openTempLake, type TempLake } from '../support/temp-lake.js';

const HASH_A = 'a'.repeat(64);
const HASH_B = 'b'.repeat(64);

let t: TempLake;
beforeAll(async () => {
  t = await openTempLake();
});
afterAll(async () => t.cleanup());

const reg = (over: Partial<FeatureRegistration> = {}): FeatureRegistration => ({
  group: 'technical',
  version: 'v1',
  definitionHash: HASH_A,
  definition: { features: ['f'] },
  featureColumns: ['f', 'g'],
  maskColumns: ['close_imputed'],
  ...over,
});

const ledgerLines = (): Record<string, unknown>[] =>
  readFileSync(t.lake.path('state', 'feature_registry.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);

describe('FeatureRegistryStore', () => {
  it('records a version once, stamped by its clock, and returns the first record on later calls', async () => {
    const clock = new ManualClock(Date.parse('2024-12-01T10:00:00Z'));
    const registry = new FeatureRegistryStore(t.lake, clock);
    expect(registry.registeredVersion('technical', 'v1')).toBeUndefined();
    const first = registry.ensureRegistered(reg());
    expect(first).toEqual({
      group: 'technical',
      version: 'v1',
      definition_hash: HASH_A,
      definition: { features: ['f'] },
      columns: ['f', 'g'],
      mask_columns: ['close_imputed'],
      registered_at: '2024-12-01T10:00:00.000Z',
    });
    await clock.set(Date.parse('2024-12-02T10:00:00Z'));
    // Same definition again (other columns given do not matter: the version is already fixed).
    expect(registry.ensureRegistered(reg({ featureColumns: ['x'] }))).toEqual(first);
    expect(ledgerLines()).toHaveLength(1);
  });

  it('another instance (another process) sees the version and refuses a changed definition under it', () => {
    const other = new FeatureRegistryStore(t.lake, new ManualClock(0));
    expect(other.registeredVersion('technical', 'v1')?.definition_hash).toBe(HASH_A);
    expect(() => other.ensureRegistered(reg({ definitionHash: HASH_B }))).toThrow(VersionConflictError);
    expect(() => other.ensureRegistered(reg({ definitionHash: HASH_B }))).toThrow(/feature group technical version v1 .*bump the version/);
    other.ensureRegistered(reg({ version: 'v2', definitionHash: HASH_B, maskColumns: undefined }));
    expect(other.registeredVersions().map((r) => [r.version, r.definition_hash, r.mask_columns])).toEqual([
      ['v1', HASH_A, ['close_imputed']],
      ['v2', HASH_B, []],
    ]);
    expect(ledgerLines().map((r) => r.version)).toEqual(['v1', 'v2']);
  });

  it('rejects names that cannot be paths or identifiers, naming what is wrong, and records nothing', () => {
    const registry = new FeatureRegistryStore(t.lake, new ManualClock(0));
    expect(() => registry.ensureRegistered(reg({ group: 'Tech' }))).toThrow(/^group "Tech" must match/);
    expect(() => registry.ensureRegistered(reg({ version: '../v1' }))).toThrow(/^version "\.\.\/v1" must match/);
    expect(() => registry.ensureRegistered(reg({ version: 'v9', definitionHash: 'not-a-hash' }))).toThrow(InputError);
    expect(ledgerLines()).toHaveLength(2);
  });
});

describe('sqlKeySet', () => {
  it('is a set DuckDB can test membership against, empty for no keys, and refuses an invalid key', async () => {
    const [r] = await t.lake.query<{ a: boolean; z: boolean; none: boolean; notNone: boolean }>(
      `SELECT 'AAPL' IN ${sqlKeySet(['MSFT', 'AAPL'])} AS a, 'ZZZ' IN ${sqlKeySet(['MSFT', 'AAPL'])} AS z,
              'AAPL' IN ${sqlKeySet([])} AS none, 'AAPL' NOT IN ${sqlKeySet([])} AS notNone`,
    );
    expect(r).toEqual({ a: true, z: false, none: false, notNone: true });
    expect(() => sqlKeySet(["AAPL'; DROP TABLE x; --"])).toThrow(/invalid instrument key/);
  });
});
