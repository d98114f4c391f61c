import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { LakeColumn } from '../storage/lake.js';
import { InputError } from '../core/errors.js';
import { canonicalJson } from '../core/canonical-json.js';
import { fsyncPathAsync, type Lake } from '../storage/lake.js';
import { tempName } from '../storage/temp-files.js';
import type { LabelDropReason } from './labels.js';
import type { SplitName } from './time-split.js';
import type { DatasetSpec, LabelSpec } from './training-config.js';

/*
 * The dataset store: owns the layout of `datasets/<name>/<id>/` (data.parquet + manifest.json),
 * the manifest's format and its content id, publishing a build atomically, and finding a dataset
 * by id. The builder (dataset-builder.ts) and the trainer (scoring/models/dataset-trainer.ts)
 * go through it.
 */

export const DATASET_FORMAT = 'ibpipe-dataset';
export const DATASET_DATA_FILE = 'data.parquet';
export const DATASET_MANIFEST_FILE = 'manifest.json';

/** Length of a dataset id: hex characters of the manifest's sha256 (64 bits). */
const ID_LENGTH = 16;
const DATASET_ID = /^[0-9a-f]{16}$/;

/** A Parquet file the dataset was built from, with the sha256 of its bytes. */
export interface DatasetSource {
  readonly kind: 'curated' | 'aligned' | 'features';
  /** Bar dataset name, or `<group>/v=<version>`. */
  readonly dataset: string;
  readonly date: string;
  /** Relative to the lake root, `/`-separated. */
  readonly path: string;
  readonly sha256: string;
}

export type DatasetDropReason = LabelDropReason | 'features_missing' | 'features_stale' | 'imputed_inputs' | 'purged' | 'embargoed';

export interface DatasetManifest {
  readonly format: typeof DATASET_FORMAT;
  readonly format_version: 1;
  /** sha256 (first 16 hex) of the canonical JSON of every other field of this manifest. */
  readonly id: string;
  readonly name: string;
  /** The dataset entry as configured (defaults applied). */
  readonly config: DatasetSpec;
  readonly label: LabelSpec;
  /** The bar dataset the labels were computed from. */
  readonly source: { readonly kind: 'curated' | 'aligned'; readonly name: string };
  readonly bar_ms: number;
  readonly feature_groups: readonly {
    readonly name: string;
    readonly version: string;
    readonly definition_hash: string;
    readonly columns: readonly string[];
    readonly ttl_ms: number;
  }[];
  /** Session dates of the anchors, and the instants the rows actually span (ISO 8601, UTC). */
  readonly time_range: {
    readonly start: string;
    readonly end: string;
    readonly first_anchor: string | null;
    readonly last_anchor: string | null;
    readonly last_label_end: string | null;
  };
  /** Columns of data.parquet, in order. */
  readonly columns: readonly LakeColumn[];
  /** Feature columns (all groups, in order) and the label column: what a trainer uses. */
  readonly feature_columns: readonly string[];
  readonly label_column: string;
  readonly rows: {
    readonly total: number;
    /** Present when the config has a split. */
    readonly by_split: Partial<Record<SplitName, number>> | null;
    readonly by_symbol: Readonly<Record<string, { readonly total: number } & Partial<Record<SplitName, number>>>>;
  };
  /** Anchors (bars in range) that produced no row, by the first reason that applied. */
  readonly dropped: Readonly<Record<DatasetDropReason, number>>;
  readonly split: {
    readonly spec: NonNullable<DatasetSpec['split']>;
    readonly validation_start: string | null;
    readonly test_start: string | null;
  } | null;
  readonly sources: readonly DatasetSource[];
  /** Session dates on which some symbol's exchange traded but a partition the build needed was absent. */
  readonly missing_partitions: readonly { readonly kind: 'curated' | 'aligned' | 'features'; readonly dataset: string; readonly date: string }[];
  readonly data: { readonly file: string; readonly sha256: string; readonly bytes: number };
}

/** What buildTrainingDataset returns (and `ibpipe run dataset` prints as JSON). */
export interface DatasetHandle {
  readonly id: string;
  /** Folder holding data.parquet and manifest.json. */
  readonly path: string;
  readonly manifest: DatasetManifest;
}

/** The dataset id for a manifest (every field but `id`). */
export function datasetIdOf(manifest: Omit<DatasetManifest, 'id'> | DatasetManifest): string {
  const { id: _id, ...rest } = manifest as DatasetManifest;
  return createHash('sha256').update(canonicalJson(rest)).digest('hex').slice(0, ID_LENGTH);
}

/** A hidden folder beside the datasets of `name` to write a build into; publishDataset names it by its id. */
export function stageDataset(lake: Lake, name: string): string {
  const parent = lake.path('datasets', name);
  mkdirSync(parent, { recursive: true });
  const tmpDir = join(parent, tempName('dataset'));
  mkdirSync(tmpDir);
  return tmpDir;
}

/**
 * Writes the manifest into the staged folder (whose data file is written), makes both durable and
 * renames the folder to `datasets/<name>/<id>`. The same id means the same manifest, including the
 * data hash: if that dataset exists already, the staged folder is dropped (`created: false`).
 */
export async function publishDataset(lake: Lake, name: string, tmpDir: string, manifest: DatasetManifest): Promise<{ path: string; created: boolean }> {
  const parent = lake.path('datasets', name);
  writeFileSync(join(tmpDir, DATASET_MANIFEST_FILE), `${JSON.stringify(manifest, null, 2)}\n`);
  await fsyncPathAsync(join(tmpDir, DATASET_DATA_FILE));
  await fsyncPathAsync(join(tmpDir, DATASET_MANIFEST_FILE));
  await fsyncPathAsync(tmpDir);
  const target = lake.path('datasets', name, manifest.id);
  if (existsSync(join(target, DATASET_MANIFEST_FILE))) {
    rmSync(tmpDir, { recursive: true, force: true });
    return { path: target, created: false };
  }
  rmSync(target, { recursive: true, force: true });
  renameSync(tmpDir, target);
  await fsyncPathAsync(parent);
  return { path: target, created: true };
}

/** Reads and checks the manifest of dataset `id` (optionally under `name`); throws InputError when absent. */
export function findDataset(lake: Lake, id: string, name?: string): DatasetHandle {
  if (!DATASET_ID.test(id)) throw new InputError(`dataset id must be ${ID_LENGTH} hex characters, got ${JSON.stringify(id)}`);
  const names = name !== undefined ? [name] : datasetNames(lake);
  for (const n of names) {
    const dir = lake.path('datasets', n, id);
    const file = join(dir, DATASET_MANIFEST_FILE);
    if (!existsSync(file)) continue;
    let manifest: DatasetManifest;
    try {
      manifest = JSON.parse(readFileSync(file, 'utf8')) as DatasetManifest;
    } catch (err) {
      throw new InputError(`${file}: not valid JSON (${(err as Error).message})`, { cause: err });
    }
    if (manifest.format !== DATASET_FORMAT || manifest.id !== id) throw new InputError(`${file}: not an ibpipe dataset manifest for ${id}`);
    return { id, path: dir, manifest };
  }
  throw new InputError(`no dataset ${id} under ${lake.path('datasets')}${name !== undefined ? `/${name}` : ''}; build one with \`ibpipe run dataset\``, {
    details: { id, name: name ?? null },
  });
}

function datasetNames(lake: Lake): string[] {
  const root = lake.path('datasets');
  if (!existsSync(root)) return [];
  // Names only, to resolve an id; no data is globbed.
  return readdirSync(root)
    .filter((n) => /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/.test(n))
    .sort();
}
