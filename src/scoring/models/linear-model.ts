import { mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { z } from 'zod';
import { formatPath } from '../../core/config-path.js';
import { IbpipeError, type IbpipeErrorOptions } from '../../core/errors.js';
import { featureMatrix, type FeatureRow, type Model } from './model.js';

export const LINEAR_MODEL_FORMAT = 'ibpipe-linear-model';

const finite = z.number().refine(Number.isFinite, 'must be a finite number');

/**
 * The local model file: a JSON document any language can read and write.
 *
 * ```json
 * { "format": "ibpipe-linear-model", "format_version": 1, "id": "ret5-ridge", "version": "3",
 *   "kind": "linear", "feature_names": ["ret_1", "rsi_14"], "means": [0.0001, 50.2],
 *   "stds": [0.0012, 11.7], "coefficients": [0.42, -0.03], "intercept": 0.00002,
 *   "metadata": { "dataset_id": "…", "label": "fwd5" } }
 * ```
 * score = intercept + Σ coefficients[j] · (x[j] − means[j]) / stds[j]; for `logistic` the score
 * is the probability 1 / (1 + e^(−that)).
 */
export const linearModelDocumentSchema = z
  .object({
    format: z.literal(LINEAR_MODEL_FORMAT),
    format_version: z.literal(1),
    id: z.string().min(1),
    version: z.string().min(1),
    kind: z.enum(['linear', 'logistic']),
    feature_names: z.array(z.string().min(1)).min(1, 'at least one feature is required'),
    means: z.array(finite),
    stds: z.array(finite.refine((v) => v > 0, 'must be > 0')),
    coefficients: z.array(finite),
    intercept: finite,
    /** Free-form provenance (dataset id, label, training statistics); not used for scoring. */
    metadata: z.record(z.string(), z.unknown()).optional(),
  })
  .strict()
  .superRefine((doc, ctx) => {
    const n = doc.feature_names.length;
    for (const key of ['means', 'stds', 'coefficients'] as const) {
      if (doc[key].length !== n) {
        ctx.addIssue({ code: 'custom', path: [key], message: `has ${doc[key].length} entries, feature_names has ${n}` });
      }
    }
    const seen = new Set<string>();
    doc.feature_names.forEach((name, i) => {
      if (seen.has(name)) ctx.addIssue({ code: 'custom', path: ['feature_names', i], message: `duplicate feature ${name}` });
      seen.add(name);
    });
  });
export type LinearModelDocument = z.infer<typeof linearModelDocumentSchema>;

/** A model file that cannot be read or does not follow its format; `issues` are `path: message`. */
export class ModelFileError extends IbpipeError {
  readonly code = 'MODEL_FILE_INVALID';
  readonly retryable = false;
  override readonly exitCode = 2;
  readonly file: string;
  readonly issues: readonly string[];
  constructor(file: string, issues: readonly string[], options?: IbpipeErrorOptions) {
    super(`${file}: invalid model file\n${issues.join('\n')}`, { ...options, details: { file, issues, ...options?.details } });
    this.file = file;
    this.issues = issues;
  }
}

/** Validates a parsed JSON value as a linear model document; `source` names it in errors. */
export function parseLinearModelDocument(value: unknown, source: string): LinearModelDocument {
  const result = linearModelDocumentSchema.safeParse(value);
  if (!result.success) {
    throw new ModelFileError(
      source,
      result.error.issues.flatMap((iss) =>
        iss.code === 'unrecognized_keys'
          ? iss.keys.map((k) => `${formatPath([...iss.path, k])}: unknown key`)
          : [`${formatPath(iss.path)}: ${iss.message}`],
      ),
    );
  }
  return result.data;
}

function sigmoid(s: number): number {
  // Two branches keep exp() from overflowing for large |s|.
  if (s >= 0) return 1 / (1 + Math.exp(-s));
  const e = Math.exp(s);
  return e / (1 + e);
}

/** A linear or logistic model evaluated in-process: no native code, exact and fast. */
export class LinearModel implements Model {
  readonly id: string;
  readonly version: string;
  readonly featureNames: readonly string[];
  readonly document: Readonly<LinearModelDocument>;

  constructor(document: LinearModelDocument) {
    this.document = Object.freeze({ ...document });
    this.id = document.id;
    this.version = document.version;
    this.featureNames = Object.freeze([...document.feature_names]);
  }

  /** The raw linear predictor (before the logistic link) for one feature vector. */
  linearPredictor(x: readonly number[]): number {
    const { means, stds, coefficients, intercept } = this.document;
    let s = intercept;
    for (let j = 0; j < coefficients.length; j++) {
      s += (coefficients[j] as number) * (((x[j] as number) - (means[j] as number)) / (stds[j] as number));
    }
    return s;
  }

  /** Scores synchronously; `predict` is this behind the async port. */
  predictSync(rows: readonly FeatureRow[]): number[] {
    const logistic = this.document.kind === 'logistic';
    return featureMatrix(rows, this.featureNames).map((x) => {
      const s = this.linearPredictor(x);
      return logistic ? sigmoid(s) : s;
    });
  }

  predict(rows: readonly FeatureRow[], signal?: AbortSignal): Promise<number[]> {
    try {
      signal?.throwIfAborted();
      return Promise.resolve(this.predictSync(rows));
    } catch (err) {
      return Promise.reject(err);
    }
  }
}

/** Reads and validates a model file; every problem names the file and the field. */
export function loadLinearModel(file: string): LinearModel {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new ModelFileError(file, [`cannot read (${(err as Error).message})`], { cause: err });
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new ModelFileError(file, [`not valid JSON (${(err as Error).message})`], { cause: err });
  }
  return new LinearModel(parseLinearModelDocument(json, file));
}

/** Writes a model file atomically (temporary file, then rename), creating its directory. */
export function saveLinearModel(file: string, document: LinearModelDocument): void {
  const valid = parseLinearModelDocument(document, file);
  mkdirSync(dirname(file), { recursive: true });
  const tmp = `${file}.tmp-${process.pid}`;
  try {
    writeFileSync(tmp, `${JSON.stringify(valid, null, 2)}\n`);
    renameSync(tmp, file);
  } catch (err) {
    rmSync(tmp, { force: true });
    throw err;
  }
}
