import type { Command } from 'commander';
import { InputError } from '../core/errors.js';
import type { InferenceFeatureRow } from '../storage/feature-store.js';
import type { InstantFormatter } from './instant-format.js';
import { addFormatOption, addTimeZoneOption, formatRows, resolveFormat } from './output.js';
import { parseSymbols } from './run-command.js';

interface LatestOptions {
  config: string;
  group: string;
  version?: string;
  asOf?: string;
  symbols?: string[];
  ttl?: string;
  format?: string;
  tz?: string;
}

/** An instant on the command line: ISO 8601 with a zone, or epoch ms. Zone-less text is refused. */
export function parseInstantOption(value: string, flag: string): number {
  const v = value.trim();
  if (/^\d{10,16}$/.test(v)) return Number(v);
  if (!/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,3})?)?(Z|[+-]\d{2}:\d{2})$/.test(v)) {
    throw new InputError(`${flag}: expected an ISO 8601 instant with a zone (e.g. 2024-11-26T15:00:30Z) or epoch ms, got ${JSON.stringify(value)}`);
  }
  const ms = Date.parse(v);
  if (Number.isNaN(ms)) throw new InputError(`${flag}: ${JSON.stringify(value)} is not a valid instant`);
  return ms;
}

/**
 * `ibpipe features latest --config F --group G [--version V] [--as-of T] [--symbols A,B]`: per
 * symbol, the latest feature row available at T (`available_ts <= T`), its age and status
 * (`ok`, `stale` beyond the group's TTL with NULL values, `missing`). JSON keeps each answer's
 * shape (`features` nested); table and CSV flatten the feature columns.
 */
export function registerFeaturesCommands(program: Command): void {
  const features = program.command('features').description('the feature store: point-in-time lookups');
  addTimeZoneOption(
    addFormatOption(
      features
        .command('latest')
        .description('latest features per symbol available at an instant (point in time), with age and status')
        .requiredOption('--config <file>', 'YAML config file')
        .requiredOption('--group <name>', 'feature group')
        .option('--version <version>', 'feature group version (default: the configured one)')
        .option('--as-of <instant>', 'ISO 8601 instant with a zone, or epoch ms (default: now)')
        .option('--symbols <keys...>', 'instrument keys, comma- or space-separated (default: all configured)')
        .option('--ttl <duration>', "staleness bound, e.g. '90s', '5m' (default: the group's ttl, else 5 bars)"),
    ),
  ).action(async (opts: LatestOptions) => {
    const { loadSettings } = await import('../config/settings.js');
    const { createAppContext } = await import('../ops/app-context.js');
    const { resolveFeatureGroup } = await import('../jobs/feature-job.js');
    const { durationSecondsSchema } = await import('../pipelines/features/feature-config.js');
    const { resolveSourceDataset } = await import('../pipelines/source-dataset.js');
    const { featureTtlMs } = await import('../training/feature-timing.js');
    const { InstantFormatter } = await import('./instant-format.js');
    const format = resolveFormat(opts.format);
    const time = InstantFormatter.fromOption(opts.tz);
    const { settings } = loadSettings(opts.config, process.env);
    const app = await createAppContext(settings);
    try {
      const store = app.featureStore;
      const { group, version } = resolveFeatureGroup(settings, store, opts.group, opts.version);
      const asOf = opts.asOf === undefined ? app.clock.now() : parseInstantOption(opts.asOf, '--as-of');
      const symbols = parseSymbols(opts.symbols) ?? app.calendars.symbols();
      for (const s of symbols) app.calendars.calendarFor(s);
      let ttlMs: number;
      if (opts.ttl !== undefined) {
        const parsed = durationSecondsSchema.safeParse(/^\d+(\.\d+)?$/.test(opts.ttl) ? Number(opts.ttl) : opts.ttl);
        if (!parsed.success) throw new InputError(`--ttl: expected a duration such as '90s', '5m' or seconds, got ${JSON.stringify(opts.ttl)}`);
        ttlMs = parsed.data * 1000;
      } else {
        ttlMs = featureTtlMs(group, resolveSourceDataset(group.source, settings.alignments).barMs);
      }
      const rows = await store.getFeaturesForInference(group.name, version, asOf, symbols, ttlMs);
      process.stdout.write(`${render(rows, format, time, group.name, version, ttlMs)}\n`);
    } finally {
      await app.close();
    }
  });
}

function render(rows: readonly InferenceFeatureRow[], format: 'table' | 'csv' | 'json', time: InstantFormatter, group: string, version: string, ttlMs: number): string {
  const head = (r: InferenceFeatureRow): Record<string, unknown> => ({
    symbol: r.symbol,
    status: r.status,
    group,
    version,
    as_of: time.value(r.as_of),
    ts: time.value(r.ts),
    available_ts: time.value(r.available_ts),
    age_ms: r.age_ms,
    ttl_ms: ttlMs,
    is_imputed: r.is_imputed,
  });
  if (format === 'json') return formatRows(rows.map((r) => ({ ...head(r), features: r.features })), 'json');
  return formatRows(
    rows.map((r) => ({ ...head(r), ...r.features })),
    format,
  );
}
