import { z } from 'zod';
import { CURATED_MASK_COLUMNS } from '../core/bars.js';

/**
 * Config slices owned by data quality: `dq_rules` (rules as data, per dataset) and `gaps`
 * (the GapEngine's grid frequency and per-column imputation policy).
 *
 * ```yaml
 * dq_rules:
 *   tws_bars:
 *     - { type: range, field: close, min: 0.01, max: 100000, severity: error, action: quarantine }
 *     - { type: ohlc_consistency, severity: error, action: quarantine }
 *     - { type: bar_count, tolerance: { fraction: 0.02 }, severity: warn, action: log }
 *     - { type: outlier, field: close, window: 60, threshold: 8, severity: warn, action: log }
 * gaps: { frequency: 1min, imputation: { close: ffill, volume: zero }, max_gap_bars: 30 }
 * ```
 */

const DURATION = /^\d+(s|min|h|d)$/;

export const DQ_SEVERITIES = ['warn', 'error'] as const;
export type DqSeverity = (typeof DQ_SEVERITIES)[number];

export const DQ_ACTIONS = ['quarantine', 'fail', 'log'] as const;
export type DqAction = (typeof DQ_ACTIONS)[number];

const severity = z.enum(DQ_SEVERITIES);
const name = z
  .string()
  .regex(/^[A-Za-z0-9_.:-]{1,64}$/, 'expected 1-64 characters of A-Z a-z 0-9 _ . : -')
  .optional();
const column = z.string().regex(/^[A-Za-z_][A-Za-z0-9_]{0,63}$/, 'expected a column name');

/** Rules judged row by row: failing rows can be quarantined. */
function rowRule<K extends string, T extends z.ZodRawShape>(
  type: K,
  shape: T,
  defaults: { severity: DqSeverity; action: DqAction } = { severity: 'error', action: 'quarantine' },
) {
  return z
    .object({
      type: z.literal(type),
      name,
      severity: severity.default(defaults.severity),
      action: z.enum(DQ_ACTIONS).default(defaults.action),
      ...shape,
    })
    .strict();
}

/** Rules judged per entity or session: no single row to quarantine, so `fail` or `log` only. */
function aggregateRule<K extends string, T extends z.ZodRawShape>(type: K, shape: T) {
  return z
    .object({
      type: z.literal(type),
      name,
      severity: severity.default('warn'),
      action: z.enum(['fail', 'log']).default('log'),
      ...shape,
    })
    .strict();
}

export const rangeRuleSchema = rowRule('range', {
  field: column,
  /** Inclusive bounds; at least one is required. */
  min: z.number().optional(),
  max: z.number().optional(),
});

export const enumRuleSchema = rowRule('enum', {
  field: column,
  values: z.array(z.union([z.string(), z.number()])).min(1),
});

export const notNullRuleSchema = rowRule('not_null', {
  fields: z.array(column).min(1),
});

export const monotonicTimeRuleSchema = rowRule('monotonic_time', {
  /** Entity column: time must increase within each entity. */
  entity: column.default('symbol'),
  time: column.default('ts'),
  /** Strictly increasing (a repeated instant fails) unless false. */
  strict: z.boolean().default(true),
});

export const uniqueRuleSchema = rowRule('unique', {
  keys: z.array(column).min(1).default(['symbol', 'ts']),
});

export const ohlcConsistencyRuleSchema = rowRule('ohlc_consistency', {});

/** Tolerance of the bar-count rule: a fraction of the expected bars or a number of bars. */
export const barCountToleranceSchema = z.union([
  z.object({ fraction: z.number().min(0).max(1) }).strict(),
  z.object({ bars: z.number().int().min(0) }).strict(),
]);

export const barCountRuleSchema = aggregateRule('bar_count', {
  tolerance: barCountToleranceSchema.default({ bars: 0 }),
});

export const stalenessRuleSchema = aggregateRule('staleness', {
  /** Largest allowed age of the last bar's availability (`ts + bar`), e.g. `15min`. */
  max_age: z.string().regex(DURATION, 'expected a duration such as 90s, 15min, 2h, 1d'),
});

export const outlierRuleSchema = rowRule(
  'outlier',
  {
    field: column.default('close'),
    /** Number of previous returns the mean and standard deviation are taken over. */
    window: z.number().int().min(2).max(100_000).default(60),
    /** |z| above which a return is an outlier. */
    threshold: z.number().positive().default(6),
  },
  { severity: 'warn', action: 'log' },
);

export const dqRuleSchema = z
  .discriminatedUnion('type', [
    rangeRuleSchema,
    enumRuleSchema,
    notNullRuleSchema,
    monotonicTimeRuleSchema,
    uniqueRuleSchema,
    ohlcConsistencyRuleSchema,
    barCountRuleSchema,
    stalenessRuleSchema,
    outlierRuleSchema,
  ])
  .superRefine((rule, ctx) => {
    if (rule.type === 'range') {
      if (rule.min === undefined && rule.max === undefined) {
        ctx.addIssue({ code: 'custom', path: ['min'], message: 'range needs min, max or both' });
      } else if (rule.min !== undefined && rule.max !== undefined && rule.min > rule.max) {
        ctx.addIssue({ code: 'custom', path: ['max'], message: `max ${rule.max} is below min ${rule.min}` });
      }
    }
    if (rule.action === 'fail' && rule.severity !== 'error') {
      ctx.addIssue({ code: 'custom', path: ['action'], message: 'action fail needs severity error (a warning cannot stop a job)' });
    }
  });

export type DqRule = z.infer<typeof dqRuleSchema>;
export type DqRuleType = DqRule['type'];

/** Name a rule is reported under: its `name`, or one derived from its type and field. */
export function ruleName(rule: DqRule): string {
  if (rule.name !== undefined) return rule.name;
  switch (rule.type) {
    case 'range':
    case 'enum':
    case 'outlier':
      return `${rule.type}_${rule.field}`;
    default:
      return rule.type;
  }
}

/** `dq_rules`: dataset name (e.g. `tws_bars`) to its rule list; rule names unique per dataset. */
export const dqRulesConfigSchema = z
  .record(z.string().regex(/^[a-z][a-z0-9_]{0,63}$/, 'expected a dataset name such as tws_bars'), z.array(dqRuleSchema))
  .superRefine((datasets, ctx) => {
    for (const [dataset, rules] of Object.entries(datasets)) {
      const seen = new Map<string, number>();
      rules.forEach((rule, i) => {
        const n = ruleName(rule);
        const prev = seen.get(n);
        if (prev !== undefined) {
          ctx.addIssue({ code: 'custom', path: [dataset, i, 'name'], message: `rule name ${n} is also used by ${dataset}[${prev}]; set a distinct name` });
        }
        seen.set(n, i);
      });
    }
  })
  .default({});
export type DqRulesConfig = z.infer<typeof dqRulesConfigSchema>;

export const IMPUTATION_METHODS = ['ffill', 'linear', 'zero', 'none'] as const;

/** One column's imputation: `ffill`, `linear`, `zero`, `none`, or `{ constant: <number> }`. */
export const imputationStrategySchema = z.union([
  z.enum(IMPUTATION_METHODS),
  z.object({ constant: z.number() }).strict(),
]);
export type ImputationStrategy = z.infer<typeof imputationStrategySchema>;

const imputationShape = Object.fromEntries(CURATED_MASK_COLUMNS.map((c) => [c, imputationStrategySchema.optional()])) as Record<
  (typeof CURATED_MASK_COLUMNS)[number],
  z.ZodOptional<typeof imputationStrategySchema>
>;

export const gapsConfigSchema = z
  .object({
    /** Canonical grid frequency, e.g. `1min`. */
    frequency: z.string().regex(DURATION, 'expected e.g. 1min, 5min, 5s').default('1min'),
    /**
     * Strategy per curated column. Unlisted open/high/low/wap follow close; unlisted
     * trade_count follows volume; unlisted volume is `zero` when close is `ffill`
     * (QuestDB's flat-candle convention), otherwise `none`.
     */
    imputation: z.object(imputationShape).strict().default({ close: 'ffill', volume: 'zero' }),
    /** A run of missing bars longer than this is not imputed: it stays NULL and is a DQ failure. */
    max_gap_bars: z.number().int().positive().default(30),
    /**
     * After the session's close plus this, a transform is the session's final one: it curates
     * the whole grid, and bars that never came are gaps. Before it, each instrument is curated
     * only up to its newest committed raw bar (intraday-cutoff.ts).
     */
    final_grace: z.string().regex(DURATION, 'expected a duration such as 90s, 10min, 1h').default('10min'),
    /** How an over-limit gap is judged. */
    over_limit: z
      .object({ severity: severity.default('warn'), action: z.enum(['fail', 'log']).default('log') })
      .strict()
      .refine((v) => v.action !== 'fail' || v.severity === 'error', { message: 'action fail needs severity error', path: ['action'] })
      .default({ severity: 'warn', action: 'log' }),
  })
  .strict();
export type GapsConfig = z.infer<typeof gapsConfigSchema>;
