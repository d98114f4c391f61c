/** Rolling mean and sum of squared deviations from it (`m2`), NaN where there is no full window. */
export interface RollingMoments {
  readonly mean: Float64Array;
  /** Σ (x − mean)² over the window; exactly 0 when every value in the window is equal. */
  readonly m2: Float64Array;
}

const EPS = Number.EPSILON;
/** Accepted relative error bound before an exact recompute: 100× inside the 1e-9 target. */
const TOLERANCE = 1e-11;

/**
 * The shared O(n) kernel behind SMA, rolling std, zscore, Bollinger and volatility.
 *
 * Sums are kept relative to a shift near the data (s1 = Σ(x − K), s2 = Σ(x − K)²) and updated as
 * the window slides. Alongside, a running bound on their rounding error is kept; whenever that
 * bound could exceed 1e-11 of `m2` or of the mean (or of the spread, if larger), the window is recomputed exactly (two-pass,
 * O(window)) and K moves to its mean. Ordinary price data recomputes every few thousand bars;
 * pathological data (a tiny spread right after a large move, where E[x²] − E[x]² would cancel
 * catastrophically) recomputes more often and stays exact. A count of unequal neighbours makes
 * a flat window's `m2` exactly 0 without any arithmetic.
 *
 * Missing values (NaN) give NaN for every window that contains them: the sums restart after one.
 */
export function rollingMoments(x: Float64Array, window: number): RollingMoments {
  const n = x.length;
  const mean = new Float64Array(n).fill(NaN);
  const m2 = new Float64Array(n).fill(NaN);
  let runStart = 0;
  let shift = 0;
  let s1 = 0;
  let s2 = 0;
  let err1 = 0;
  let err2 = 0;
  let changes = 0;
  for (let i = 0; i < n; i++) {
    const v = x[i] as number;
    if (v !== v) {
      runStart = i + 1;
      continue;
    }
    const len = i - runStart + 1;
    if (len === 1) {
      shift = v;
      s1 = 0;
      s2 = 0;
      err1 = 0;
      err2 = 0;
      changes = 0;
    } else {
      const d = v - shift;
      s1 += d;
      s2 += d * d;
      let a1 = d < 0 ? -d : d;
      let a2 = d * d;
      if (v !== x[i - 1]) changes++;
      if (len > window) {
        const old = x[i - window] as number;
        const e = old - shift;
        s1 -= e;
        s2 -= e * e;
        a1 += e < 0 ? -e : e;
        a2 += e * e;
        if (x[i - window + 1] !== old) changes--;
      }
      // Each update rounds the term and the accumulator: bound both, generously.
      err1 += 4 * EPS * (a1 + (s1 < 0 ? -s1 : s1));
      err2 += 4 * EPS * (a2 + (s2 < 0 ? -s2 : s2));
    }
    if (len < window) continue;

    let mu = s1 / window;
    let mom = s2 - s1 * mu;
    const mAbs = shift + mu;
    const meanErr = err1 / window + EPS * (mAbs < 0 ? -mAbs : mAbs);
    const m2Err = err2 + 2 * (mu < 0 ? -mu : mu) * err1 + 4 * EPS * (s2 < 0 ? -s2 : s2);
    // The mean is judged against its own size or the window's spread, whichever is larger: a
    // mean of zero-centred data (returns) is then as exact as a direct sum can make it.
    const spread = mom > 0 ? Math.sqrt(mom / window) : 0;
    const meanOk = meanErr <= TOLERANCE * Math.max(mAbs < 0 ? -mAbs : mAbs, spread);
    const m2Ok = changes === 0 || m2Err <= TOLERANCE * mom;
    if (!meanOk || !m2Ok) {
      let raw = 0;
      for (let j = i - window + 1; j <= i; j++) raw += x[j] as number;
      shift = raw / window;
      s1 = 0;
      s2 = 0;
      for (let j = i - window + 1; j <= i; j++) {
        const d = (x[j] as number) - shift;
        s1 += d;
        s2 += d * d;
      }
      err1 = 0;
      err2 = 0;
      mu = s1 / window;
      mom = s2 - s1 * mu;
    }
    mean[i] = shift + mu;
    m2[i] = changes === 0 ? 0 : mom > 0 ? mom : 0;
  }
  return { mean, m2 };
}
