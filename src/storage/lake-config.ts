import { z } from 'zod';

export const lakeConfigSchema = z
  .object({
    /** Root folder of the lake; relative paths resolve against the config file's folder. */
    root: z.string().min(1).default('./data'),
    /** DuckDB memory limit for lake work, e.g. `2GB`. */
    memory_limit: z.string().regex(/^\d+(\.\d+)?\s*(KB|MB|GB|TB|KiB|MiB|GiB|TiB)$/i).default('2GB'),
    threads: z.number().int().min(1).max(64).default(2),
    /**
     * Source rows a feature run holds in memory per read, lookback included (about 150 bytes a
     * row for the technical group); reads take every symbol and as many sessions as fit.
     */
    feature_batch_rows: z.number().int().min(10_000).default(1_000_000),
  })
  .strict();
export type LakeConfig = z.infer<typeof lakeConfigSchema>;
