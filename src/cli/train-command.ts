import type { Command } from 'commander';
import { InputError } from '../core/errors.js';
import { addFormatOption, formatRows, jsonReplacer, resolveFormat } from './output.js';

interface TrainOptions {
  config: string;
  dataset: string;
  name?: string;
  kind?: string;
  ridge?: string;
  features?: string;
  format?: string;
}

/**
 * `ibpipe train --config F --dataset ID [--name N]`: fits the built-in linear (or logistic)
 * model on a dataset's train split, writes `<lake>/models/<name>/<version>.json` and
 * `latest.json`, and prints the model's metrics per split (JSON: the whole result, including a
 * `models:` entry to paste into the config).
 */
export function registerTrainCommand(program: Command): void {
  addFormatOption(
    program
      .command('train')
      .description('fit the small built-in linear/logistic model on a dataset (baseline and demo); prints metrics per split')
      .requiredOption('--config <file>', 'YAML config file')
      .requiredOption('--dataset <id>', 'dataset id (printed by `ibpipe run dataset`)')
      .option('--name <model>', 'model name (default: <dataset name>-<kind>)')
      .option('--kind <kind>', 'linear | logistic (default: logistic for a direction label, else linear)')
      .option('--ridge <lambda>', 'L2 penalty on standardised coefficients (default 0.01; 0 = plain least squares)')
      .option('--features <cols>', 'comma-separated feature columns (default: all of the dataset)'),
  ).action(async (opts: TrainOptions) => {
    const { loadSettings } = await import('../config/settings.js');
    const { createAppContext } = await import('../ops/app-context.js');
    const { createLogger } = await import('../ops/logging-setup.js');
    const { trainModelOnDataset } = await import('../scoring/models/dataset-trainer.js');
    const format = resolveFormat(opts.format);
    if (opts.kind !== undefined && opts.kind !== 'linear' && opts.kind !== 'logistic') throw new InputError(`--kind: expected linear or logistic, got ${JSON.stringify(opts.kind)}`);
    const ridge = opts.ridge === undefined ? undefined : Number(opts.ridge);
    if (ridge !== undefined && !(Number.isFinite(ridge) && ridge >= 0)) throw new InputError(`--ridge: expected a number >= 0, got ${JSON.stringify(opts.ridge)}`);
    const features = opts.features?.split(',').map((f) => f.trim()).filter(Boolean);
    const { settings } = loadSettings(opts.config, process.env);
    const logger = createLogger({ level: settings.logging.level, format: settings.logging.format, destination: process.stderr });
    const app = await createAppContext(settings, { logger });
    try {
      const result = await trainModelOnDataset(app.lake, {
        datasetId: opts.dataset,
        ...(opts.name !== undefined ? { modelName: opts.name } : {}),
        ...(opts.kind !== undefined ? { kind: opts.kind as 'linear' | 'logistic' } : {}),
        ...(ridge !== undefined ? { ridge } : {}),
        ...(features && features.length > 0 ? { features } : {}),
      });
      logger.info({ model: result.model, version: result.version, dataset_id: result.dataset.id, path: result.path }, 'model trained');
      const configEntry = { name: result.model, kind: 'local', path: result.latestPath, feature_group: result.featureGroup.name, feature_version: result.featureGroup.version };
      if (format === 'json') {
        process.stdout.write(`${JSON.stringify({ ...result, config_entry: configEntry }, jsonReplacer, 2)}\n`);
        return;
      }
      const rows = Object.entries(result.metrics).map(([split, m]) => ({ split, ...m }));
      process.stdout.write(`model ${result.model} version ${result.version} (${result.kind}) on dataset ${result.dataset.name}/${result.dataset.id}\n`);
      process.stdout.write(`written to ${result.path}\n`);
      process.stdout.write(`${formatRows(rows, format, columnsOf(rows))}\n`);
    } finally {
      await app.close();
    }
  });
}

function columnsOf(rows: readonly Record<string, unknown>[]): string[] {
  return [...new Set(rows.flatMap((r) => Object.keys(r)))];
}
