import { z } from 'zod';

// Placeholder slices; the datasets issue defines labels and dataset specs here.
export const labelsConfigSchema = z.array(z.record(z.string(), z.unknown())).default([]);
export const datasetsConfigSchema = z.array(z.record(z.string(), z.unknown())).default([]);
