import type { Clock } from '../../core/clock.js';
import type { Logger } from '../../core/logger.js';
import type { ModelConfig } from '../scoring-config.js';
import { HttpModel } from './http-model.js';
import { loadLinearModel } from './linear-model.js';
import type { Model } from './model.js';

export interface ModelFactoryDeps {
  readonly clock: Clock;
  readonly logger?: Logger;
}

/**
 * The Model for one `models[]` entry: a local file is loaded and validated now (ModelFileError
 * names the file and field); an HTTP model is a client and contacts nothing until `predict`.
 */
export function createModel(cfg: ModelConfig, deps: ModelFactoryDeps): Model {
  if (cfg.kind === 'local') return loadLinearModel(cfg.path);
  return new HttpModel({
    url: cfg.url,
    id: cfg.name,
    version: cfg.version,
    featureNames: cfg.features,
    clock: deps.clock,
    timeoutMs: cfg.timeout_ms,
    retries: cfg.retries,
    backoffMs: cfg.backoff_ms,
    maxBackoffMs: cfg.max_backoff_ms,
    batchSize: cfg.batch_size,
    ...(cfg.headers ? { headers: cfg.headers } : {}),
    ...(deps.logger ? { logger: deps.logger.child({ component: 'model', model: cfg.name }) } : {}),
  });
}
