import { createHash } from 'node:crypto';
import { copyFileSync, renameSync } from 'node:fs';
import { InputError } from '../../core/errors.js';
import { sqlIdent, sqlString } from '../../core/sql.js';
import { canonicalJson } from '../../core/canonical-json.js';
import type { Lake } from '../../storage/lake.js';
import { DATASET_DATA_FILE, findDataset, type DatasetHandle } from '../../training/dataset-store.js';
import { LinearModel, saveLinearModel, type LinearModelDocument } from './linear-model.js';
import { trainLinearModel } from './linear-trainer.js';
import type { FeatureRow } from './model.js';

const MODEL_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

/**
 * Ridge penalty when none is given. Feature groups routinely hold exact or near duplicates (a
 * Bollinger mid band is the SMA of the same window; lags of close move with the averages), which
 * make plain least squares singular; a small penalty on the standardised coefficients keeps the
 * fit defined and stable at a negligible cost in bias. Pass 0 for plain OLS / MLE.
 */
export const DEFAULT_RIDGE = 0.01;

export interface DatasetTrainingOptions {
  readonly datasetId: string;
  /** Dataset name, to skip the search over `datasets/`. */
  readonly datasetName?: string;
  /** Model name (id, and the folder under `models/`); default `<dataset name>-<kind>`. */
  readonly modelName?: string;
  /** Default: logistic for a `direction` label (class > 0 is 1), linear otherwise. */
  readonly kind?: 'linear' | 'logistic';
  /** L2 penalty on the standardised coefficients; default {@link DEFAULT_RIDGE}. */
  readonly ridge?: number;
  /** Feature columns to use; default every feature column of the dataset. */
  readonly features?: readonly string[];
}

/** Out-of-sample (or in-sample, for train) quality of a fitted model on one split. */
export interface SplitMetrics {
  readonly rows: number;
  /** Rows left out because a feature or the label was NULL. */
  readonly skipped: number;
  readonly rmse?: number;
  readonly r2?: number | null;
  /** Pearson correlation of score and label (the "IC"). */
  readonly correlation?: number | null;
  readonly log_loss?: number;
  readonly accuracy?: number;
}

export interface DatasetTrainingResult {
  readonly model: string;
  readonly version: string;
  readonly kind: 'linear' | 'logistic';
  /** `models/<model>/<version>.json` under the lake. */
  readonly path: string;
  /** `models/<model>/latest.json`: a copy of the newest fit, for a `local` model entry to point at. */
  readonly latestPath: string;
  readonly dataset: { readonly id: string; readonly name: string };
  readonly features: readonly string[];
  readonly label: string;
  /** Feature group and version the model must be scored with (the dataset's first group). */
  readonly featureGroup: { readonly name: string; readonly version: string };
  readonly metrics: Readonly<Partial<Record<'train' | 'validation' | 'test' | 'all', SplitMetrics>>>;
}

/**
 * `ibpipe train`: fits the built-in linear / logistic model on a dataset's train split (all rows
 * when it has no split), scores the validation and test splits with the fitted model, and writes
 * the model file to `models/<model>/<version>.json` and `models/<model>/latest.json`.
 *
 * The version is the first 12 hex of the sha256 of the model document (coefficients, features,
 * dataset id, metrics): the same dataset and options give the same version, so re-training
 * never creates a new version for nothing. This trainer is a baseline and makes the demo run
 * end to end; a real model is trained elsewhere on the dataset's Parquet file and served over
 * HTTP (or exported as a linear model file).
 */
export async function trainModelOnDataset(lake: Lake, options: DatasetTrainingOptions): Promise<DatasetTrainingResult> {
  const handle = findDataset(lake, options.datasetId, options.datasetName);
  const m = handle.manifest;
  const kind = options.kind ?? (m.label.kind === 'direction' ? 'logistic' : 'linear');
  const name = options.modelName ?? `${m.name}-${kind}`;
  if (!MODEL_NAME.test(name)) throw new InputError(`model name ${JSON.stringify(name)} must match ${MODEL_NAME.source}`);
  const features = [...(options.features ?? m.feature_columns)];
  if (features.length === 0) throw new InputError('no feature columns to train on');
  for (const f of features) {
    if (!m.feature_columns.includes(f)) throw new InputError(`feature ${f} is not a feature column of dataset ${m.id} (${m.feature_columns.join(', ')})`);
  }
  const group = m.feature_groups.find((g) => features.every((f) => g.columns.includes(f)));
  if (!group) throw new InputError(`the features must all come from one feature group (a model is scored with one group); choose them with --features`);

  const bySplit = await readSplits(lake, handle, features, m.label_column);
  const trainSplit = m.split ? 'train' : 'all';
  const trainRows = bySplit.get(trainSplit) ?? [];
  const base = trainLinearModel(trainRows, {
    id: name,
    version: '0',
    kind,
    ridge: options.ridge ?? DEFAULT_RIDGE,
    featureNames: features,
    labelColumn: m.label_column,
    metadata: {
      dataset_id: m.id,
      dataset_name: m.name,
      label: m.label,
      feature_group: { name: group.name, version: group.version, definition_hash: group.definition_hash },
    },
  });
  const model = new LinearModel(base.document);
  const metrics: Partial<Record<'train' | 'validation' | 'test' | 'all', SplitMetrics>> = {};
  for (const [split, rows] of bySplit) metrics[split] = evaluate(model, rows, features, m.label_column, kind);
  const unversioned: LinearModelDocument = { ...base.document, metadata: { ...base.document.metadata, evaluation: metrics } };
  const version = createHash('sha256').update(canonicalJson({ ...unversioned, version: null })).digest('hex').slice(0, 12);
  const document: LinearModelDocument = { ...unversioned, version };

  const path = lake.path('models', name, `${version}.json`);
  const latestPath = lake.path('models', name, 'latest.json');
  saveLinearModel(path, document);
  const tmp = lake.path('models', name, `.tmp-latest-${process.pid}.json`);
  copyFileSync(path, tmp);
  renameSync(tmp, latestPath);
  return {
    model: name,
    version,
    kind,
    path,
    latestPath,
    dataset: { id: m.id, name: m.name },
    features,
    label: m.label_column,
    featureGroup: { name: group.name, version: group.version },
    metrics,
  };
}

type SplitKey = 'train' | 'validation' | 'test' | 'all';

async function readSplits(lake: Lake, handle: DatasetHandle, features: readonly string[], label: string): Promise<Map<SplitKey, FeatureRow[]>> {
  const file = `${handle.path}/${DATASET_DATA_FILE}`;
  const split = handle.manifest.split ? 'split' : `'all'`;
  const cols = [...features, label].map(sqlIdent).join(', ');
  const rows = await lake.query(`SELECT ${split} AS __split, ${cols} FROM read_parquet(${sqlString(file)}) ORDER BY symbol, ts`);
  const out = new Map<SplitKey, FeatureRow[]>();
  for (const r of rows) {
    const key = r['__split'] as SplitKey;
    const list = out.get(key) ?? [];
    list.push(r as FeatureRow);
    out.set(key, list);
  }
  return out;
}

function complete(row: FeatureRow, features: readonly string[], label: string): boolean {
  const ok = (v: unknown): boolean => typeof v === 'number' && Number.isFinite(v);
  return ok(row[label]) && features.every((f) => ok(row[f]));
}

/** Metrics of a fitted model on rows (incomplete rows skipped, as in training). */
export function evaluate(model: LinearModel, rows: readonly FeatureRow[], features: readonly string[], label: string, kind: 'linear' | 'logistic'): SplitMetrics {
  const usable = rows.filter((r) => complete(r, features, label));
  const skipped = rows.length - usable.length;
  if (usable.length === 0) return { rows: 0, skipped };
  const scores = model.predictSync(usable);
  const y = usable.map((r) => r[label] as number);
  if (kind === 'logistic') {
    let logLoss = 0;
    let correct = 0;
    const eps = 1e-15;
    y.forEach((v, i) => {
      const t = v > 0 ? 1 : 0;
      const p = Math.min(1 - eps, Math.max(eps, scores[i] as number));
      logLoss -= (t * Math.log(p) + (1 - t) * Math.log(1 - p)) / y.length;
      if ((p > 0.5 ? 1 : 0) === t) correct++;
    });
    return { rows: usable.length, skipped, log_loss: logLoss, accuracy: correct / y.length };
  }
  const n = y.length;
  const ybar = y.reduce((a, b) => a + b, 0) / n;
  const sbar = scores.reduce((a, b) => a + b, 0) / n;
  let sse = 0;
  let sst = 0;
  let sss = 0;
  let sxy = 0;
  y.forEach((v, i) => {
    const s = scores[i] as number;
    sse += (v - s) ** 2;
    sst += (v - ybar) ** 2;
    sss += (s - sbar) ** 2;
    sxy += (v - ybar) * (s - sbar);
  });
  return {
    rows: n,
    skipped,
    rmse: Math.sqrt(sse / n),
    r2: sst > 0 ? 1 - sse / sst : null,
    correlation: sst > 0 && sss > 0 ? sxy / Math.sqrt(sst * sss) : null,
  };
}
