import { randomBytes } from 'node:crypto';
import { rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { InstrumentCalendars } from '../calendar/instrument-calendars.js';
import { InputError, StorageError } from '../core/errors.js';
import { sqlString } from '../core/sql.js';
import { silentLogger, type Logger } from '../core/logger.js';
import { sourceRelationSql, type SourceDataset } from '../pipelines/source-dataset.js';
import type { FeatureStore } from '../storage/feature-store.js';
import type { Lake } from '../storage/lake.js';
import { DATASET_DATA_FILE, DATASET_FORMAT, datasetIdOf, publishDataset, stageDataset, type DatasetDropReason, type DatasetHandle, type DatasetManifest } from './dataset-store.js';
import { resolveDatasetInputs, sha256File, type DatasetFeatureGroup, type DatasetInputs } from './dataset-inputs.js';
import {
  buildLabels,
  countDatasetRows,
  datasetColumns,
  datasetRowsSql,
  emptyDropped,
  isoInstant,
  joinFeaturesPointInTime,
  planDatasetSplit,
  type DatasetSplitPlan,
  type DatasetTally,
} from './dataset-rows.js';
import type { DatasetSpec, LabelSpec } from './training-config.js';

export {
  DATASET_DATA_FILE,
  DATASET_FORMAT,
  DATASET_MANIFEST_FILE,
  datasetIdOf,
  findDataset,
  type DatasetDropReason,
  type DatasetHandle,
  type DatasetManifest,
  type DatasetSource,
} from './dataset-store.js';
export { sha256File, type DatasetFeatureGroup } from './dataset-inputs.js';

/** What to build. `dataset` and `label` are the validated config entries. */
export interface DatasetBuildConfig {
  readonly dataset: DatasetSpec;
  readonly label: LabelSpec;
  /** Feature groups in `dataset.feature_groups` order, with their TTL. */
  readonly featureGroups: readonly DatasetFeatureGroup[];
  /** The bar dataset the labels are computed from (the feature groups' source), with its bar length. */
  readonly source: SourceDataset;
}

export interface DatasetBuildDeps {
  readonly lake: Lake;
  readonly featureStore: FeatureStore;
  readonly calendars: InstrumentCalendars;
  readonly logger?: Logger;
}

let tempCounter = 0;

/**
 * Builds a training dataset: labels from curated bars joined point-in-time to feature rows,
 * filtered, optionally split by time, written to `datasets/<name>/<dataset_id>/` as
 * `data.parquet` plus `manifest.json`.
 *
 * Contract:
 * - Point in time: a label row anchored at `anchor_ts` (= bar start + bar length: when the
 *   anchor bar was complete) gets, per group, the feature row with the latest
 *   `available_ts <= anchor_ts` (the shared backward as-of policy, exact matches allowed), never
 *   a later one; each row carries `<group>_ts` and `<group>_available_ts` of the row it got. The
 *   label reads only bars after the anchor bar (besides the anchor's own close), and only values
 *   available by its window's end (curated `available_ts <= label_end_ts`, else the anchor is
 *   dropped as `unavailable`), so `available_ts <= anchor_ts < label_end_ts` holds for every row
 *   and a label whose window ends by T is the same whatever happens to bars at or after T.
 * - Rows are dropped, and counted in `manifest.dropped`, when the label cannot be computed
 *   (labels.ts reasons), a group has no row at the anchor in the partitions read
 *   (`features_missing`: the anchor's session and the sessions before it that can hold a row
 *   within the TTL), its latest row is older than the group's TTL (`features_stale`, the same
 *   rule as getFeaturesForInference), the features were stamped on an imputed (gap-filled) bar
 *   and `filters.drop_imputed_inputs` is set (`imputed_inputs`), or the split purges or
 *   embargoes them. Feature values that are NULL (warm-up) are kept as NULL.
 * - Reproducible: nothing in either file depends on the wall clock, the lake's location or the
 *   build's order of work; rows are sorted by (symbol, ts). The id is a hash of the manifest —
 *   config, label spec, feature versions and definition hashes, time range, counts, source
 *   partitions with the sha256 of their bytes, and the data file's sha256 — so the same config
 *   on the same data gives the same id and the same bytes, and any change gives a new id.
 * - Atomic and idempotent: files are written to a hidden folder that is renamed to the id; a
 *   build whose id already exists leaves the existing folder as it is.
 *
 * Phases, each a function with its own contract: resolveDatasetInputs (dataset-inputs.ts:
 * registry, output columns, dates, source hashes) → buildLabels → joinFeaturesPointInTime →
 * planDatasetSplit → countDatasetRows (dataset-rows.ts) → writeDataset (file + manifest).
 */
export async function buildTrainingDataset(cfg: DatasetBuildConfig, deps: DatasetBuildDeps): Promise<DatasetHandle> {
  const { dataset: spec, label: labelSpec, source } = cfg;
  const barMs = source.barMs;
  const { lake, featureStore, calendars } = deps;
  const logger = (deps.logger ?? silentLogger()).child({ component: 'dataset-builder', dataset: spec.name });
  if (labelSpec.name !== spec.label) throw new InputError(`dataset ${spec.name} uses label ${spec.label}, but label spec ${labelSpec.name} was given`);
  if (!(Number.isInteger(barMs) && barMs > 0)) throw new InputError(`bar length must be a positive integer of ms, got ${barMs}`);

  // 1. Resolve inputs: registry records, output columns, dates, source partitions hashed.
  const inputs = await resolveDatasetInputs(spec, labelSpec, cfg.featureGroups, source, { lake, featureStore, calendarFor: (s) => calendars.calendarFor(s) });
  const { symbols, groups } = inputs;
  const dropped = emptyDropped();
  const temps: string[] = [];
  const temp = (): string => {
    const name = `ibp_ds_${process.pid}_${++tempCounter}_${randomBytes(3).toString('hex')}`;
    temps.push(name);
    return name;
  };
  try {
    // 2. Labels of the anchors in range, from the source's bars, computed by DuckDB.
    const barRel = sourceRelationSql(lake, source, inputs.barDates, symbols) as string;
    const labels = await buildLabels(lake, temp, { relation: barRel, barMs }, labelSpec, spec, dropped);
    // 3. Features joined point in time (the matched rows' times and flags; values come at the write).
    const featureRel = new Map(groups.map((g) => [g.name, featureStore.trainingRelationSql(g.name, g.version, inputs.dates.featureStart, spec.end, symbols)]));
    const keys = await joinFeaturesPointInTime(lake, temp, labels, labelSpec.name, groups, featureRel, { dataset: spec.name, dropImputed: spec.filters.drop_imputed_inputs }, dropped);
    // 4. Split by time over the rows that survived, then count what will be written.
    const split = await planDatasetSplit(lake, keys, spec.split);
    const tally = await countDatasetRows(lake, keys, split, symbols, Boolean(spec.split), spec.name, dropped);
    // 5. Write and publish with the manifest.
    const rows = datasetRowsSql(keys, labelSpec.name, split, Boolean(spec.split), groups, featureRel);
    return await writeDataset(lake, logger, { spec, labelSpec, source, inputs, split, tally, dropped, rows });
  } finally {
    for (const t of temps) await lake.dropTable(t).catch(() => undefined);
  }
}

/** Everything the write phase needs, from the earlier phases. */
interface DatasetWrite {
  readonly spec: DatasetSpec;
  readonly labelSpec: LabelSpec;
  readonly source: SourceDataset;
  readonly inputs: DatasetInputs;
  readonly split: DatasetSplitPlan;
  readonly tally: DatasetTally;
  readonly dropped: Readonly<Record<DatasetDropReason, number>>;
  /** The rows to write (datasetRowsSql). */
  readonly rows: string;
}

/**
 * Phase 5: writes the rows sorted by (symbol, ts) into a hidden folder, checks the count
 * against the tally (StorageError otherwise), hashes the file, and publishes the folder under
 * the id the manifest hashes to (publishDataset: a dataset already built with that id is kept
 * as it is). Sources and missing partitions are sorted so the manifest does not depend on the
 * order of work. The hidden folder is removed if anything fails.
 */
async function writeDataset(lake: Lake, logger: Logger, w: DatasetWrite): Promise<DatasetHandle> {
  const { spec, labelSpec, source, inputs, tally, dropped } = w;
  const { groups, sources, missing } = inputs;
  const tmpDir = stageDataset(lake, spec.name);
  try {
    const dataFile = join(tmpDir, DATASET_DATA_FILE);
    const written = await lake.run(`COPY (SELECT * FROM ${w.rows} ORDER BY symbol, ts) TO ${sqlString(dataFile)} (FORMAT parquet, COMPRESSION zstd)`);
    if (written !== tally.total) throw new StorageError(`dataset ${spec.name}: wrote ${written} rows, counted ${tally.total} (internal error)`);
    const dataBytes = statSync(dataFile).size;
    const dataSha = await sha256File(dataFile);
    sources.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
    missing.sort((a, b) => (a.kind + a.dataset + a.date < b.kind + b.dataset + b.date ? -1 : 1));
    const body: Omit<DatasetManifest, 'id'> = {
      format: DATASET_FORMAT,
      format_version: 1,
      name: spec.name,
      config: spec,
      label: labelSpec,
      source: { kind: source.kind, name: source.name },
      bar_ms: source.barMs,
      feature_groups: groups.map((g) => ({ name: g.name, version: g.version, definition_hash: g.record.definition_hash, columns: g.columns, ttl_ms: g.ttlMs })),
      time_range: { start: spec.start, end: spec.end, first_anchor: isoInstant(tally.span.first), last_anchor: isoInstant(tally.span.last), last_label_end: isoInstant(tally.span.last_end) },
      columns: datasetColumns(labelSpec.name, Boolean(spec.split), groups),
      feature_columns: groups.flatMap((g) => g.columns),
      label_column: labelSpec.name,
      rows: { total: tally.total, by_split: tally.bySplit, by_symbol: tally.bySymbol },
      dropped,
      split: w.split.info,
      sources,
      missing_partitions: missing,
      data: { file: DATASET_DATA_FILE, sha256: dataSha, bytes: dataBytes },
    };
    const id = datasetIdOf(body);
    const { format, format_version, ...rest } = body;
    const manifest: DatasetManifest = { format, format_version, id, ...rest };
    const { path: target, created } = await publishDataset(lake, spec.name, tmpDir, manifest);
    if (created) logger.info({ dataset_id: id, rows: tally.total, dropped, missing_partitions: missing.length }, 'dataset written');
    else logger.info({ dataset_id: id, rows: tally.total }, 'dataset already built; kept the existing files');
    return { id, path: target, manifest };
  } catch (err) {
    rmSync(tmpDir, { recursive: true, force: true });
    throw err;
  }
}
