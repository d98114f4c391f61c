import { InputError } from '../../core/errors.js';
import { LINEAR_MODEL_FORMAT, type LinearModelDocument } from './linear-model.js';
import type { FeatureRow } from './model.js';

/**
 * The small built-in trainer: ridge / OLS and ridge-logistic on standardised features, in plain
 * TypeScript. It exists so the demo runs end to end and as a baseline. A real user trains
 * elsewhere (scikit-learn, LightGBM, PyTorch… on the Parquet dataset files, which any engine
 * reads) and plugs the result in as an HTTP model service (http-model.ts), a linear model file
 * written by their own code, or their own implementation of the Model interface (e.g. ONNX).
 */
export interface LinearFitOptions {
  /** `linear`: least squares. `logistic`: probability that y = 1 (y must be 0 or 1). */
  readonly kind?: 'linear' | 'logistic';
  /**
   * L2 penalty λ on the standardised coefficients (never on the intercept), on the per-row
   * scale so it does not grow with the row count: linear minimises (1/n)·Σ(y − ŷ)² + λ·‖b‖²,
   * logistic minimises −(1/n)·log-likelihood + (λ/2)·‖b‖². 0 (the default) is plain OLS / MLE.
   */
  readonly ridge?: number;
  /** Logistic only: Newton (IRLS) iteration limit and convergence tolerance on the parameters. */
  readonly maxIterations?: number;
  readonly tolerance?: number;
}

/** A fitted model in standardised coordinates (the linear model file's representation). */
export interface LinearFit {
  readonly kind: 'linear' | 'logistic';
  readonly means: number[];
  /** Population standard deviations; 1 for constant columns (whose coefficient is 0). */
  readonly stds: number[];
  readonly coefficients: number[];
  readonly intercept: number;
  /** Indices of constant columns, left out of the fit. */
  readonly constantColumns: number[];
  /** Newton iterations (logistic) or 1 (linear). */
  readonly iterations: number;
}

const COLLINEAR = 'features are collinear (or a column is constant within the data); set a ridge penalty > 0 or drop a feature';

/** Solves A·x = b for a symmetric positive-definite A by Cholesky; A is k×k row-major. */
function solveSpd(a: Float64Array, b: Float64Array, k: number): Float64Array {
  const l = new Float64Array(k * k);
  for (let i = 0; i < k; i++) {
    for (let j = 0; j <= i; j++) {
      let s = a[i * k + j] as number;
      for (let p = 0; p < j; p++) s -= (l[i * k + p] as number) * (l[j * k + p] as number);
      if (i === j) {
        // Diagonal entries of standardised normal equations are O(1); a pivot this small means
        // the column is (numerically) a combination of the others.
        if (!(s > 1e-10 * Math.max(1, a[i * k + i] as number))) throw new InputError(COLLINEAR, { details: { column: i } });
        l[i * k + i] = Math.sqrt(s);
      } else {
        l[i * k + j] = s / (l[j * k + j] as number);
      }
    }
  }
  const y = new Float64Array(k);
  for (let i = 0; i < k; i++) {
    let s = b[i] as number;
    for (let p = 0; p < i; p++) s -= (l[i * k + p] as number) * (y[p] as number);
    y[i] = s / (l[i * k + i] as number);
  }
  const x = new Float64Array(k);
  for (let i = k - 1; i >= 0; i--) {
    let s = y[i] as number;
    for (let p = i + 1; p < k; p++) s -= (l[p * k + i] as number) * (x[p] as number);
    x[i] = s / (l[i * k + i] as number);
  }
  return x;
}

/**
 * Fits y ≈ intercept + Σ b_j·(x_j − mean_j)/std_j. Linear: normal equations
 * (ZᵀZ/n + λI)·b = Zᵀ(y − ȳ)/n with intercept ȳ, exact for noise-free data up to rounding.
 * Logistic: Newton–Raphson (IRLS) on the penalised log-likelihood; throws InputError when it
 * does not converge (perfectly separable data without a ridge penalty).
 */
export function fitLinear(x: readonly (readonly number[])[], y: readonly number[], options: LinearFitOptions = {}): LinearFit {
  const kind = options.kind ?? 'linear';
  const ridge = options.ridge ?? 0;
  if (!(ridge >= 0 && Number.isFinite(ridge))) throw new RangeError(`ridge must be a finite number >= 0, got ${ridge}`);
  const n = x.length;
  if (y.length !== n) throw new InputError(`x has ${n} rows but y has ${y.length}`);
  const p = n > 0 ? (x[0] as readonly number[]).length : 0;
  if (n === 0 || p === 0) throw new InputError('cannot fit a model on zero rows or zero features');
  for (let i = 0; i < n; i++) {
    const row = x[i] as readonly number[];
    if (row.length !== p) throw new InputError(`row ${i} has ${row.length} features, expected ${p}`);
    for (const v of row) if (!Number.isFinite(v)) throw new InputError(`row ${i} has a non-finite feature value`);
    const t = y[i] as number;
    if (!Number.isFinite(t)) throw new InputError(`row ${i} has a non-finite label`);
    if (kind === 'logistic' && t !== 0 && t !== 1) throw new InputError(`logistic labels must be 0 or 1; row ${i} has ${t}`);
  }

  const means = new Array<number>(p).fill(0);
  const stds = new Array<number>(p).fill(0);
  for (const row of x) for (let j = 0; j < p; j++) means[j] = (means[j] as number) + (row[j] as number) / n;
  for (const row of x) {
    for (let j = 0; j < p; j++) {
      const d = (row[j] as number) - (means[j] as number);
      stds[j] = (stds[j] as number) + (d * d) / n;
    }
  }
  const constantColumns: number[] = [];
  const active: number[] = [];
  for (let j = 0; j < p; j++) {
    const sd = Math.sqrt(stds[j] as number);
    // Rounding in the mean leaves a constant column with a tiny non-zero spread.
    if (sd <= 1e-12 * Math.max(1, Math.abs(means[j] as number))) {
      stds[j] = 1;
      constantColumns.push(j);
    } else {
      stds[j] = sd;
      active.push(j);
    }
  }
  const k = active.length;
  const z = x.map((row) => active.map((j) => ((row[j] as number) - (means[j] as number)) / (stds[j] as number)));
  const coefficients = new Array<number>(p).fill(0);

  if (kind === 'linear') {
    let ybar = 0;
    for (const t of y) ybar += t / n;
    if (k === 0) return { kind, means, stds, coefficients, intercept: ybar, constantColumns, iterations: 1 };
    const a = new Float64Array(k * k);
    const b = new Float64Array(k);
    for (let i = 0; i < n; i++) {
      const zi = z[i] as number[];
      const r = (y[i] as number) - ybar;
      for (let u = 0; u < k; u++) {
        const zu = zi[u] as number;
        b[u] = (b[u] as number) + (zu * r) / n;
        for (let v = 0; v <= u; v++) a[u * k + v] = (a[u * k + v] as number) + (zu * (zi[v] as number)) / n;
      }
    }
    for (let u = 0; u < k; u++) {
      for (let v = 0; v < u; v++) a[v * k + u] = a[u * k + v] as number;
      a[u * k + u] = (a[u * k + u] as number) + ridge;
    }
    const sol = solveSpd(a, b, k);
    active.forEach((j, u) => (coefficients[j] = sol[u] as number));
    return { kind, means, stds, coefficients, intercept: ybar, constantColumns, iterations: 1 };
  }

  // Logistic: parameters beta = [intercept, b_active…], Newton steps on the penalised objective.
  const d = k + 1;
  const beta = new Float64Array(d);
  const maxIterations = options.maxIterations ?? 100;
  const tolerance = options.tolerance ?? 1e-12;
  for (let iter = 1; iter <= maxIterations; iter++) {
    const h = new Float64Array(d * d);
    const g = new Float64Array(d);
    for (let i = 0; i < n; i++) {
      const zi = z[i] as number[];
      let s = beta[0] as number;
      for (let u = 0; u < k; u++) s += (beta[u + 1] as number) * (zi[u] as number);
      const prob = s >= 0 ? 1 / (1 + Math.exp(-s)) : Math.exp(s) / (1 + Math.exp(s));
      const w = (prob * (1 - prob)) / n;
      const r = ((y[i] as number) - prob) / n;
      for (let u = 0; u < d; u++) {
        const xu = u === 0 ? 1 : (zi[u - 1] as number);
        g[u] = (g[u] as number) + xu * r;
        for (let v = 0; v <= u; v++) h[u * d + v] = (h[u * d + v] as number) + w * xu * (v === 0 ? 1 : (zi[v - 1] as number));
      }
    }
    for (let u = 0; u < d; u++) {
      for (let v = 0; v < u; v++) h[v * d + u] = h[u * d + v] as number;
      if (u > 0) {
        h[u * d + u] = (h[u * d + u] as number) + ridge;
        g[u] = (g[u] as number) - ridge * (beta[u] as number);
      }
    }
    let step: Float64Array;
    try {
      step = solveSpd(h, g, d);
    } catch {
      throw new InputError('logistic fit failed: the data are (nearly) perfectly separable or collinear; set a ridge penalty > 0', {
        details: { iteration: iter },
      });
    }
    let maxStep = 0;
    for (let u = 0; u < d; u++) {
      beta[u] = (beta[u] as number) + (step[u] as number);
      maxStep = Math.max(maxStep, Math.abs(step[u] as number));
    }
    if (!beta.every(Number.isFinite)) break;
    if (maxStep <= tolerance * Math.max(1, ...Array.from(beta, Math.abs))) {
      active.forEach((j, u) => (coefficients[j] = beta[u + 1] as number));
      return { kind, means, stds, coefficients, intercept: beta[0] as number, constantColumns, iterations: iter };
    }
  }
  throw new InputError(
    `logistic fit did not converge in ${maxIterations} iterations (perfectly separable data?); set a ridge penalty > 0`,
    { details: { maxIterations } },
  );
}

export interface TrainLinearModelOptions extends LinearFitOptions {
  readonly id: string;
  readonly version: string;
  readonly featureNames: readonly string[];
  /** Column holding the target. For `logistic`, a label > 0 counts as class 1. */
  readonly labelColumn: string;
  /** Extra provenance stored in the file (dataset id, split, label spec …). */
  readonly metadata?: Record<string, unknown>;
}

export interface TrainedLinearModel {
  readonly document: LinearModelDocument;
  readonly rowsUsed: number;
  /** Rows left out because a feature or the label was NULL or non-finite (e.g. warm-up rows). */
  readonly rowsSkipped: number;
}

/**
 * Fits a model on dataset rows and returns its file document (save it with saveLinearModel).
 * In-sample statistics go into `metadata.training`: R² and RMSE for linear, log-loss and
 * accuracy for logistic.
 */
export function trainLinearModel(rows: readonly FeatureRow[], options: TrainLinearModelOptions): TrainedLinearModel {
  const kind = options.kind ?? 'linear';
  const x: number[][] = [];
  const y: number[] = [];
  let skipped = 0;
  for (const row of rows) {
    const label = row[options.labelColumn];
    const values = options.featureNames.map((f) => row[f]);
    if (typeof label !== 'number' || !Number.isFinite(label) || !values.every((v) => typeof v === 'number' && Number.isFinite(v))) {
      skipped++;
      continue;
    }
    x.push(values as number[]);
    y.push(kind === 'logistic' ? (label > 0 ? 1 : 0) : label);
  }
  if (x.length <= options.featureNames.length) {
    throw new InputError(
      `need more complete rows than features to fit: ${x.length} usable rows (${skipped} skipped) for ${options.featureNames.length} features`,
      { details: { rows_used: x.length, rows_skipped: skipped } },
    );
  }
  const fit = fitLinear(x, y, options);
  const training: Record<string, unknown> = { rows: x.length, rows_skipped: skipped, ridge: options.ridge ?? 0, label: options.labelColumn };
  const predictor = (row: number[]): number => {
    let s = fit.intercept;
    row.forEach((v, j) => (s += (fit.coefficients[j] as number) * ((v - (fit.means[j] as number)) / (fit.stds[j] as number))));
    return s;
  };
  if (kind === 'linear') {
    let ybar = 0;
    for (const t of y) ybar += t / y.length;
    let sse = 0;
    let sst = 0;
    x.forEach((row, i) => {
      sse += ((y[i] as number) - predictor(row)) ** 2;
      sst += ((y[i] as number) - ybar) ** 2;
    });
    training['r2'] = sst > 0 ? 1 - sse / sst : null;
    training['rmse'] = Math.sqrt(sse / y.length);
  } else {
    let logLoss = 0;
    let correct = 0;
    x.forEach((row, i) => {
      const s = predictor(row);
      const t = y[i] as number;
      // log(1 + e^s) − t·s, computed without overflow.
      logLoss += (Math.max(s, 0) + Math.log1p(Math.exp(-Math.abs(s))) - t * s) / y.length;
      if ((s > 0 ? 1 : 0) === t) correct++;
    });
    training['log_loss'] = logLoss;
    training['accuracy'] = correct / y.length;
    training['iterations'] = fit.iterations;
  }
  if (fit.constantColumns.length > 0) training['constant_features'] = fit.constantColumns.map((j) => options.featureNames[j]);
  const document: LinearModelDocument = {
    format: LINEAR_MODEL_FORMAT,
    format_version: 1,
    id: options.id,
    version: options.version,
    kind,
    feature_names: [...options.featureNames],
    means: fit.means,
    stds: fit.stds,
    coefficients: fit.coefficients,
    intercept: fit.intercept,
    metadata: { ...options.metadata, training },
  };
  return { document, rowsUsed: x.length, rowsSkipped: skipped };
}
