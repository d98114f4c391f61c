import { InputError } from '../core/errors.js';
import type { JobDefinition } from '../ops/job-definition.js';
import { runAlignment, type AlignmentResult } from '../pipelines/alignment-pipeline.js';

/**
 * `align` as a job: `ibpipe run align --config F (--date D | --start D --end D) [--name N]
 * [--symbols A,B]` builds the configured alignments (or the one named) for each session date.
 */
export const alignJob: JobDefinition = {
  kind: 'align',
  description: 'aligned datasets for a session date: resample curated bars and join further datasets exactly or as-of',
  perDate: true,
  async run({ app, logger }, params) {
    if (!params.date) throw new InputError('align needs a session date (--date)');
    const name = typeof params['name'] === 'string' ? params['name'] : undefined;
    const specs = name === undefined ? app.settings.alignments : app.settings.alignments.filter((a) => a.name === name);
    if (specs.length === 0) {
      const known = app.settings.alignments.map((a) => a.name).join(', ') || 'none';
      throw new InputError(name === undefined ? 'no alignments configured' : `no alignment named ${name} (configured: ${known})`);
    }
    const symbols = params.symbols ?? app.calendars.symbols();
    const results: AlignmentResult[] = [];
    for (const spec of specs) results.push(await runAlignment(params.date, symbols, { lake: app.lake, calendars: app.calendars, logger }, spec));
    return {
      counts: {
        alignments: results.length,
        rows_read: results.reduce((a, r) => a + r.rowsRead, 0),
        rows_written: results.reduce((a, r) => a + r.rowsWritten, 0),
      },
      summary: results,
    };
  },
};
