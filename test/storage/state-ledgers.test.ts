import { afterEach, beforeEach, describe, expect, expectTypeOf, it } from 'vitest';
import { JobLedger } from '../../src/ops/job-ledger.js';
import { createLakeViews } from '../../src/storage/lake-views.js';
import { openStateLedger, STATE_LEDGERS, type StateLedgerName, type StateLedgerRecords } from '../../src/storage/state-ledgers.js';
import { ManualClock } from '../../src/core/clock.js';
import { openTempLake, type TempLake } from '../support/temp-lake.js';

let t: TempLake;
beforeEach(async () => {
  t = await openTempLake();
});
afterEach(async () => {
  await t.cleanup();
});

describe('state ledgers: one module names each file and its record type', () => {
  it('every ledger but the feature registry (still typed by its store) has a record type', () => {
    expectTypeOf<keyof StateLedgerRecords>().toEqualTypeOf<Exclude<StateLedgerName, 'feature_registry'>>();
    const files = Object.values(STATE_LEDGERS).map((l) => l.file);
    expect(new Set(files).size).toBe(files.length);
  });

  it('a ledger opened by name is the file its writer appends to and its SQL view reads', async () => {
    const clock = new ManualClock(Date.parse('2024-11-26T15:00:00Z'));
    const jobs = new JobLedger(t.lake, clock);
    const run = jobs.start('transform', 'transform', {}, 'manual', 1, null);
    jobs.finish(run, 'ok', { rows: 3 });
    const lines = openStateLedger(t.lake, 'job_runs').readAll();
    expect(lines.map((r) => [r.run_id, r.status, r.counts])).toEqual([
      [run.run_id, 'running', {}],
      [run.run_id, 'ok', { rows: 3 }],
    ]);
    // The same lines through DuckDB's JSON reader, as `ibpipe sql` sees them.
    expect(await createLakeViews(t.lake, t.raw)).toContain('job_runs');
    expect(await t.lake.query(`SELECT status, counts.rows AS n FROM job_runs ORDER BY status DESC`)).toEqual([
      { status: 'running', n: null },
      { status: 'ok', n: 3 },
    ]);
    expect(openStateLedger(t.lake, 'dq_results').file).toBe(t.lake.path('state', 'dq_results.jsonl'));
  });
});
