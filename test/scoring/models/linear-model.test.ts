import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { InputError } from '../../../src/core/errors.js';
import { LinearModel, loadLinearModel, ModelFileError, saveLinearModel, type LinearModelDocument } from '../../../src/scoring/models/linear-model.js';
import { fitLinear, trainLinearModel } from '../../../src/scoring/models/linear-trainer.js';
import type { FeatureRow } from '../../../src/scoring/models/model.js';

/** Deterministic uniform numbers in [-1, 1) (Park–Miller), so failures reproduce. */
function rng(seed: number): () => number {
  let s = seed;
  return () => {
    s = (s * 48271) % 2147483647;
    return (s / 2147483647) * 2 - 1;
  };
}

const doc = (o: Partial<LinearModelDocument> = {}): LinearModelDocument => ({
  format: 'ibpipe-linear-model',
  format_version: 1,
  id: 'm',
  version: '1',
  kind: 'linear',
  feature_names: ['a', 'b'],
  means: [1, 10],
  stds: [2, 5],
  coefficients: [0.5, -1],
  intercept: 3,
  ...o,
});

describe('LinearModel', () => {
  it('scores intercept + Σ coef·(x − mean)/std, and the logistic of that', async () => {
    const rows: FeatureRow[] = [{ symbol: 'AAPL', ts: 1, a: 5, b: 0 }, { a: 1, b: 10 }];
    // Row 0: 3 + 0.5·(5−1)/2 − 1·(0−10)/5 = 3 + 1 + 2 = 6. Row 1: all at the mean → 3.
    expect(await new LinearModel(doc()).predict(rows)).toEqual([6, 3]);
    const p = await new LinearModel(doc({ kind: 'logistic' })).predict(rows);
    expect(p[0]).toBeCloseTo(1 / (1 + Math.exp(-6)), 15);
    expect(p[1]).toBeCloseTo(1 / (1 + Math.exp(-3)), 15);
    // Far tails stay finite and in (0, 1].
    const tail = await new LinearModel(doc({ kind: 'logistic', intercept: -2000 })).predict([{ a: 1, b: 10 }]);
    expect(tail[0]).toBe(0);
  });

  it('refuses to score a row with a NULL or missing feature', async () => {
    const m = new LinearModel(doc());
    await expect(m.predict([{ a: 1, b: 2 }, { a: null, b: 1 }])).rejects.toThrow(/feature a of row 1 is NULL/);
    await expect(m.predict([{ a: 1 }])).rejects.toBeInstanceOf(InputError);
  });

  it('round-trips through a file and names the file and field of every problem', () => {
    const dir = mkdtempSync(join(tmpdir(), 'ibpipe-'));
    const file = join(dir, 'models', 'm.json');
    saveLinearModel(file, doc({ coefficients: [0.1 + 0.2, 1 / 3] }));
    const loaded = loadLinearModel(file);
    expect(loaded.document.coefficients).toEqual([0.1 + 0.2, 1 / 3]);
    expect(loaded.featureNames).toEqual(['a', 'b']);

    const bad = join(dir, 'bad.json');
    writeFileSync(bad, JSON.stringify({ ...doc(), stds: [2, 0], coefficients: [1], extra: true }));
    try {
      loadLinearModel(bad);
      expect.unreachable();
    } catch (err) {
      expect(err).toBeInstanceOf(ModelFileError);
      const e = err as ModelFileError;
      expect(e.message.startsWith(`${bad}: invalid model file`)).toBe(true);
      expect(e.exitCode).toBe(2);
      expect(e.issues).toEqual(expect.arrayContaining(['stds[1]: must be > 0', 'extra: unknown key']));
    }
    writeFileSync(bad, JSON.stringify({ ...doc(), coefficients: [1] }));
    expect(() => loadLinearModel(bad)).toThrow('coefficients: has 1 entries, feature_names has 2');
    writeFileSync(bad, '{"format": ');
    expect(() => loadLinearModel(bad)).toThrow(/bad\.json: invalid model file\nnot valid JSON/);
    expect(() => loadLinearModel(join(dir, 'absent.json'))).toThrow(/absent\.json: invalid model file\ncannot read/);
    expect(JSON.parse(readFileSync(file, 'utf8')).format).toBe('ibpipe-linear-model');
  });
});

describe('fitLinear', () => {
  const trueB = [1.5, -2, 0.25, 3];
  const trueC = 0.7;
  const rand = rng(42);
  const x = Array.from({ length: 60 }, () => [rand() * 10 + 5, rand() * 0.01, rand() * 1000 - 300, rand()]);
  const y = x.map((r) => trueC + r.reduce((s, v, j) => s + v * trueB[j]!, 0));

  /** Coefficients and intercept back on the raw feature scale. */
  function raw(fit: { means: number[]; stds: number[]; coefficients: number[]; intercept: number }) {
    const b = fit.coefficients.map((c, j) => c / fit.stds[j]!);
    const c = fit.intercept - b.reduce((s, bj, j) => s + bj * fit.means[j]!, 0);
    return { b, c };
  }

  it('recovers the coefficients of noise-free data exactly (OLS)', () => {
    const fit = fitLinear(x, y);
    const { b, c } = raw(fit);
    b.forEach((v, j) => expect(Math.abs(v - trueB[j]!)).toBeLessThan(1e-9));
    expect(Math.abs(c - trueC)).toBeLessThan(1e-9);
  });

  it('trains a model file whose predictions match the generating formula', async () => {
    const names = ['f1', 'f2', 'f3', 'f4'];
    const rows = x.map((r, i) => ({ symbol: 'AAPL', ts: i, f1: r[0]!, f2: r[1]!, f3: r[2]!, f4: r[3]!, y: y[i]! }));
    rows.push({ symbol: 'AAPL', ts: 99, f1: 1, f2: null as unknown as number, f3: 1, f4: 1, y: 1 }); // warm-up row
    const trained = trainLinearModel(rows, { id: 'ols', version: '1', featureNames: names, labelColumn: 'y', metadata: { dataset_id: 'd1' } });
    expect(trained.rowsUsed).toBe(60);
    expect(trained.rowsSkipped).toBe(1);
    expect(trained.document.metadata).toMatchObject({ dataset_id: 'd1', training: { rows: 60, rows_skipped: 1, label: 'y' } });
    expect((trained.document.metadata!['training'] as { r2: number }).r2).toBeCloseTo(1, 12);
    const fresh = [[0, 0, 0, 0], [7, -0.005, 12, 0.5]];
    const scores = await new LinearModel(trained.document).predict(fresh.map((r) => ({ f1: r[0]!, f2: r[1]!, f3: r[2]!, f4: r[3]! })));
    fresh.forEach((r, i) => expect(Math.abs(scores[i]! - (trueC + r.reduce((s, v, j) => s + v * trueB[j]!, 0)))).toBeLessThan(1e-9));
  });

  it('gives constant columns a zero coefficient and rejects collinear ones unless ridged', () => {
    const withConst = x.map((r) => [...r, 4.2]);
    const fit = fitLinear(withConst, y);
    expect(fit.constantColumns).toEqual([4]);
    expect(fit.coefficients[4]).toBe(0);
    raw(fit).b.slice(0, 4).forEach((v, j) => expect(Math.abs(v - trueB[j]!)).toBeLessThan(1e-9));

    const collinear = x.map((r) => [...r, r[0]! + 2 * r[3]!]);
    expect(() => fitLinear(collinear, y)).toThrow(/collinear/);
    expect(() => fitLinear(collinear, y, { ridge: 0.1 })).not.toThrow();
  });

  it('shrinks by 1 / (1 + λ) for one standardised feature', () => {
    const one = x.map((r) => [r[0]!]);
    const n = one.length;
    const m = one.reduce((s, r) => s + r[0]! / n, 0);
    const sd = Math.sqrt(one.reduce((s, r) => s + (r[0]! - m) ** 2 / n, 0));
    const ybar = y.reduce((s, v) => s + v / n, 0);
    const cov = one.reduce((s, r, i) => s + (((r[0]! - m) / sd) * (y[i]! - ybar)) / n, 0);
    const fit = fitLinear(one, y, { ridge: 0.5 });
    expect(fit.coefficients[0]).toBeCloseTo(cov / 1.5, 12);
    expect(fit.intercept).toBeCloseTo(ybar, 12);
  });

  it('logistic fit matches the closed-form MLE for one binary feature', async () => {
    // x = 0: 10 positives out of 30 (p = 1/3); x = 1: 30 out of 40 (p = 3/4).
    // MLE: intercept = logit(1/3) = ln(1/2), slope = logit(3/4) − logit(1/3) = ln 3 − ln(1/2) = ln 6.
    const rows = [
      ...Array.from({ length: 30 }, (_, i) => ({ x: 0, up: i < 10 ? 0.01 : -0.01 })),
      ...Array.from({ length: 40 }, (_, i) => ({ x: 1, up: i < 30 ? 0.02 : 0 })),
    ];
    const { document } = trainLinearModel(rows, { id: 'lg', version: '1', featureNames: ['x'], labelColumn: 'up', kind: 'logistic' });
    const b = document.coefficients[0]! / document.stds[0]!;
    const c = document.intercept - b * document.means[0]!;
    expect(Math.abs(b - Math.log(6))).toBeLessThan(1e-9);
    expect(Math.abs(c - Math.log(0.5))).toBeLessThan(1e-9);
    const p = await new LinearModel(document).predict([{ x: 0 }, { x: 1 }]);
    expect(Math.abs(p[0]! - 1 / 3)).toBeLessThan(1e-9);
    expect(Math.abs(p[1]! - 3 / 4)).toBeLessThan(1e-9);

    const separable = [{ x: 0, up: 0 }, { x: 0, up: 0 }, { x: 1, up: 1 }, { x: 1, up: 1 }];
    expect(() => trainLinearModel(separable, { id: 's', version: '1', featureNames: ['x'], labelColumn: 'up', kind: 'logistic' })).toThrow(InputError);
    expect(() => trainLinearModel(separable, { id: 's', version: '1', featureNames: ['x'], labelColumn: 'up', kind: 'logistic', ridge: 0.1 })).not.toThrow();
  });
});
