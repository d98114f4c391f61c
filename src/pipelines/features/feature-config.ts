import { z } from 'zod';

// Placeholder slice; the features issue defines feature specs here.
export const featureGroupsConfigSchema = z.array(z.record(z.string(), z.unknown())).default([]);
