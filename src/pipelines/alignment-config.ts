import { z } from 'zod';
import { asOfPolicy, AS_OF_DIRECTIONS, type AsOfPolicy } from '../core/as-of-policy.js';
import { frequencyMs } from '../core/bars.js';
import { INSTRUMENT_KEY_MESSAGE, isValidInstrumentKey } from '../core/instruments.js';
import { durationSecondsSchema } from './features/feature-config.js';
import { barMsFromName } from './source-dataset.js';

/**
 * The `alignments` config slice: named aligned datasets (DESIGN §2 "aligned view"). Each reads
 * one curated bar dataset for a session, optionally resamples it to a coarser frequency, and
 * joins further datasets onto it by (symbol, ts) — exactly, or as-of under an {@link AsOfPolicy}.
 *
 * ```yaml
 * alignments:
 *   - name: aligned_5min
 *     source: bars_1min
 *     frequency: 5min
 *     joins:
 *       - { dataset: bars_1min, as: spy, symbol: SPY, columns: [close], as_of: { direction: backward, tolerance: 10m } }
 *       - { dataset: bars_5min, as: b5, columns: [close, volume], how: exact }
 * ```
 */

const IDENTIFIER = /^[a-z][a-z0-9_]{0,62}$/;
const identifier = z.string().regex(IDENTIFIER, 'expected a lower-case identifier: a letter, then letters, digits or _');
const frequency = z
  .string()
  .regex(/^\d+(s|min|h|d)$/, 'expected a frequency such as 5s, 1min, 5min, 1h')
  .refine((f) => frequencyMs(f) > 0, 'frequency must be positive');

/**
 * Config form of an {@link AsOfPolicy} (snake_case): `{ direction: backward, tolerance: 5m,
 * allow_exact_matches: true }`; `tolerance` is a duration ('30s', '5m', '2h', '1d' or seconds).
 */
export const asOfPolicyConfigSchema = z
  .object({
    direction: z.enum(AS_OF_DIRECTIONS).default('backward'),
    tolerance: durationSecondsSchema.optional(),
    allow_exact_matches: z.boolean().default(true),
  })
  .strict()
  .transform(
    (c): AsOfPolicy =>
      asOfPolicy({ direction: c.direction, toleranceMs: c.tolerance === undefined ? null : c.tolerance * 1000, allowExactMatches: c.allow_exact_matches }),
  );

export const alignmentJoinSchema = z
  .object({
    /** Curated dataset to join: another bar size (`bars_5s`) or reference data (`symbol`, `ts`, values). */
    dataset: identifier,
    /** Prefix of the joined columns: `<as>_<column>`, `<as>_ts`, `<as>_is_imputed`. */
    as: identifier,
    columns: z.array(identifier).min(1),
    /** Join this one instrument's rows to every symbol (a market factor) instead of matching symbols. */
    symbol: z.string().refine(isValidInstrumentKey, INSTRUMENT_KEY_MESSAGE).optional(),
    /** `exact`: same bar start; `asof`: by the policy in `as_of`. */
    how: z.enum(['exact', 'asof']).default('asof'),
    as_of: asOfPolicyConfigSchema.optional(),
    /**
     * Instants an as-of join compares. `available_ts` (default): when each bar became known
     * (ts + bar length; reference rows are known at their ts), which keeps backward joins point
     * in time; `ts`: bar starts.
     */
    on: z.enum(['available_ts', 'ts']).default('available_ts'),
    /** Resample the joined dataset to this frequency before joining (bars datasets only). */
    frequency: frequency.optional(),
  })
  .strict()
  .superRefine((j, ctx) => {
    if (j.how === 'exact' && j.as_of) ctx.addIssue({ code: 'custom', path: ['as_of'], message: 'as_of applies to how: asof only' });
    if (j.frequency !== undefined) {
      const native = barMsFromName(j.dataset);
      if (native === undefined) ctx.addIssue({ code: 'custom', path: ['frequency'], message: `can only resample a bars_<frequency> dataset, not ${j.dataset}` });
      else if (frequencyMs(j.frequency) % native !== 0) {
        ctx.addIssue({ code: 'custom', path: ['frequency'], message: `${j.frequency} is not a multiple of ${j.dataset}'s bar length` });
      }
    }
  });
export type AlignmentJoin = z.infer<typeof alignmentJoinSchema>;

export const alignmentSpecSchema = z
  .object({
    /** Output dataset: `aligned/<name>/date=<D>/data.parquet`; feature groups may name it as `source`. */
    name: identifier,
    /** Curated bars dataset read for the session, e.g. `bars_1min`. */
    source: identifier,
    /** Output bar frequency; defaults to the source's. Coarser frequencies resample OHLCV-correctly. */
    frequency: frequency.optional(),
    joins: z.array(alignmentJoinSchema).default([]),
  })
  .strict()
  .superRefine((a, ctx) => {
    if (barMsFromName(a.name) !== undefined) {
      ctx.addIssue({ code: 'custom', path: ['name'], message: 'bars_<frequency> names are curated datasets; pick another name' });
    }
    const native = barMsFromName(a.source);
    if (native === undefined) {
      ctx.addIssue({ code: 'custom', path: ['source'], message: `expected a curated bars_<frequency> dataset, e.g. bars_1min` });
    } else if (a.frequency !== undefined && frequencyMs(a.frequency) % native !== 0) {
      ctx.addIssue({ code: 'custom', path: ['frequency'], message: `${a.frequency} is not a multiple of ${a.source}'s bar length` });
    }
    const seen = new Map<string, number>();
    a.joins.forEach((j, i) => {
      const prev = seen.get(j.as);
      if (prev !== undefined) ctx.addIssue({ code: 'custom', path: ['joins', i, 'as'], message: `duplicate prefix ${j.as} (also joins[${prev}])` });
      seen.set(j.as, i);
    });
  })
  .transform((a) => ({ ...a, frequency: a.frequency ?? (a.source.slice('bars_'.length) as string) }));
export type AlignmentSpec = z.infer<typeof alignmentSpecSchema>;
export type AlignmentSpecInput = z.input<typeof alignmentSpecSchema>;

export const alignmentsConfigSchema = z
  .array(alignmentSpecSchema)
  .default([])
  .superRefine((specs, ctx) => {
    const seen = new Map<string, number>();
    specs.forEach((s, i) => {
      const prev = seen.get(s.name);
      if (prev !== undefined) ctx.addIssue({ code: 'custom', path: [i, 'name'], message: `duplicate alignment ${s.name} (also alignments[${prev}])` });
      seen.set(s.name, i);
    });
  });
export type AlignmentsConfig = z.infer<typeof alignmentsConfigSchema>;
