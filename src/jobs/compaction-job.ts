import type { JobDefinition } from '../ops/job-definition.js';
import { InputError } from '../core/errors.js';

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
    const res = await app.rawStore.compactRaw(params.date, app.settings.tws.historical_bar_size);
    return {
      counts: { files_before: res.filesBefore, rows: Math.max(0, res.rows), stale_temp_removed: sweep.removed.length },
      summary: { ...res, stale_temp_removed: sweep.removed },
    };
  },
};
