/**
 * Straightforward reference formulations, written independently of src/: windowed ones recompute
 * every window from scratch (O(n·w), two-pass), recursive ones split the series into NaN-free
 * segments first and then follow the textbook recurrences (StockCharts / TTR wording), using
 * plain number[] so nothing is shared with the typed-array kernels under test.
 */

export type Num = number;

const isNum = (v: Num | undefined): v is number => v !== undefined && !Number.isNaN(v);

/** The window [i-w+1, i] if it is complete and NaN-free, else null. */
function windowAt(x: ArrayLike<Num>, i: number, w: number): number[] | null {
  if (i - w + 1 < 0) return null;
  const out: number[] = [];
  for (let j = i - w + 1; j <= i; j++) {
    const v = x[j];
    if (!isNum(v)) return null;
    out.push(v);
  }
  return out;
}

const mean = (a: number[]): number => a.reduce((s, v) => s + v, 0) / a.length;
const sumSq = (a: number[]): number => {
  const m = mean(a);
  return a.reduce((s, v) => s + (v - m) * (v - m), 0);
};

export function refSma(x: ArrayLike<Num>, w: number): number[] {
  return Array.from({ length: x.length }, (_, i) => {
    const win = windowAt(x, i, w);
    return win ? mean(win) : NaN;
  });
}

export function refStd(x: ArrayLike<Num>, w: number, ddof: 0 | 1): number[] {
  return Array.from({ length: x.length }, (_, i) => {
    const win = windowAt(x, i, w);
    return win ? Math.sqrt(sumSq(win) / (w - ddof)) : NaN;
  });
}

export function refZscore(x: ArrayLike<Num>, w: number): number[] {
  return Array.from({ length: x.length }, (_, i) => {
    const win = windowAt(x, i, w);
    if (!win) return NaN;
    const sd = Math.sqrt(sumSq(win) / (w - 1));
    return sd === 0 ? NaN : ((x[i] as number) - mean(win)) / sd;
  });
}

export function refBollinger(x: ArrayLike<Num>, w: number, k: number): { lower: number[]; mid: number[]; upper: number[] } {
  const lower: number[] = [];
  const mid: number[] = [];
  const upper: number[] = [];
  for (let i = 0; i < x.length; i++) {
    const win = windowAt(x, i, w);
    if (!win) {
      lower.push(NaN);
      mid.push(NaN);
      upper.push(NaN);
      continue;
    }
    const m = mean(win);
    const sd = Math.sqrt(sumSq(win) / w);
    lower.push(m - k * sd);
    mid.push(m);
    upper.push(m + k * sd);
  }
  return { lower, mid, upper };
}

export function refReturns(x: ArrayLike<Num>, p: number): number[] {
  return Array.from({ length: x.length }, (_, i) => (i >= p ? (x[i] as number) / (x[i - p] as number) - 1 : NaN));
}

export function refLogReturns(x: ArrayLike<Num>, p: number): number[] {
  return Array.from({ length: x.length }, (_, i) => (i >= p ? Math.log((x[i] as number) / (x[i - p] as number)) : NaN));
}

/** Sample std of the last w one-bar log returns; needs the w + 1 prices they read, all present. */
export function refVolatility(x: ArrayLike<Num>, w: number): number[] {
  return Array.from({ length: x.length }, (_, i) => {
    const prices = windowAt(x, i, w + 1);
    if (!prices) return NaN;
    const rets = prices.slice(1).map((p, j) => Math.log(p / (prices[j] as number)));
    return Math.sqrt(sumSq(rets) / (w - 1));
  });
}

/** Maximal runs [start, end) of indices where `ok(i)` holds. */
function segments(n: number, ok: (i: number) => boolean): [number, number][] {
  const segs: [number, number][] = [];
  let i = 0;
  while (i < n) {
    while (i < n && !ok(i)) i++;
    const s = i;
    while (i < n && ok(i)) i++;
    if (i > s) segs.push([s, i]);
  }
  return segs;
}

/** EMA in TTR's form: seed = mean of first n, then y = x·ratio + y_prev·(1 − ratio); per NaN-free segment. */
export function refEma(x: ArrayLike<Num>, n: number, ratio = 2 / (n + 1)): number[] {
  const out: number[] = Array.from({ length: x.length }, () => NaN);
  for (const [s, e] of segments(x.length, (i) => isNum(x[i]))) {
    if (e - s < n) continue;
    let seed = 0;
    for (let j = s; j < s + n; j++) seed += x[j] as number;
    let prev = seed / n;
    out[s + n - 1] = prev;
    for (let j = s + n; j < e; j++) {
      prev = (x[j] as number) * ratio + prev * (1 - ratio);
      out[j] = prev;
    }
  }
  return out;
}

/** Wilder's smoothing in his own wording: avg = (prev · (n − 1) + current) / n, first avg = simple mean. */
export function refWilder(x: ArrayLike<Num>, n: number): number[] {
  const out: number[] = Array.from({ length: x.length }, () => NaN);
  for (const [s, e] of segments(x.length, (i) => isNum(x[i]))) {
    if (e - s < n) continue;
    let total = 0;
    for (let j = s; j < s + n; j++) total += x[j] as number;
    let prev = total / n;
    out[s + n - 1] = prev;
    for (let j = s + n; j < e; j++) {
      prev = (prev * (n - 1) + (x[j] as number)) / n;
      out[j] = prev;
    }
  }
  return out;
}

/** RSI = 100 − 100 / (1 + RS), RS = avg gain / avg loss (StockCharts); avg loss 0 → 100; no movement → NaN. */
export function refRsi(x: ArrayLike<Num>, n: number): number[] {
  const gains: number[] = [NaN];
  const losses: number[] = [NaN];
  for (let i = 1; i < x.length; i++) {
    const ch = (x[i] as number) - (x[i - 1] as number);
    gains.push(Number.isNaN(ch) ? NaN : Math.max(ch, 0));
    losses.push(Number.isNaN(ch) ? NaN : Math.max(-ch, 0));
  }
  const g = refWilder(gains, n);
  const l = refWilder(losses, n);
  return g.map((gi, i) => {
    const li = l[i] as number;
    if (Number.isNaN(gi)) return NaN;
    if (li === 0) return gi === 0 ? NaN : 100;
    return 100 - 100 / (1 + gi / li);
  });
}

export function refMacd(x: ArrayLike<Num>, fast: number, slow: number, sig: number): { macd: number[]; signal: number[]; hist: number[] } {
  const f = refEma(x, fast);
  const s = refEma(x, slow);
  const macd = f.map((v, i) => v - (s[i] as number));
  const signal = refEma(macd, sig);
  return { macd, signal, hist: macd.map((v, i) => v - (signal[i] as number)) };
}

/** Wilder's true range: the largest of H − L, |H − previous C|, |L − previous C|. */
export function refAtr(h: ArrayLike<Num>, l: ArrayLike<Num>, c: ArrayLike<Num>, n: number): number[] {
  const tr: number[] = [NaN];
  for (let i = 1; i < c.length; i++) {
    const hi = h[i] as number;
    const lo = l[i] as number;
    const pc = c[i - 1] as number;
    tr.push(Math.max(hi - lo, Math.abs(hi - pc), Math.abs(lo - pc)));
  }
  return refWilder(tr, n);
}

/** Σ p·v / Σ v over the bars of the same session up to i, recomputed for every i; any NaN → NaN. */
export function refVwap(price: ArrayLike<Num>, vol: ArrayLike<Num>, session: readonly string[]): number[] {
  return Array.from({ length: vol.length }, (_, i) => {
    let pv = 0;
    let v = 0;
    for (let j = i; j >= 0 && session[j] === session[i]; j--) {
      const p = price[j] as number;
      const q = vol[j] as number;
      if (Number.isNaN(p) || Number.isNaN(q)) return NaN;
      pv += p * q;
      v += q;
    }
    return v > 0 ? pv / v : NaN;
  });
}

/** Deterministic PRNG (mulberry32) so failures reproduce. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
