import { expect } from 'vitest';

/**
 * Asserts element-wise agreement to `rel` relative error: NaN must match NaN, and a value must
 * satisfy |a − e| ≤ rel · max(|e|, floor). `floor` is the scale of the operands for outputs that
 * are differences of larger numbers (MACD, zscore), where relative error near 0 is meaningless.
 */
export function expectCloseArrays(actual: ArrayLike<number>, expected: ArrayLike<number>, rel = 1e-9, floor = 0, label = ''): void {
  expect(actual.length, `${label} length`).toBe(expected.length);
  for (let i = 0; i < expected.length; i++) {
    const a = actual[i] as number;
    const e = expected[i] as number;
    if (Number.isNaN(e) || Number.isNaN(a)) {
      if (Number.isNaN(e) !== Number.isNaN(a)) expect.fail(`${label}[${i}]: got ${a}, expected ${e}`);
      continue;
    }
    const tol = rel * Math.max(Math.abs(e), floor);
    if (!(Math.abs(a - e) <= tol)) expect.fail(`${label}[${i}]: got ${a}, expected ${e} (|diff| ${Math.abs(a - e)} > ${tol})`);
  }
}
