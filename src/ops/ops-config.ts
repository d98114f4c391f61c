import { z } from 'zod';

// Placeholder slices; the daemon issue defines job declarations here.
export const jobsConfigSchema = z.array(z.record(z.string(), z.unknown())).default([]);

export const httpConfigSchema = z
  .object({
    enabled: z.boolean().default(true),
    host: z.string().default('127.0.0.1'),
    port: z.number().int().min(0).max(65535).default(9464),
  })
  .strict();
