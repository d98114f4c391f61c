import type { Clock } from '../core/clock.js';
import { VersionConflictError } from '../core/errors.js';
import { checkFeatureName, type FeatureTableSchema } from './tables/features.js';
import type { Lake } from './lake.js';
import { JsonlLedger } from './state-store.js';
import { stateLedgerPath } from './state-ledgers.js';

/** One feature-group version as recorded in `state/feature_registry.jsonl`. */
export interface FeatureRegistryRecord {
  readonly group: string;
  readonly version: string;
  /** sha256 of the canonical definition: the identity of what this version computes. */
  readonly definition_hash: string;
  /** The canonical definition itself (source and feature specs), so an old version can be recomputed. */
  readonly definition: unknown;
  /** Feature output columns, in file order. */
  readonly columns: readonly string[];
  /** Gap-mask columns carried from the source (besides is_imputed), in file order. */
  readonly mask_columns: readonly string[];
  readonly registered_at: string;
}

/** What registering a group version takes: its table (identity and columns) and its definition. */
export interface FeatureRegistration extends FeatureTableSchema {
  /** Canonical definition, stored in the registry the first time this version is written. */
  readonly definition?: unknown;
}

/**
 * The registry of feature-group versions (DESIGN §6): which definition hash each (group,
 * version) was first written with, in `state/feature_registry.jsonl`. A version's definition
 * never changes; a changed definition needs a new version (VERSION_CONFLICT otherwise).
 */
export class FeatureRegistryStore {
  readonly #clock: Clock;
  readonly #ledger: JsonlLedger<FeatureRegistryRecord>;

  constructor(lake: Lake, clock: Clock) {
    this.#clock = clock;
    this.#ledger = new JsonlLedger<FeatureRegistryRecord>(stateLedgerPath(lake, 'feature_registry'));
  }

  /** The registry record of a group version, if it was ever written. */
  registeredVersion(group: string, version: string): FeatureRegistryRecord | undefined {
    return this.#ledger.readAll().find((r) => r.group === group && r.version === version);
  }

  /** Every registered version, in registration order. */
  registeredVersions(): FeatureRegistryRecord[] {
    return [...this.#ledger.readAll()];
  }

  /**
   * Records a group version's definition hash the first time it is written and checks it on
   * every later write: a changed definition under an existing version throws
   * VersionConflictError naming the group (bump the version instead).
   */
  ensureRegistered(w: FeatureRegistration): FeatureRegistryRecord {
    checkFeatureName('group', w.group);
    checkFeatureName('version', w.version);
    checkFeatureName('definition hash', w.definitionHash);
    const existing = this.registeredVersion(w.group, w.version);
    if (existing) {
      if (existing.definition_hash !== w.definitionHash) {
        throw new VersionConflictError(
          `feature group ${w.group} version ${w.version} was registered with a different definition (hash ${existing.definition_hash.slice(0, 12)}…, now ${w.definitionHash.slice(0, 12)}…): bump the version`,
          { details: { group: w.group, version: w.version, registered: existing.definition_hash, attempted: w.definitionHash } },
        );
      }
      return existing;
    }
    const record: FeatureRegistryRecord = {
      group: w.group,
      version: w.version,
      definition_hash: w.definitionHash,
      definition: w.definition ?? null,
      columns: [...w.featureColumns],
      mask_columns: [...(w.maskColumns ?? [])],
      registered_at: new Date(this.#clock.now()).toISOString(),
    };
    this.#ledger.append(record);
    // Two writers registering the same new version at once: the first line in the ledger wins.
    const winner = this.registeredVersion(w.group, w.version);
    if (winner && winner.definition_hash !== w.definitionHash) return this.ensureRegistered(w);
    return winner ?? record;
  }
}
