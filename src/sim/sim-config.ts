import { z } from 'zod';

// Placeholder slice; the simulated gateway issue defines its market and faults here.
export const simConfigSchema = z.record(z.string(), z.unknown()).optional();
