#!/usr/bin/env node
// The published entry point runs the TypeScript sources through tsx's loader, so `npx ibpipe`
// works from a checkout without a build step; `npm run build` emits dist/ for deployments.
import { register } from 'tsx/esm/api';

register();
await import('../src/cli/main.ts');
