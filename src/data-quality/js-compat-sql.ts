/**
 * SQL macros that compute and render values exactly as the JS reference does, so the set-based
 * transform writes the same quarantine reasons, ledger lines and outlier verdicts as the JS
 * rules: `String(number)` (shortest round-trip digits, JS notation), `Date#toISOString`,
 * `Number#toPrecision(4)`, `Number#toFixed(1)`, `JSON.stringify(string)` and `Math.log`.
 *
 * DuckDB's DOUBLE → VARCHAR cast already prints the shortest round-trip digits; only the
 * notation differs (`200000.0`, `1e-07`, `1e+16` where JS writes `200000`, `1e-7`,
 * `10000000000000000`), so `ibp_js_num` re-lays those digits out by ECMA-262 Number::toString.
 * printf's fixed-precision formats round exact binary ties to even where JS rounds them up.
 * Macros are temporary (per connection): run {@link JS_COMPAT_MACROS} before using them.
 */

/** The macro names, for callers that compose SQL with them. */
export const JS_SQL = {
  num: 'ibp_js_num',
  /** For whole epoch ms (BIGINT). */
  iso: 'ibp_js_iso',
  /** For any number, as rules.ts's iso(). */
  isoNum: 'ibp_js_iso_num',
  precision4: 'ibp_js_precision4',
  fixed1: 'ibp_js_fixed1',
  json: 'ibp_js_json',
  /** Math.log bit for bit (V8's fdlibm log; DuckDB's ln differs in the last bit for a few % of inputs). */
  log: 'ibp_js_log',
} as const;

/** A DOUBLE constant written as fdlibm writes it. */
function d(literal: string): string {
  return `CAST('${literal}' AS DOUBLE)`;
}

const LN2_HI = d('6.93147180369123816490e-01');
const LN2_LO = d('1.90821492927058770002e-10');
const LG = ['6.666666666666735130e-01', '3.999999999940941908e-01', '2.857142874366239149e-01', '2.222219843214978396e-01', '1.818357216161805012e-01', '1.531383769920937332e-01', '1.479819860511658591e-01'].map(d);

/**
 * fdlibm's __ieee754_log (V8's Math.log) for a positive normal double, without bit access: the
 * exponent is found with log2 and corrected with exact powers of two; `hx` (the top 20 bits of
 * the fraction) is floor((m - 1) * 2^20). Anything else falls back to ln.
 */
const LOG_MACROS: readonly string[] = [
  `ibp_js_log_tail(k, f, hx) AS CASE
     WHEN hx = 0 OR hx >= 1048574 THEN CASE
       WHEN f = 0 THEN (CASE WHEN k = 0 THEN CAST(0 AS DOUBLE) ELSE CAST(k AS DOUBLE) * ${LN2_HI} + CAST(k AS DOUBLE) * ${LN2_LO} END)
       WHEN k = 0 THEN f - f * f * (${d('0.5')} - ${d('0.33333333333333333')} * f)
       ELSE CAST(k AS DOUBLE) * ${LN2_HI} - ((f * f * (${d('0.5')} - ${d('0.33333333333333333')} * f) - CAST(k AS DOUBLE) * ${LN2_LO}) - f) END
     ELSE list_transform([f / (${d('2.0')} + f)], s -> list_transform([{'s': s, 'z': s * s, 'w': (s * s) * (s * s)}], q ->
       list_transform([q.z * (${LG[0]} + q.w * (${LG[2]} + q.w * (${LG[4]} + q.w * ${LG[6]}))) + q.w * (${LG[1]} + q.w * (${LG[3]} + q.w * ${LG[5]}))], r ->
         CASE
           WHEN hx >= 398458 AND hx <= 440401 THEN list_transform([${d('0.5')} * f * f], h -> CASE
             WHEN k = 0 THEN f - (h - q.s * (h + r))
             ELSE CAST(k AS DOUBLE) * ${LN2_HI} - ((h - (q.s * (h + r) + CAST(k AS DOUBLE) * ${LN2_LO})) - f) END)[1]
           WHEN k = 0 THEN f - q.s * (f - r)
           ELSE CAST(k AS DOUBLE) * ${LN2_HI} - ((q.s * (f - r) - CAST(k AS DOUBLE) * ${LN2_LO}) - f)
         END)[1])[1])[1]
   END`,
  `ibp_js_log_norm(m, e) AS list_transform([CAST(floor((m - 1) * 1048576) AS INTEGER)], hx ->
     ibp_js_log_tail(e + CASE WHEN hx >= 434332 THEN 1 ELSE 0 END, (CASE WHEN hx >= 434332 THEN m / 2 ELSE m END) - 1, hx))[1]`,
  `ibp_js_log(x) AS list_transform([CAST(x AS DOUBLE)], v -> CASE
     WHEN v IS NULL OR isnan(v) OR isinf(v) OR v < ${d('2.2250738585072014e-308')} THEN ln(v)
     ELSE list_transform([CAST(floor(log2(v)) AS INTEGER)], e0 ->
       list_transform([e0 - (CASE WHEN pow(${d('2.0')}, e0) > v THEN 1 ELSE 0 END) + (CASE WHEN pow(${d('2.0')}, e0 + 1) <= v THEN 1 ELSE 0 END)], e ->
         ibp_js_log_norm(v / pow(${d('2.0')}, e), e))[1])[1]
   END)[1]`,
];

// DuckDB expands a macro at every use and binding, paid per statement, grows with the expanded
// tree: keep these flat and call them as few times per statement as possible.
const MACROS: readonly string[] = [
  // DuckDB prints a positive double as `iii.fff` for decimal exponents -5..15 and as
  // `d[.ddd]e±XX` otherwise; JS uses plain notation for exponents -7..20 (Number::toString).
  `ibp_js_e10(s) AS CAST(split_part(s, 'e', 2) AS INTEGER)`,
  `ibp_js_dig(s) AS replace(split_part(s, 'e', 1), '.', '')`,
  `ibp_js_pos(s) AS CASE
     WHEN NOT contains(s, 'e') THEN regexp_replace(s, '[.]0$', '')
     WHEN ibp_js_e10(s) BETWEEN -6 AND -1 THEN '0.' || repeat('0', -ibp_js_e10(s) - 1) || ibp_js_dig(s)
     WHEN ibp_js_e10(s) BETWEEN 0 AND 20 THEN ibp_js_dig(s) || repeat('0', ibp_js_e10(s) + 1 - length(ibp_js_dig(s)))
     ELSE regexp_replace(s, 'e([-+])0*([0-9])', 'e\\1\\2')
   END`,
  // The argument is bound once through a lambda: a macro argument used n times is expanded, and
  // bound, n times.
  `ibp_js_num(x) AS list_transform([CAST(x AS DOUBLE)], v -> CASE
     WHEN v IS NULL THEN 'null'
     WHEN isnan(v) THEN 'NaN'
     WHEN v = CAST('inf' AS DOUBLE) THEN 'Infinity'
     WHEN v = CAST('-inf' AS DOUBLE) THEN '-Infinity'
     WHEN v = 0 THEN '0'
     ELSE (CASE WHEN v < 0 THEN '-' ELSE '' END) || ibp_js_pos(CAST(abs(v) AS VARCHAR))
   END)[1]`,
  // new Date(ms).toISOString() of a whole number of ms (BIGINT), String(ms) beyond the Date range.
  `ibp_js_iso(ms) AS CASE
     WHEN abs(ms) >= 8640000000000000 THEN CAST(ms AS VARCHAR)
     WHEN year(epoch_ms(ms)) BETWEEN 0 AND 9999 THEN strftime(epoch_ms(ms), '%Y-%m-%dT%H:%M:%S.%gZ')
     ELSE (CASE WHEN year(epoch_ms(ms)) < 0 THEN '-' ELSE '+' END) || lpad(CAST(abs(year(epoch_ms(ms))) AS VARCHAR), 6, '0') || strftime(epoch_ms(ms), '-%m-%dT%H:%M:%S.%gZ')
   END`,
  // The same for any number (the rules' iso(): String(x) when not finite or out of range; the
  // time value truncated to whole ms).
  `ibp_js_iso_num(x) AS CASE
     WHEN x IS NULL OR NOT isfinite(CAST(x AS DOUBLE)) OR abs(CAST(x AS DOUBLE)) >= 8.64e15 THEN ibp_js_num(x)
     ELSE ibp_js_iso(CAST(trunc(CAST(x AS DOUBLE)) AS BIGINT))
   END`,
  // x.toPrecision(4) for finite x: printf's correctly rounded digits, except that an exact tie
  // (the exact binary value ends in 5 at the fifth digit) rounds up as JS does. The long
  // expansion that proves a tie is printed only when the fifth digit rounds to 5.
  `ibp_js_p4_tie(a) AS substr(printf('%.4e', a), 6, 1) = '5' AND substr(printf('%.30e', a), 6, 27) = '5' || repeat('0', 26)`,
  `ibp_js_p4_int(p) AS CAST(substr(p, 1, 1) || substr(p, 3, 3) AS INTEGER)`,
  `ibp_js_p4_layout(m, e) AS CASE
     WHEN e < -6 OR e >= 4 THEN m[1] || '.' || m[2:] || 'e' || (CASE WHEN e >= 0 THEN '+' ELSE '-' END) || CAST(abs(e) AS VARCHAR)
     WHEN e >= 0 THEN m[1:e + 1] || (CASE WHEN e < 3 THEN '.' || m[e + 2:] ELSE '' END)
     ELSE '0.' || repeat('0', -e - 1) || m
   END`,
  `ibp_js_p4_pos(a) AS CASE
     WHEN NOT ibp_js_p4_tie(a) THEN ibp_js_p4_layout(substr(printf('%.3e', a), 1, 1) || substr(printf('%.3e', a), 3, 3), ibp_js_e10(printf('%.3e', a)))
     WHEN ibp_js_p4_int(printf('%.30e', a)) = 9999 THEN ibp_js_p4_layout('1000', ibp_js_e10(printf('%.30e', a)) + 1)
     ELSE ibp_js_p4_layout(CAST(ibp_js_p4_int(printf('%.30e', a)) + 1 AS VARCHAR), ibp_js_e10(printf('%.30e', a)))
   END`,
  `ibp_js_precision4(x) AS CASE
     WHEN isnan(CAST(x AS DOUBLE)) OR isinf(CAST(x AS DOUBLE)) THEN ibp_js_num(x)
     WHEN CAST(x AS DOUBLE) = 0 THEN '0.000'
     ELSE (CASE WHEN CAST(x AS DOUBLE) < 0 THEN '-' ELSE '' END) || ibp_js_p4_pos(abs(CAST(x AS DOUBLE)))
   END`,
  // x.toFixed(1) for |x| < 1e21: printf, with an exact tie (…x5 exactly) rounded up in magnitude.
  `ibp_js_fixed1(x) AS CASE
     WHEN isnan(CAST(x AS DOUBLE)) OR isinf(CAST(x AS DOUBLE)) OR abs(CAST(x AS DOUBLE)) >= 1e21 THEN ibp_js_num(x)
     WHEN substr(printf('%.2f', abs(CAST(x AS DOUBLE))), -1) = '5'
          AND substr(split_part(printf('%.30f', abs(CAST(x AS DOUBLE))), '.', 2), 2) = '5' || repeat('0', 28)
       THEN (CASE WHEN CAST(x AS DOUBLE) < 0 THEN '-' ELSE '' END) || printf('%.1f', abs(CAST(x AS DOUBLE)) + 0.05)
     ELSE printf('%.1f', CAST(x AS DOUBLE))
   END`,
  `ibp_js_json(s) AS CAST(to_json(CAST(s AS VARCHAR)) AS VARCHAR)`,
];

/** `CREATE OR REPLACE TEMP MACRO` statements defining every macro of {@link JS_SQL}, in dependency order. */
export const JS_COMPAT_MACROS: readonly string[] = [...MACROS, ...LOG_MACROS].map((m) => `CREATE OR REPLACE TEMP MACRO ${m}`);
