import { isAbsolute, resolve } from 'node:path';
import { z } from 'zod';

/**
 * The `feature_groups` config slice (DESIGN §7). A group names a source dataset and a list of
 * feature specs; each spec is a discriminated union on `fn` with that function's own params,
 * so a typo or a param that belongs to another function is an error naming its path
 * (`feature_groups[0].features[3].window`).
 */

/** Lower-case SQL-friendly identifier: safe as a column name, a path segment and in `features_<group>`. */
const IDENTIFIER = /^[a-z][a-z0-9_]{0,62}$/;
const IDENTIFIER_MESSAGE = 'expected a lower-case identifier: a letter, then letters, digits or _ (max 63)';
const VERSION = /^[A-Za-z0-9][A-Za-z0-9._-]{0,31}$/;

const identifier = z.string().regex(IDENTIFIER, IDENTIFIER_MESSAGE);
const window = z.number().int().min(1);
/** Windows over which a sample or population standard deviation is taken need two points. */
const stdWindow = z.number().int().min(2);
const period = z.number().int().min(1);
/** The series column a feature reads; the OHLCV columns plus any extra numeric column the caller supplies. */
const column = identifier.default('close');

/** Output columns the feature store writes itself; a feature may not shadow them. */
export const RESERVED_FEATURE_COLUMNS: readonly string[] = [
  'symbol',
  'ts',
  'available_ts',
  'date',
  'feature_group',
  'version',
  'definition_hash',
  'is_imputed',
  'imputation',
];

const base = { name: identifier };

export const smaSpecSchema = z.object({ ...base, fn: z.literal('sma'), column, window }).strict();
export const emaSpecSchema = z.object({ ...base, fn: z.literal('ema'), column, window }).strict();
export const rollingMeanSpecSchema = z.object({ ...base, fn: z.literal('rolling_mean'), column, window }).strict();
export const rollingStdSpecSchema = z
  .object({
    ...base,
    fn: z.literal('rolling_std'),
    column,
    window: stdWindow,
    /** 1 = sample standard deviation (default), 0 = population. */
    ddof: z.union([z.literal(0), z.literal(1)]).default(1),
  })
  .strict();
export const rollingVolatilitySpecSchema = z
  .object({ ...base, fn: z.literal('rolling_volatility'), column, window: stdWindow })
  .strict();
export const zscoreSpecSchema = z.object({ ...base, fn: z.literal('zscore'), column, window: stdWindow }).strict();
export const returnsSpecSchema = z.object({ ...base, fn: z.literal('returns'), column, period: period.default(1) }).strict();
export const logReturnsSpecSchema = z
  .object({ ...base, fn: z.literal('log_returns'), column, period: period.default(1) })
  .strict();
export const lagSpecSchema = z
  .object({
    ...base,
    fn: z.literal('lag'),
    column,
    periods: z
      .array(period)
      .min(1)
      .refine((ps) => new Set(ps).size === ps.length, 'periods must be distinct'),
  })
  .strict();
export const rsiSpecSchema = z.object({ ...base, fn: z.literal('rsi'), column, window: window.default(14) }).strict();
export const macdSpecSchema = z
  .object({
    ...base,
    fn: z.literal('macd'),
    column,
    fast: window.default(12),
    slow: window.default(26),
    signal: window.default(9),
  })
  .strict()
  .refine((s) => s.fast < s.slow, { message: 'fast must be shorter than slow', path: ['fast'] });
export const bollingerSpecSchema = z
  .object({ ...base, fn: z.literal('bollinger'), column, window: stdWindow.default(20), k: z.number().positive().default(2) })
  .strict();
export const atrSpecSchema = z.object({ ...base, fn: z.literal('atr'), window: window.default(14) }).strict();
/** Per-bar price the session VWAP weights by volume; `wap` reads the series' extra `wap` column (IB's bar WAP). */
export const VWAP_PRICES = ['typical', 'close', 'hl2', 'ohlc4', 'wap'] as const;
export const vwapSpecSchema = z
  .object({ ...base, fn: z.literal('vwap'), price: z.enum(VWAP_PRICES).default('typical') })
  .strict();

/** A JavaScript identifier: the name a custom module exports its function under. */
const EXPORT_NAME = /^[A-Za-z_$][A-Za-z0-9_$]{0,127}$/;
/** Module files a custom feature may name: JavaScript, or TypeScript (loaded through tsx). */
export const FEATURE_MODULE_FILE = /\.(js|mjs|ts|mts)$/;
const distinctIdentifiers = (what: string) =>
  z
    .array(identifier)
    .min(1)
    .refine((xs) => new Set(xs).size === xs.length, `${what} must be distinct`);

/**
 * A user-defined feature function in a module (README "Custom features"). `module` is resolved
 * relative to the config file's directory when the config is loaded; its content (sha256), not its
 * path, is part of the definition hash.
 */
export const customSpecSchema = z
  .object({
    ...base,
    fn: z.literal('custom'),
    module: z.string().min(1).regex(FEATURE_MODULE_FILE, 'expected a .js, .mjs, .ts or .mts file'),
    export: z.string().regex(EXPORT_NAME, 'expected a JavaScript identifier').default('default'),
    /** Source columns handed to the function, as Float64Arrays (NaN = NULL). */
    inputs: distinctIdentifiers('inputs'),
    /** JSON object handed to the function as `params`. */
    params: z.record(z.string(), z.json()).default({}),
    /** Bars of history before a day's first bar that the function's values depend on. */
    lookback_bars: z.number().int().min(0).default(0),
    /** Names of the arrays the function returns; one → column `name`, several → `name_<output>`. */
    outputs: distinctIdentifiers('outputs').default(['value']),
  })
  .strict();
/**
 * A SQL window expression evaluated by DuckDB over the source rows, with `w` = the last `window`
 * rows of the symbol (README "Expression features"). Validated against DuckDB's parser at run start.
 */
export const expressionSpecSchema = z
  .object({
    ...base,
    fn: z.literal('expression'),
    expr: z.string().trim().min(1).max(10_000),
    window: window.default(1),
  })
  .strict();

export const featureSpecSchema = z.discriminatedUnion('fn', [
  smaSpecSchema,
  emaSpecSchema,
  rollingMeanSpecSchema,
  rollingStdSpecSchema,
  rollingVolatilitySpecSchema,
  zscoreSpecSchema,
  returnsSpecSchema,
  logReturnsSpecSchema,
  lagSpecSchema,
  rsiSpecSchema,
  macdSpecSchema,
  bollingerSpecSchema,
  atrSpecSchema,
  vwapSpecSchema,
  customSpecSchema,
  expressionSpecSchema,
]);
export type FeatureSpec = z.infer<typeof featureSpecSchema>;
export type FeatureFn = FeatureSpec['fn'];
/** The spec type of one function, e.g. `SpecOf<'macd'>`. */
export type SpecOf<F extends FeatureFn> = Extract<FeatureSpec, { fn: F }>;

const DURATION = /^(\d+)\s*(s|m|min|h|d)$/;
const DURATION_SECONDS: Record<string, number> = { s: 1, m: 60, min: 60, h: 3600, d: 86_400 };

/** A duration as seconds (`300`) or with a unit (`'30s'`, `'5m'`, `'5min'`, `'2h'`, `'1d'`), parsed to seconds. */
export const durationSecondsSchema = z.union([
  z.number().positive(),
  z
    .string()
    .regex(DURATION)
    .transform((s) => {
      const m = DURATION.exec(s) as RegExpExecArray;
      return Number(m[1]) * (DURATION_SECONDS[m[2] as string] as number);
    })
    .refine((n) => n > 0, 'duration must be positive'),
], { error: "expected a duration such as '30s', '5m', '2h', '1d' or a positive number of seconds" });

/** Output column names of one spec, in write order. Kept here so validation and the registry agree. */
export function specOutputColumns(spec: FeatureSpec): string[] {
  switch (spec.fn) {
    case 'macd':
      return [spec.name, `${spec.name}_signal`, `${spec.name}_hist`];
    case 'bollinger':
      return [`${spec.name}_lower`, `${spec.name}_mid`, `${spec.name}_upper`];
    case 'lag':
      return spec.periods.map((p) => `${spec.name}_${p}`);
    case 'custom':
      return spec.outputs.length === 1 ? [spec.name] : spec.outputs.map((o) => `${spec.name}_${o}`);
    default:
      return [spec.name];
  }
}

export const featureGroupSchema = z
  .object({
    name: identifier,
    version: z.string().regex(VERSION, 'expected e.g. v1 (letters, digits, . _ -; max 32)'),
    /** Curated (or aligned) dataset the group reads, e.g. `bars_1min`. */
    source: identifier,
    /** Age beyond which inference lookups report `stale`; absent means the store's default. Not part of the definition hash. */
    ttl: durationSecondsSchema.optional(),
    features: z.array(featureSpecSchema).min(1, 'a feature group needs at least one feature'),
  })
  .strict()
  .superRefine((group, ctx) => {
    const owner = new Map<string, number>();
    const names = new Map<string, number>();
    group.features.forEach((spec, i) => {
      const prevName = names.get(spec.name);
      if (prevName !== undefined) {
        ctx.addIssue({ code: 'custom', path: ['features', i, 'name'], message: `duplicate feature name ${spec.name} (also features[${prevName}])` });
        return;
      }
      names.set(spec.name, i);
      for (const col of specOutputColumns(spec)) {
        const prev = owner.get(col);
        if (prev !== undefined) {
          ctx.addIssue({
            code: 'custom',
            path: ['features', i, 'name'],
            message: `output column ${col} is also produced by features[${prev}] (${group.features[prev]?.name})`,
          });
        } else if (RESERVED_FEATURE_COLUMNS.includes(col) || col.endsWith('_imputed')) {
          ctx.addIssue({ code: 'custom', path: ['features', i, 'name'], message: `output column ${col} is reserved by the feature store` });
        }
        owner.set(col, i);
      }
    });
  });
export type FeatureGroup = z.infer<typeof featureGroupSchema>;
/** A group as written in YAML, before defaults are applied. */
export type FeatureGroupInput = z.input<typeof featureGroupSchema>;

export const featureGroupsConfigSchema = z
  .array(featureGroupSchema)
  .default([])
  .superRefine((groups, ctx) => {
    const seen = new Map<string, number>();
    groups.forEach((g, i) => {
      const prev = seen.get(g.name);
      if (prev !== undefined) {
        ctx.addIssue({ code: 'custom', path: [i, 'name'], message: `duplicate feature group ${g.name} (also feature_groups[${prev}])` });
      }
      seen.set(g.name, i);
    });
  });
export type FeatureGroupsConfig = z.infer<typeof featureGroupsConfigSchema>;

/**
 * Resolves every custom feature's `module` against `baseDir` (the config file's directory), in
 * place: called once by the settings loader, like models' paths.
 */
export function resolveFeatureModulePaths(groups: FeatureGroupsConfig, baseDir: string): void {
  for (const g of groups) for (const spec of g.features) if (spec.fn === 'custom' && !isAbsolute(spec.module)) spec.module = resolve(baseDir, spec.module);
}
