import { createHash } from 'node:crypto';
import { createReadStream, existsSync } from 'node:fs';
import { relative, sep } from 'node:path';
import { pipeline } from 'node:stream/promises';
import type { TradingCalendar } from '../calendar/trading-calendar.js';
import { dateLabelsBetween } from '../core/dates.js';
import { InputError, UpstreamMissingError, VersionConflictError } from '../core/errors.js';
import { sourcePartitionFile, type SourceDataset } from '../pipelines/source-dataset.js';
import type { FeatureRegistryRecord, FeatureStore } from '../storage/feature-store.js';
import type { Lake } from '../storage/lake.js';
import type { DatasetManifest, DatasetSource } from './dataset-store.js';
import type { DatasetSpec, LabelSpec } from './training-config.js';

/** One feature group the dataset joins, resolved against the feature store's registry. */
export interface DatasetFeatureGroup {
  readonly name: string;
  readonly version: string;
  /** A row older than this at the anchor (anchor − available_ts > ttl_ms) is stale: the row is dropped. */
  readonly ttlMs: number;
  /**
   * The definition hash the config declares for this version, when the config's group is at
   * this version; a registry hash that differs is a VersionConflictError (the config changed
   * without a version bump, so the stored values are not what the config describes).
   */
  readonly configDefinitionHash?: string;
}

/** A feature group with its registry record and its feature columns, in file order. */
export interface ResolvedFeatureGroup extends DatasetFeatureGroup {
  readonly record: FeatureRegistryRecord;
  readonly columns: readonly string[];
}

/** The session dates a build reads (see planDatasetDates). */
export interface DatasetDates {
  /** Every date label in [start, end]: the anchors' dates. */
  readonly anchorDates: readonly string[];
  /** Dates in [start, end] that are a session of some symbol's calendar. */
  readonly tradedDates: ReadonlySet<string>;
  /** Last date the labels may read (later than `end` when labels cross sessions). */
  readonly labelEnd: string;
  /** First date the features may come from (a row within the longest TTL of the first anchor). */
  readonly featureStart: string;
}

/** What a build reads, resolved and hashed before any row is computed. */
export interface DatasetInputs {
  readonly symbols: readonly string[];
  readonly groups: readonly ResolvedFeatureGroup[];
  readonly dates: DatasetDates;
  /** Bar dates the labels read: [start, labelEnd]. */
  readonly barDates: readonly string[];
  /** Partitions read, with the sha256 of their bytes at build time (unsorted). */
  readonly sources: DatasetSource[];
  /** Partitions of traded dates that do not exist (unsorted). */
  readonly missing: DatasetManifest['missing_partitions'][number][];
}

/** sha256 of a file's bytes, streamed (no whole-file buffer, no long stall of the event loop). */
export async function sha256File(file: string): Promise<string> {
  const hash = createHash('sha256');
  await pipeline(createReadStream(file), hash);
  return hash.digest('hex');
}

/**
 * The dataset's feature groups, each checked against the registry (`registered`): a version
 * never written is UpstreamMissingError, a configured definition hash that differs from the
 * registered one is VersionConflictError, a TTL that is not a non-negative number is
 * InputError; no group at all is InputError. Pure but for `registered`.
 */
export function resolveFeatureGroups(
  dataset: string,
  groups: readonly DatasetFeatureGroup[],
  registered: (group: string, version: string) => FeatureRegistryRecord | undefined,
): ResolvedFeatureGroup[] {
  const out = groups.map((g) => {
    const record = registered(g.name, g.version);
    if (!record) {
      throw new UpstreamMissingError(`dataset ${dataset}: feature group ${g.name} version ${g.version} has never been written; run \`ibpipe run features --group ${g.name}\` first`, {
        details: { group: g.name, version: g.version },
      });
    }
    if (g.configDefinitionHash !== undefined && g.configDefinitionHash !== record.definition_hash) {
      throw new VersionConflictError(
        `feature group ${g.name} version ${g.version}: the configured definition (hash ${g.configDefinitionHash.slice(0, 12)}…) differs from the stored one (${record.definition_hash.slice(0, 12)}…); bump the version`,
        { details: { group: g.name, version: g.version, configured: g.configDefinitionHash, stored: record.definition_hash } },
      );
    }
    if (!(Number.isFinite(g.ttlMs) && g.ttlMs >= 0)) throw new InputError(`feature group ${g.name}: ttl must be a non-negative number of ms`);
    return { ...g, record, columns: [...record.columns] };
  });
  if (out.length === 0) throw new InputError(`dataset ${dataset}: at least one feature group is required`);
  return out;
}

/**
 * Checks that the output columns are unique: the dataset's own (keys, the label, `split`), then
 * per group `<group>_ts`, `<group>_available_ts`, `<group>_is_imputed` and its features. A
 * clash is InputError naming the column and both owners. Pure.
 */
export function checkDatasetColumns(spec: Pick<DatasetSpec, 'name' | 'split'>, labelName: string, groups: readonly Pick<ResolvedFeatureGroup, 'name' | 'columns'>[]): void {
  const fixed = ['symbol', 'ts', 'session_date', 'anchor_ts', 'label_end_ts', labelName, 'label_imputed', ...(spec.split ? ['split'] : [])];
  const owner = new Map<string, string>(fixed.map((c) => [c, 'the dataset itself']));
  const claim = (column: string, by: string): void => {
    const prev = owner.get(column);
    if (prev !== undefined) throw new InputError(`dataset ${spec.name}: column ${column} of ${by} clashes with ${prev}; rename a feature or the label`);
    owner.set(column, by);
  };
  for (const g of groups) {
    for (const c of [`${g.name}_ts`, `${g.name}_available_ts`, `${g.name}_is_imputed`]) claim(c, `feature group ${g.name}`);
    for (const c of g.columns) claim(c, `feature group ${g.name}`);
  }
}

/**
 * The dates a build reads, from the symbols' calendars: anchors in [start, end]; labels may read
 * into later sessions (`across_sessions`: until every calendar has `horizon_bars` bars after
 * `end`); features may come from earlier sessions (back while a session could hold a row within
 * `maxTtlMs` of the first session's open, as at inference, at most 366 sessions). Pure.
 */
export function planDatasetDates(
  spec: Pick<DatasetSpec, 'start' | 'end'>,
  label: Pick<LabelSpec, 'across_sessions' | 'horizon_bars'>,
  calendars: readonly TradingCalendar[],
  barMs: number,
  maxTtlMs: number,
): DatasetDates {
  const anchorDates = dateLabelsBetween(spec.start, spec.end);
  const tradedDates = new Set<string>();
  for (const cal of calendars) for (const s of cal.sessionsInRange(spec.start, spec.end)) tradedDates.add(s.date);
  let labelEnd = spec.end;
  if (label.across_sessions) {
    for (const cal of calendars) {
      let bars = 0;
      let date = spec.end;
      while (bars < label.horizon_bars) {
        const next = cal.nextSession(date);
        bars += cal.expectedBarStarts(next, barMs).length;
        date = next.date;
      }
      if (date > labelEnd) labelEnd = date;
    }
  }
  let featureStart = spec.start;
  for (const cal of calendars) {
    const first = cal.sessionsInRange(spec.start, spec.end)[0];
    const from = first ? first.open : Date.parse(`${spec.start}T00:00:00Z`);
    let prev = cal.previousSession(spec.start);
    for (let i = 0; i < 366 && prev.close > from - maxTtlMs; i++) prev = cal.previousSession(prev.date);
    if (prev.date < featureStart) featureStart = prev.date;
  }
  return { anchorDates, tradedDates, labelEnd, featureStart };
}

/**
 * Phase 1 of a build: resolves the feature groups against the registry, checks the output
 * columns, plans the dates and hashes every partition the build will read (as it is now).
 * Throws before any row is computed: UpstreamMissingError when the source has no partition in
 * [start, end] or a group none in it, VersionConflictError / InputError as resolveFeatureGroups
 * and checkDatasetColumns.
 */
export async function resolveDatasetInputs(
  spec: DatasetSpec,
  label: LabelSpec,
  featureGroups: readonly DatasetFeatureGroup[],
  source: SourceDataset,
  deps: { readonly lake: Lake; readonly featureStore: Pick<FeatureStore, 'registeredVersion' | 'existingFiles'>; readonly calendarFor: (symbol: string) => TradingCalendar },
): Promise<DatasetInputs> {
  const { lake, featureStore } = deps;
  const symbols = [...spec.symbols].sort();
  const distinctCalendars = [...new Set(symbols.map((s) => deps.calendarFor(s)))];
  const groups = resolveFeatureGroups(spec.name, featureGroups, (g, v) => featureStore.registeredVersion(g, v));
  checkDatasetColumns(spec, label.name, groups);
  const dates = planDatasetDates(spec, label, distinctCalendars, source.barMs, Math.max(...groups.map((g) => g.ttlMs)));

  // Sources, hashed as they are at build time.
  const sources: DatasetSource[] = [];
  const missing: DatasetInputs['missing'] = [];
  const rel = (file: string): string => relative(lake.root, file).split(sep).join('/');
  const barDates = dateLabelsBetween(spec.start, dates.labelEnd);
  for (const date of barDates) {
    const file = sourcePartitionFile(lake, source, date);
    if (existsSync(file)) {
      sources.push({ kind: source.kind, dataset: source.name, date, path: rel(file), sha256: await sha256File(file) });
    } else if (dates.tradedDates.has(date)) {
      missing.push({ kind: source.kind, dataset: source.name, date });
    }
  }
  if (!sources.some((s) => s.kind === source.kind && s.date <= spec.end)) {
    const job = source.kind === 'curated' ? 'transform' : 'align';
    throw new UpstreamMissingError(`dataset ${spec.name}: no ${source.kind} ${source.name} partitions between ${spec.start} and ${spec.end}; run \`ibpipe run ${job}\` first`, {
      details: { dataset: source.name, kind: source.kind, start: spec.start, end: spec.end },
    });
  }
  for (const g of groups) {
    const existing = featureStore.existingFiles(g.name, g.version, dateLabelsBetween(dates.featureStart, spec.end));
    for (const p of existing) sources.push({ kind: 'features', dataset: `${g.name}/v=${g.version}`, date: p.date, path: rel(p.file), sha256: await sha256File(p.file) });
    const have = new Set(existing.map((p) => p.date));
    for (const date of dates.anchorDates) if (dates.tradedDates.has(date) && !have.has(date)) missing.push({ kind: 'features', dataset: `${g.name}/v=${g.version}`, date });
    if (!existing.some((p) => p.date >= spec.start)) {
      throw new UpstreamMissingError(`dataset ${spec.name}: feature group ${g.name} version ${g.version} has no partitions between ${spec.start} and ${spec.end}; run \`ibpipe run features\` first`, {
        details: { group: g.name, version: g.version, start: spec.start, end: spec.end },
      });
    }
  }
  return { symbols, groups, dates, barDates, sources, missing };
}
