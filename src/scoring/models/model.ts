import { InputError } from '../../core/errors.js';

/** A value in a feature row as the lake returns it (instants and BIGINTs arrive as numbers). */
export type FeatureValue = string | number | boolean | null;

/**
 * One wide row of features for one (symbol, instant), e.g. `{ symbol, ts, available_ts,
 * sma_20: …, rsi_14: … }`. A model reads only the columns named in its `featureNames`.
 */
export type FeatureRow = Readonly<Record<string, FeatureValue>>;

/**
 * The scoring port. ibpipe ships a local linear/logistic model (linear-model.ts) and an HTTP
 * client (http-model.ts); anything else — an ONNX runtime, a gradient-boosting library, an
 * in-house service — plugs in by implementing this interface.
 *
 * Contract:
 * - `predict` returns exactly one finite score per input row, in input order, or throws; it
 *   never returns a partial result.
 * - Every row must carry a finite number for every name in `featureNames`. Callers filter out
 *   rows with missing or stale features first (and record why); a model given a NULL throws
 *   InputError rather than scoring it.
 * - `id` and `version` identify the fitted model; they are stored with every prediction.
 * - `signal` aborts an in-flight call (shutdown, job timeout).
 */
export interface Model {
  readonly id: string;
  readonly version: string;
  readonly featureNames: readonly string[];
  predict(rows: readonly FeatureRow[], signal?: AbortSignal): Promise<number[]>;
}

/**
 * The rows' feature columns as a dense matrix in `featureNames` order; throws InputError naming
 * the first row and feature that is missing, NULL, non-numeric or non-finite.
 */
export function featureMatrix(rows: readonly FeatureRow[], featureNames: readonly string[]): number[][] {
  return rows.map((row, i) => {
    const out = new Array<number>(featureNames.length);
    featureNames.forEach((name, j) => {
      const v = row[name];
      if (typeof v !== 'number' || !Number.isFinite(v)) {
        const what = v === undefined ? 'missing' : v === null ? 'NULL' : `not a finite number (${JSON.stringify(v)})`;
        throw new InputError(`feature ${name} of row ${i} is ${what}; models score only complete rows`, {
          details: { row: i, feature: name, symbol: row['symbol'] ?? null, ts: row['ts'] ?? null },
        });
      }
      out[j] = v;
    });
    return out;
  });
}
