// fdlibm __ieee754_log, for normal positive finite x, without bit tricks (as SQL will do it).
const ln2_hi = 6.93147180369123816490e-01, ln2_lo = 1.90821492927058770002e-10;
const Lg1 = 6.666666666666735130e-01, Lg2 = 3.999999999940941908e-01, Lg3 = 2.857142874366239149e-01, Lg4 = 2.222219843214978396e-01, Lg5 = 1.818357216161805012e-01, Lg6 = 1.531383769920937332e-01, Lg7 = 1.479819860511658591e-01;
export function fdlog(x: number): number {
  let e = Math.floor(Math.log2(x));
  if (2 ** e > x) e--;
  if (2 ** (e + 1) <= x) e++;
  const m = x / 2 ** e; // [1, 2)
  const hx = Math.floor((m - 1) * 2 ** 20);
  const up = hx >= 0x6a09c; // (hx + 0x95f64) & 0x100000
  const k = e + (up ? 1 : 0);
  const xn = up ? m / 2 : m;
  const f = xn - 1;
  if (hx === 0 || hx >= 0xffffe) {
    if (f === 0) { if (k === 0) return 0; const dk = k; return dk * ln2_hi + dk * ln2_lo; }
    const R = f * f * (0.5 - 0.33333333333333333 * f);
    if (k === 0) return f - R;
    const dk = k; return dk * ln2_hi - ((R - dk * ln2_lo) - f);
  }
  const s = f / (2.0 + f); const dk = k; const z = s * s; const w = z * z;
  const t1 = w * (Lg2 + w * (Lg4 + w * Lg6));
  const t2 = z * (Lg1 + w * (Lg3 + w * (Lg5 + w * Lg7)));
  const R = t2 + t1;
  if (hx >= 0x6147a && hx <= 0x6b851) {
    const hfsq = 0.5 * f * f;
    if (k === 0) return f - (hfsq - s * (hfsq + R));
    return dk * ln2_hi - ((hfsq - (s * (hfsq + R) + dk * ln2_lo)) - f);
  }
  if (k === 0) return f - s * (f - R);
  return dk * ln2_hi - ((s * (f - R) - dk * ln2_lo) - f);
}
let diff = 0; const n = 2_000_000;
for (let i = 0; i < n; i++) {
  const x = i % 3 === 0 ? Math.exp((Math.random() - 0.5) * 0.02) : i % 3 === 1 ? (Math.floor(Math.random() * 1000) + 1) / (Math.floor(Math.random() * 1000) + 1) : Math.exp((Math.random() - 0.5) * 1400);
  if (fdlog(x) !== Math.log(x)) { diff++; if (diff < 5) console.log(x, fdlog(x), Math.log(x)); }
}
for (const x of [1, 2, 0.5, Math.SQRT2, 1 + 2 ** -52, 1 - 2 ** -53, 4, 1e300, 1e-300, 3]) if (fdlog(x) !== Math.log(x)) { diff++; console.log('special', x); }
console.log('diff', diff);
