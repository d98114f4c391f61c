import type { InstrumentCalendars } from '../calendar/instrument-calendars.js';
import type { Clock } from '../core/clock.js';
import { FeatureRegistryStore, type FeatureRegistration, type FeatureRegistryRecord } from './feature-registry-store.js';
import { InferenceFeatureStore, type InferenceFeatureRow } from './inference-feature-store.js';
import type { ColumnData, LakeRow, Lake } from './lake.js';
import { OfflineFeatureStore, type FeaturePartitionsWrite, type FeatureWrite, type FeatureWriteResult } from './offline-feature-store.js';

export type { FeatureRegistration, FeatureRegistryRecord } from './feature-registry-store.js';
export type { InferenceFeatureRow } from './inference-feature-store.js';
export type { FeaturePartitionsWrite, FeatureWrite, FeatureWriteResult } from './offline-feature-store.js';

/**
 * The feature store (DESIGN §6, §7): the registry of group versions, the offline store of
 * date partitions and the inference lookups, wired so that a replaced partition drops out of
 * the inference caches. The app context owns one, so those caches outlive each scoring run.
 *
 * Point in time: a row stamped `ts` holds values computed from bars up to and including that
 * bar and is `available_ts` = ts + bar length; inference reads compare `available_ts <= as_of`,
 * never `ts`.
 */
export class FeatureStore {
  readonly registry: FeatureRegistryStore;
  readonly offline: OfflineFeatureStore;
  readonly inference: InferenceFeatureStore;

  /** `cacheColumns: false`: see {@link InferenceFeatureStore}. */
  constructor(lake: Lake, calendars: InstrumentCalendars, clock: Clock, options: { cacheColumns?: boolean } = {}) {
    this.registry = new FeatureRegistryStore(lake, clock);
    this.offline = new OfflineFeatureStore(lake, this.registry, (file) => this.inference.forgetPartition(file));
    this.inference = new InferenceFeatureStore(lake, calendars, this.registry, this.offline, options);
  }

  // The methods below forward to the three parts; their contracts are documented there.

  registeredVersion(group: string, version: string): FeatureRegistryRecord | undefined {
    return this.registry.registeredVersion(group, version);
  }

  registeredVersions(): FeatureRegistryRecord[] {
    return this.registry.registeredVersions();
  }

  ensureRegistered(w: FeatureRegistration): FeatureRegistryRecord {
    return this.registry.ensureRegistered(w);
  }

  partitionFile(group: string, version: string, date: string): string {
    return this.offline.partitionFile(group, version, date);
  }

  existingFiles(group: string, version: string, dates: readonly string[]): { date: string; file: string }[] {
    return this.offline.existingFiles(group, version, dates);
  }

  writeFeatures(w: FeatureWrite, data: ColumnData, rowCount: number): Promise<FeatureWriteResult> {
    return this.offline.writeFeatures(w, data, rowCount);
  }

  writeFeaturesFromRelation(w: FeaturePartitionsWrite, relation: string | ((date: string) => string), options: { ordered?: boolean } = {}): Promise<FeatureWriteResult> {
    return this.offline.writeFeaturesFromRelation(w, relation, options);
  }

  trainingRelationSql(group: string, version: string, start: string, end: string, symbols?: readonly string[]): string {
    return this.offline.trainingRelationSql(group, version, start, end, symbols);
  }

  getFeaturesForTraining(group: string, version: string, start: string, end: string, symbols?: readonly string[]): Promise<LakeRow[]> {
    return this.offline.getFeaturesForTraining(group, version, start, end, symbols);
  }

  getFeaturesForInference(group: string, version: string, asOf: number, symbols: readonly string[], ttlMs: number): Promise<InferenceFeatureRow[]> {
    return this.inference.getFeaturesForInference(group, version, asOf, symbols, ttlMs);
  }

  newestRowStarts(group: string, version: string, date: string, symbols: readonly string[]): Promise<Map<string, number>> {
    return this.inference.newestRowStarts(group, version, date, symbols);
  }

  preloadPartition(group: string, version: string, date: string): Promise<void> {
    return this.inference.preloadPartition(group, version, date);
  }
}
