import type { JobDefinition } from '../ops/job-definition.js';
import { rawPartitionToken, type BarSize } from '../core/bars.js';
import { InputError } from '../core/errors.js';
import type { CompactResult } from '../storage/raw-store.js';
import { resolveBarDatasets } from '../pipelines/bar-datasets.js';

/** After a session: merge that date's raw batch files into one sorted file (DESIGN §6). */
export const compactionJob: JobDefinition = {
  kind: 'compact',
  description: 'merge a session date\'s raw batch files into one file sorted by (symbol, ts)',
  perDate: true,
  async run({ app }, params) {
    if (!params.date) throw new InputError('compact needs --date');
    // Leftovers of writers killed mid-write (a SIGKILL, a power cut) go first, whatever their partition.
    const sweep = app.rawStore.removeStaleFiles(app.clock.now());
    if (sweep.removed.length > 0) app.logger.info({ removed: sweep.removed, kept: sweep.kept }, 'stale temporary files removed');
    const date = params.date;
    // Every bar dataset's raw partition of the date (the classic one first, as before).
    const partitions = new Map<string, { barSize: BarSize; series: string | null }>([[rawPartitionToken(app.settings.tws.historical_bar_size, null), { barSize: app.settings.tws.historical_bar_size, series: null }]]);
    for (const d of resolveBarDatasets(app.settings)) if (!partitions.has(d.rawPartition)) partitions.set(d.rawPartition, { barSize: d.barSize, series: d.series });
    const results: CompactResult[] = [];
    for (const p of partitions.values()) results.push(await app.rawStore.compactRaw(date, p.barSize, p.series));
    const res = results[0] as CompactResult;
    const files = results.reduce((n, r) => n + r.filesBefore, 0);
    const rows = results.reduce((n, r) => n + Math.max(0, r.rows), 0);
    return {
      counts: { files_before: files, rows, stale_temp_removed: sweep.removed.length },
      summary: { ...res, ...(results.length > 1 ? { partitions: Object.fromEntries([...partitions.keys()].map((k, i) => [k, results[i]])) } : {}), stale_temp_removed: sweep.removed },
    };
  },
};
