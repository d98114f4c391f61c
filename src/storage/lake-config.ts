import { z } from 'zod';

export const lakeConfigSchema = z
  .object({
    /** Root folder of the lake; relative paths resolve against the config file's folder. */
    root: z.string().min(1).default('./data'),
    /** DuckDB memory limit for lake work, e.g. `2GB`. */
    memory_limit: z.string().regex(/^\d+(\.\d+)?\s*(KB|MB|GB|TB|KiB|MiB|GiB|TiB)$/i).default('2GB'),
    threads: z.number().int().min(1).max(64).default(2),
  })
  .strict();
export type LakeConfig = z.infer<typeof lakeConfigSchema>;
