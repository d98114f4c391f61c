import { z } from 'zod';

// Placeholder slice; the transform issue defines the rule union here.
export const dqRulesConfigSchema = z.record(z.string(), z.array(z.record(z.string(), z.unknown()))).default({});

export const gapsConfigSchema = z
  .object({
    frequency: z.string().regex(/^\d+(s|min|h|d)$/).default('1min'),
    imputation: z.record(z.string(), z.string()).default({ close: 'ffill', volume: 'zero' }),
    max_gap_bars: z.number().int().positive().default(30),
  })
  .strict();
