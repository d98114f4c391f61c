import { z } from 'zod';

// Placeholder slice; the scoring issue defines model declarations here.
export const modelsConfigSchema = z.array(z.record(z.string(), z.unknown())).default([]);
