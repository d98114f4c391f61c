import { z } from 'zod';
import { INSTRUMENT_KEY_MESSAGE, isValidInstrumentKey } from '../core/instruments.js';

/** Label kinds ibpipe computes from curated closes (see labels.ts for the exact formulas). */
export const LABEL_KINDS = ['forward_return', 'forward_log_return', 'direction', 'forward_volatility'] as const;
export type LabelKind = (typeof LABEL_KINDS)[number];

/** What to do with a label whose window touches an imputed bar: drop the row, or keep it with `label_imputed = true`. */
export const IMPUTED_POLICIES = ['drop', 'flag'] as const;
export type ImputedPolicy = (typeof IMPUTED_POLICIES)[number];

/** Label names become dataset column names, so they are plain lower-case identifiers. */
const COLUMN_NAME = /^[a-z][a-z0-9_]{0,63}$/;
/** Dataset names become a directory under datasets/. */
const DATASET_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
const DATE = /^\d{4}-\d{2}-\d{2}$/;

const sessionDate = z
  .string()
  .regex(DATE, 'expected YYYY-MM-DD')
  .refine((s) => {
    const d = new Date(`${s}T00:00:00Z`);
    return !Number.isNaN(d.getTime()) && d.toISOString().slice(0, 10) === s;
  }, 'not a calendar date');

export const labelSpecSchema = z
  .object({
    name: z.string().regex(COLUMN_NAME, 'must match ^[a-z][a-z0-9_]{0,63}$ (it becomes a column name)'),
    kind: z.enum(LABEL_KINDS),
    /** Number of bars after the anchor bar the label looks at (h). */
    horizon_bars: z.number().int().min(1).max(100_000),
    /** When false (the default), a label whose window leaves the anchor's session is not produced. */
    across_sessions: z.boolean().default(false),
    /** direction only: |forward return| <= threshold is class 0; a fraction, e.g. 0.001 = 10 bp. */
    threshold: z.number().min(0).optional(),
    imputed_policy: z.enum(IMPUTED_POLICIES).default('drop'),
  })
  .strict()
  .superRefine((spec, ctx) => {
    if (spec.threshold !== undefined && spec.kind !== 'direction') {
      ctx.addIssue({ code: 'custom', path: ['threshold'], message: `only valid for kind direction, not ${spec.kind}` });
    }
  });
export type LabelSpec = z.infer<typeof labelSpecSchema>;

export const labelsConfigSchema = z
  .array(labelSpecSchema)
  .default([])
  .superRefine((labels, ctx) => duplicateNames(labels, ctx));

export const featureGroupRefSchema = z
  .object({
    name: z.string().min(1),
    /** The group's version as declared in feature_groups (e.g. `v1`); older stored versions are allowed. */
    version: z.string().min(1),
  })
  .strict();
export type FeatureGroupRef = z.infer<typeof featureGroupRefSchema>;

const fraction = z.number().min(0).max(1);

/**
 * Split by time, either by fractions of the distinct anchor instants or by session-date
 * cutoffs. `embargo_bars` anchor instants after every boundary belong to no split, and rows
 * whose label window reaches past a boundary are purged from the earlier split.
 */
export const splitSpecSchema = z
  .object({
    train: fraction.optional(),
    validation: fraction.optional(),
    test: fraction.optional(),
    /** First session date of the validation split (date form). */
    validation_start: sessionDate.optional(),
    /** First session date of the test split (date form). */
    test_start: sessionDate.optional(),
    embargo_bars: z.number().int().min(0).default(0),
  })
  .strict()
  .superRefine((s, ctx) => {
    const hasFractions = s.train !== undefined || s.validation !== undefined || s.test !== undefined;
    const hasDates = s.validation_start !== undefined || s.test_start !== undefined;
    if (hasFractions && hasDates) {
      ctx.addIssue({ code: 'custom', path: [], message: 'use either fractions (train/validation/test) or dates (validation_start/test_start), not both' });
      return;
    }
    if (!hasFractions && !hasDates) {
      ctx.addIssue({ code: 'custom', path: [], message: 'expected fractions (train/validation/test) or dates (validation_start/test_start)' });
      return;
    }
    if (hasFractions) {
      const sum = (s.train ?? 0) + (s.validation ?? 0) + (s.test ?? 0);
      if (Math.abs(sum - 1) > 1e-9) ctx.addIssue({ code: 'custom', path: [], message: `train + validation + test must be 1, got ${sum}` });
      if (!((s.train ?? 0) > 0)) ctx.addIssue({ code: 'custom', path: ['train'], message: 'must be > 0' });
    }
    if (s.validation_start !== undefined && s.test_start !== undefined && s.validation_start >= s.test_start) {
      ctx.addIssue({ code: 'custom', path: ['test_start'], message: `must be after validation_start (${s.validation_start})` });
    }
  });
export type SplitSpec = z.infer<typeof splitSpecSchema>;

export const datasetSpecSchema = z
  .object({
    name: z.string().regex(DATASET_NAME, 'must match ^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$ (it becomes a directory)'),
    feature_groups: z.array(featureGroupRefSchema).min(1, 'at least one feature group is required'),
    /** Name of an entry in `labels`. */
    label: z.string().min(1),
    /** First and last session dates of anchors (inclusive). */
    start: sessionDate,
    end: sessionDate,
    symbols: z.array(z.string().refine(isValidInstrumentKey, INSTRUMENT_KEY_MESSAGE)).min(1, 'at least one symbol is required'),
    filters: z
      .object({
        /** Drop rows whose feature inputs were computed over imputed bars. */
        drop_imputed_inputs: z.boolean().default(true),
      })
      .strict()
      .default({ drop_imputed_inputs: true }),
    split: splitSpecSchema.optional(),
  })
  .strict()
  .superRefine((d, ctx) => {
    if (d.start > d.end) ctx.addIssue({ code: 'custom', path: ['end'], message: `must not be before start (${d.start})` });
    const seen = new Set<string>();
    d.symbols.forEach((s, i) => {
      if (seen.has(s)) ctx.addIssue({ code: 'custom', path: ['symbols', i], message: `duplicate symbol ${s}` });
      seen.add(s);
    });
    const groups = new Set<string>();
    d.feature_groups.forEach((g, i) => {
      if (groups.has(g.name)) ctx.addIssue({ code: 'custom', path: ['feature_groups', i, 'name'], message: `feature group ${g.name} listed twice` });
      groups.add(g.name);
    });
    for (const key of ['validation_start', 'test_start'] as const) {
      const cut = d.split?.[key];
      if (cut !== undefined && (cut <= d.start || cut > d.end)) {
        ctx.addIssue({ code: 'custom', path: ['split', key], message: `must lie in (${d.start}, ${d.end}]` });
      }
    }
  });
export type DatasetSpec = z.infer<typeof datasetSpecSchema>;

export const datasetsConfigSchema = z
  .array(datasetSpecSchema)
  .default([])
  .superRefine((datasets, ctx) => duplicateNames(datasets, ctx));

function duplicateNames(items: readonly { name: string }[], ctx: z.RefinementCtx): void {
  const seen = new Map<string, number>();
  items.forEach((item, i) => {
    const prev = seen.get(item.name);
    if (prev !== undefined) ctx.addIssue({ code: 'custom', path: [i, 'name'], message: `duplicate name ${item.name} (also [${prev}])` });
    seen.set(item.name, i);
  });
}

/** A problem that needs more than one config slice to see, with its path from the config root. */
export interface CrossReferenceIssue {
  readonly path: (string | number)[];
  readonly message: string;
}

/**
 * Checks what the slices cannot check alone: each dataset's label exists in `labels`, its
 * feature groups are declared, and its symbols are declared instruments. Feature-group
 * versions are checked by the builder against the stored versions and definition hashes (a
 * dataset may pin a version older than the one configured now).
 */
export function trainingReferenceIssues(cfg: {
  readonly labels: readonly { name: string }[];
  readonly datasets: readonly DatasetSpec[];
  readonly instruments: readonly { key: string }[];
  readonly feature_groups: readonly { name: string }[];
}): CrossReferenceIssue[] {
  const labels = new Set(cfg.labels.map((l) => l.name));
  const instruments = new Set(cfg.instruments.map((i) => i.key));
  const groups = new Set(cfg.feature_groups.map((g) => g.name));
  const issues: CrossReferenceIssue[] = [];
  cfg.datasets.forEach((d, i) => {
    if (!labels.has(d.label)) issues.push({ path: ['datasets', i, 'label'], message: `no label named ${d.label} in labels` });
    d.feature_groups.forEach((g, j) => {
      if (!groups.has(g.name)) issues.push({ path: ['datasets', i, 'feature_groups', j, 'name'], message: `no feature group named ${g.name} in feature_groups` });
    });
    d.symbols.forEach((s, j) => {
      if (!instruments.has(s)) issues.push({ path: ['datasets', i, 'symbols', j], message: `${s} is not a configured instrument` });
    });
  });
  return issues;
}
