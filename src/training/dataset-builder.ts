import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, existsSync, rmSync, statSync } from 'node:fs';
import { pipeline } from 'node:stream/promises';
import { join, relative, sep } from 'node:path';
import type { InstrumentCalendars } from '../calendar/instrument-calendars.js';
import type { TradingCalendar } from '../calendar/trading-calendar.js';
import { POINT_IN_TIME, asOfJoinSql } from '../core/as-of-policy.js';
import { dateLabelsBetween } from '../core/dates.js';
import { InputError, StorageError, UpstreamMissingError, VersionConflictError } from '../core/errors.js';
import { sqlIdent, sqlString } from '../core/sql.js';
import { silentLogger, type Logger } from '../core/logger.js';
import { sourcePartitionFile, sourceRelationSql, type SourceDataset } from '../pipelines/source-dataset.js';
import type { FeatureStore } from '../storage/feature-store.js';
import type { Lake, LakeColumn } from '../storage/lake.js';
import {
  DATASET_DATA_FILE,
  DATASET_FORMAT,
  datasetIdOf,
  publishDataset,
  stageDataset,
  type DatasetDropReason,
  type DatasetHandle,
  type DatasetManifest,
  type DatasetSource,
} from './dataset-store.js';
import { labelsSql } from './label-sql.js';
import { LABEL_DROP_REASONS, type LabelDropReason } from './labels.js';
import { SPLIT_NAMES, timeSplitPlan, timeSplitSql, type SplitName } from './time-split.js';
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

function iso(ms: number | null): string | null {
  return ms === null ? null : new Date(ms).toISOString();
}

/** sha256 of a file's bytes, streamed (no whole-file buffer, no long stall of the event loop). */
export async function sha256File(file: string): Promise<string> {
  const hash = createHash('sha256');
  await pipeline(createReadStream(file), hash);
  return hash.digest('hex');
}

function emptyDropped(): Record<DatasetDropReason, number> {
  const out = Object.fromEntries(LABEL_DROP_REASONS.map((r) => [r, 0])) as Record<DatasetDropReason, number>;
  for (const r of ['features_missing', 'features_stale', 'imputed_inputs', 'purged', 'embargoed'] as const) out[r] = 0;
  return out;
}

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
 */
export async function buildTrainingDataset(cfg: DatasetBuildConfig, deps: DatasetBuildDeps): Promise<DatasetHandle> {
  const { dataset: spec, label: labelSpec, source } = cfg;
  const barMs = source.barMs;
  const { lake, featureStore, calendars } = deps;
  const logger = (deps.logger ?? silentLogger()).child({ component: 'dataset-builder', dataset: spec.name });
  if (labelSpec.name !== spec.label) throw new InputError(`dataset ${spec.name} uses label ${spec.label}, but label spec ${labelSpec.name} was given`);
  if (!(Number.isInteger(barMs) && barMs > 0)) throw new InputError(`bar length must be a positive integer of ms, got ${barMs}`);
  const symbols = [...spec.symbols].sort();
  const symbolCalendars = new Map<string, TradingCalendar>(symbols.map((s) => [s, calendars.calendarFor(s)]));
  const distinctCalendars = [...new Set(symbolCalendars.values())];

  // Feature groups: the registry says what each stored version computes and which columns it has.
  const groups = cfg.featureGroups.map((g) => {
    const record = featureStore.registeredVersion(g.name, g.version);
    if (!record) {
      throw new UpstreamMissingError(`dataset ${spec.name}: feature group ${g.name} version ${g.version} has never been written; run \`ibpipe run features --group ${g.name}\` first`, {
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
  if (groups.length === 0) throw new InputError(`dataset ${spec.name}: at least one feature group is required`);

  // Output columns: fixed keys, the label, the split, then per group its row's times and flags and its features.
  const fixed = ['symbol', 'ts', 'session_date', 'anchor_ts', 'label_end_ts', labelSpec.name, 'label_imputed', ...(spec.split ? ['split'] : [])];
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

  // Dates: anchors in [start, end]; labels may read into later sessions; features may come
  // from earlier sessions (a row is found if it is within the TTL, as at inference).
  const anchorDates = dateLabelsBetween(spec.start, spec.end);
  const tradedDates = new Set<string>();
  for (const cal of distinctCalendars) for (const s of cal.sessionsInRange(spec.start, spec.end)) tradedDates.add(s.date);
  let labelEnd = spec.end;
  if (labelSpec.across_sessions) {
    for (const cal of distinctCalendars) {
      let bars = 0;
      let date = spec.end;
      while (bars < labelSpec.horizon_bars) {
        const next = cal.nextSession(date);
        bars += cal.expectedBarStarts(next, barMs).length;
        date = next.date;
      }
      if (date > labelEnd) labelEnd = date;
    }
  }
  const maxTtl = Math.max(...groups.map((g) => g.ttlMs));
  let featureStart = spec.start;
  for (const cal of distinctCalendars) {
    const first = cal.sessionsInRange(spec.start, spec.end)[0];
    const from = first ? first.open : Date.parse(`${spec.start}T00:00:00Z`);
    let prev = cal.previousSession(spec.start);
    for (let i = 0; i < 366 && prev.close > from - maxTtl; i++) prev = cal.previousSession(prev.date);
    if (prev.date < featureStart) featureStart = prev.date;
  }

  // Sources, hashed as they are at build time.
  const sources: DatasetSource[] = [];
  const missing: { kind: 'curated' | 'aligned' | 'features'; dataset: string; date: string }[] = [];
  const rel = (file: string): string => relative(lake.root, file).split(sep).join('/');
  const barDates = dateLabelsBetween(spec.start, labelEnd);
  for (const date of barDates) {
    const file = sourcePartitionFile(lake, source, date);
    if (existsSync(file)) {
      sources.push({ kind: source.kind, dataset: source.name, date, path: rel(file), sha256: await sha256File(file) });
    } else if (tradedDates.has(date)) {
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
    const existing = featureStore.existingFiles(g.name, g.version, dateLabelsBetween(featureStart, spec.end));
    for (const p of existing) sources.push({ kind: 'features', dataset: `${g.name}/v=${g.version}`, date: p.date, path: rel(p.file), sha256: await sha256File(p.file) });
    const have = new Set(existing.map((p) => p.date));
    for (const date of anchorDates) if (tradedDates.has(date) && !have.has(date)) missing.push({ kind: 'features', dataset: `${g.name}/v=${g.version}`, date });
    if (!existing.some((p) => p.date >= spec.start)) {
      throw new UpstreamMissingError(`dataset ${spec.name}: feature group ${g.name} version ${g.version} has no partitions between ${spec.start} and ${spec.end}; run \`ibpipe run features\` first`, {
        details: { group: g.name, version: g.version, start: spec.start, end: spec.end },
      });
    }
  }

  // Labels of the anchors in range, from the source's closes, computed by DuckDB (label-sql.ts).
  const dropped = emptyDropped();
  const barRel = sourceRelationSql(lake, source, barDates, symbols) as string;
  const barColumns = new Set((await lake.query<{ column_name: string }>(`SELECT column_name FROM (DESCRIBE SELECT * FROM ${barRel})`)).map((r) => r.column_name));

  const temps: string[] = [];
  const temp = (): string => {
    const name = `ibp_ds_${process.pid}_${++tempCounter}_${randomBytes(3).toString('hex')}`;
    temps.push(name);
    return name;
  };
  try {
    const labelCols: LakeColumn[] = [
      { name: 'symbol', type: 'VARCHAR' },
      { name: 'ts', type: 'TIMESTAMPTZ' },
      { name: 'session_date', type: 'DATE' },
      { name: 'anchor_ts', type: 'TIMESTAMPTZ' },
      { name: 'label_end_ts', type: 'TIMESTAMPTZ' },
      { name: labelSpec.name, type: 'DOUBLE' },
      { name: 'label_imputed', type: 'BOOLEAN' },
    ];
    const labels = temp();
    await lake.run(`CREATE TEMP TABLE ${labels} AS SELECT * FROM ${labelsSql({ relation: barRel, hasAvailable: barColumns.has('available_ts'), barMs }, labelSpec, spec.start, spec.end)}`);
    for (const r of await lake.query<{ reason: LabelDropReason; n: number }>(`SELECT drop_reason AS reason, count(*) AS n FROM ${labels} WHERE drop_reason IS NOT NULL GROUP BY 1`)) {
      dropped[r.reason] += r.n;
    }

    // Point-in-time decisions on narrow rows: per group, the feature row the shared as-of policy
    // matches at the anchor (its ts, available_ts and is_imputed), and why a row is dropped.
    // Materialized once, with the label (a table of a dozen narrow columns); the feature values
    // are fetched only by the final write, by equality on the matched row.
    const featureRel = new Map(groups.map((g) => [g.name, featureStore.trainingRelationSql(g.name, g.version, featureStart, spec.end, symbols)]));
    let narrow = `(SELECT symbol, ts, session_date, anchor_ts, label_end_ts, ${sqlIdent(labelSpec.name)}, label_imputed FROM ${labels} WHERE drop_reason IS NULL)`;
    for (const g of groups) {
      narrow = asOfJoinSql({
        left: { relation: narrow, time: 'epoch_ms(anchor_ts)', keys: ['symbol'] },
        right: { relation: featureRel.get(g.name) as string, time: 'epoch_ms(available_ts)', keys: ['symbol'] },
        columns: [
          { column: 'ts', as: `${g.name}_ts` },
          { column: 'available_ts', as: `${g.name}_available_ts` },
          { column: 'is_imputed', as: `${g.name}_is_imputed` },
        ],
        policy: POINT_IN_TIME,
      });
    }
    const keys = temp();
    const missingExpr = groups.map((g) => `${sqlIdent(`${g.name}_available_ts`)} IS NULL`).join(' OR ');
    const staleExpr = groups.map((g) => `epoch_ms(anchor_ts) - epoch_ms(${sqlIdent(`${g.name}_available_ts`)}) > ${Math.trunc(g.ttlMs)}`).join(' OR ');
    const imputedExpr = spec.filters.drop_imputed_inputs ? groups.map((g) => `coalesce(${sqlIdent(`${g.name}_is_imputed`)}, false)`).join(' OR ') : 'false';
    await lake.run(
      `CREATE TEMP TABLE ${keys} AS SELECT *, CASE WHEN ${missingExpr} THEN 'features_missing' WHEN ${staleExpr} THEN 'features_stale' WHEN ${imputedExpr} THEN 'imputed_inputs' END AS __drop FROM ${narrow}`,
    );
    // The as-of join cannot look ahead; this proves it on the rows themselves.
    const [violations] = await lake.query<{ n: number }>(
      `SELECT count(*) AS n FROM ${keys} WHERE NOT (anchor_ts < label_end_ts)${groups.map((g) => ` OR ${sqlIdent(`${g.name}_available_ts`)} > anchor_ts`).join('')}`,
    );
    if ((violations?.n ?? 0) > 0) throw new StorageError(`dataset ${spec.name}: ${violations?.n} row(s) violate available_ts <= anchor_ts < label_end_ts (internal error)`);
    for (const r of await lake.query<{ reason: DatasetDropReason; n: number }>(`SELECT __drop AS reason, count(*) AS n FROM ${keys} WHERE __drop IS NOT NULL GROUP BY 1`)) {
      dropped[r.reason] += r.n;
    }

    // Split by time over the rows that survived, with purge and embargo: the cut instants come
    // from the distinct anchors (one per bar, not per row); each row's split is a SQL comparison.
    let splitInfo: DatasetManifest['split'] = null;
    let outcome = `'all'`;
    if (spec.split) {
      const anchors = (await lake.readDoubles(`SELECT DISTINCT CAST(epoch_ms(anchor_ts) AS DOUBLE) AS a FROM ${keys} WHERE __drop IS NULL ORDER BY a`)).get('a');
      const firsts = new Map<string, number | null>();
      for (const date of [spec.split.validation_start, spec.split.test_start]) {
        if (date === undefined) continue;
        const [first] = await lake.query<{ a: number | null }>(`SELECT min(epoch_ms(anchor_ts)) AS a FROM ${keys} WHERE __drop IS NULL AND session_date >= CAST(${sqlString(date)} AS DATE)`);
        firsts.set(date, first?.a ?? null);
      }
      const plan = timeSplitPlan(anchors, spec.split, (date) => firsts.get(date) ?? null);
      outcome = timeSplitSql(plan, 'epoch_ms(k.anchor_ts)', 'epoch_ms(k.label_end_ts)');
      splitInfo = { spec: spec.split, validation_start: iso(plan.validationStart), test_start: iso(plan.testStart) };
    }
    const kept = `k.__drop IS NULL AND ${outcome} NOT IN ('purged', 'embargoed')`;

    // Counts per symbol and outcome, and the instants spanned (the rows written are exactly these).
    const countRows = await lake.query<{ symbol: string; split: string; n: number; first: number | null; last: number | null; last_end: number | null }>(
      `SELECT k.symbol, ${outcome} AS split, count(*) AS n, min(k.anchor_ts) AS first, max(k.anchor_ts) AS last, max(k.label_end_ts) AS last_end
       FROM ${keys} k WHERE k.__drop IS NULL GROUP BY ALL`,
    );
    const bySymbol: Record<string, { total: number } & Partial<Record<SplitName, number>>> = {};
    const bySplit: Partial<Record<SplitName, number>> | null = spec.split ? Object.fromEntries(SPLIT_NAMES.map((s) => [s, 0])) : null;
    for (const s of symbols) bySymbol[s] = spec.split ? { total: 0, train: 0, validation: 0, test: 0 } : { total: 0 };
    let total = 0;
    const span: { first: number | null; last: number | null; last_end: number | null } = { first: null, last: null, last_end: null };
    for (const r of countRows) {
      if (r.split === 'purged' || r.split === 'embargoed') {
        dropped[r.split] += r.n;
        continue;
      }
      const entry = bySymbol[r.symbol] as { total: number } & Partial<Record<SplitName, number>>;
      entry.total += r.n;
      total += r.n;
      if (bySplit && r.split !== 'all') {
        const name = r.split as SplitName;
        entry[name] = (entry[name] ?? 0) + r.n;
        bySplit[name] = (bySplit[name] ?? 0) + r.n;
      }
      if (r.first !== null && (span.first === null || r.first < span.first)) span.first = r.first;
      if (r.last !== null && (span.last === null || r.last > span.last)) span.last = r.last;
      if (r.last_end !== null && (span.last_end === null || r.last_end > span.last_end)) span.last_end = r.last_end;
    }
    if (total === 0) {
      throw new InputError(`dataset ${spec.name}: no rows left to write (dropped: ${JSON.stringify(Object.fromEntries(Object.entries(dropped).filter(([, n]) => n > 0)))})`, {
        details: { dropped },
      });
    }

    // The rows to write: labels, split, and per group the matched row's times, flag and values.
    const featureCols = groups.flatMap((g) => g.columns);
    const finalSelect = [
      'k.symbol',
      'k.ts',
      'k.session_date',
      'k.anchor_ts',
      'k.label_end_ts',
      `k.${sqlIdent(labelSpec.name)}`,
      'k.label_imputed',
      ...(spec.split ? [`${outcome} AS split`] : []),
      ...groups.flatMap((g, i) => [
        `k.${sqlIdent(`${g.name}_ts`)}`,
        `k.${sqlIdent(`${g.name}_available_ts`)}`,
        `k.${sqlIdent(`${g.name}_is_imputed`)}`,
        ...g.columns.map((c) => `CAST(f${i}.${sqlIdent(c)} AS DOUBLE) AS ${sqlIdent(c)}`),
      ]),
    ].join(', ');
    const featureJoins = groups
      .map((g, i) => `JOIN ${featureRel.get(g.name) as string} AS f${i} ON f${i}.symbol = k.symbol AND f${i}.ts = k.${sqlIdent(`${g.name}_ts`)}`)
      .join(' ');
    const final = `(SELECT ${finalSelect} FROM ${keys} AS k ${featureJoins} WHERE ${kept})`;

    const columns: LakeColumn[] = [
      ...labelCols,
      ...(spec.split ? [{ name: 'split', type: 'VARCHAR' } as const] : []),
      ...groups.flatMap((g): LakeColumn[] => [
        { name: `${g.name}_ts`, type: 'TIMESTAMPTZ' },
        { name: `${g.name}_available_ts`, type: 'TIMESTAMPTZ' },
        { name: `${g.name}_is_imputed`, type: 'BOOLEAN' },
        ...g.columns.map((c): LakeColumn => ({ name: c, type: 'DOUBLE' })),
      ]),
    ];

    // Write into a hidden folder, hash, name the folder by the id.
    const tmpDir = stageDataset(lake, spec.name);
    try {
      const dataFile = join(tmpDir, DATASET_DATA_FILE);
      const written = await lake.run(`COPY (SELECT * FROM ${final} ORDER BY symbol, ts) TO ${sqlString(dataFile)} (FORMAT parquet, COMPRESSION zstd)`);
      if (written !== total) throw new StorageError(`dataset ${spec.name}: wrote ${written} rows, counted ${total} (internal error)`);
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
        bar_ms: barMs,
        feature_groups: groups.map((g) => ({ name: g.name, version: g.version, definition_hash: g.record.definition_hash, columns: g.columns, ttl_ms: g.ttlMs })),
        time_range: { start: spec.start, end: spec.end, first_anchor: iso(span.first), last_anchor: iso(span.last), last_label_end: iso(span.last_end) },
        columns,
        feature_columns: featureCols,
        label_column: labelSpec.name,
        rows: { total, by_split: bySplit, by_symbol: bySymbol },
        dropped,
        split: splitInfo,
        sources,
        missing_partitions: missing,
        data: { file: DATASET_DATA_FILE, sha256: dataSha, bytes: dataBytes },
      };
      const id = datasetIdOf(body);
      const { format, format_version, ...rest } = body;
      const manifest: DatasetManifest = { format, format_version, id, ...rest };
      const { path: target, created } = await publishDataset(lake, spec.name, tmpDir, manifest);
      if (created) logger.info({ dataset_id: id, rows: total, dropped, missing_partitions: missing.length }, 'dataset written');
      else logger.info({ dataset_id: id, rows: total }, 'dataset already built; kept the existing files');
      return { id, path: target, manifest };
    } catch (err) {
      rmSync(tmpDir, { recursive: true, force: true });
      throw err;
    }
  } finally {
    for (const t of temps) await lake.dropTable(t).catch(() => undefined);
  }
}
