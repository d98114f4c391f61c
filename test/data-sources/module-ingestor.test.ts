import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeEach, afterEach, describe, expect, it } from 'vitest';
import { instrumentConfigSchema } from '../../src/config/instrument-config.js';
import { ManualClock } from '../../src/core/clock.js';
import { ConfigError, InputError } from '../../src/core/errors.js';
import { runIngestSources } from '../../src/jobs/ingest-sources-job.js';
import { SourceModuleError } from '../../src/data-sources/module-ingestor.js';
import { sourcesConfigSchema } from '../../src/data-sources/sources-config.js';
import { silentLogger } from '../../src/ops/logging-setup.js';
import { openTempLake, type TempLake } from '../support/temp-lake.js';

const INSTRUMENTS = ['AAPL', 'MSFT'].map((key) =>
  instrumentConfigSchema.parse({ key, symbol: key, sec_type: 'STK', exchange: 'SMART', currency: 'USD', calendar: 'XNYS' }),
);
const EXAMPLE = resolve(import.meta.dirname, '../../examples/sources/random-walk-source.ts');
const modules = mkdtempSync(join(tmpdir(), 'ibpipe-source-modules-'));
afterAll(() => rmSync(modules, { recursive: true, force: true }));

/** A JavaScript source module in the temp folder; `body` is the factory's body. */
function moduleFile(name: string, text: string): string {
  const file = join(modules, `${name}.mjs`);
  writeFileSync(file, text);
  return file;
}

// A well-behaved module: one batch per symbol of two bars, ids from the bounds; `bad` swaps in one refused bar.
const GOOD_BAR = (symbol: string, ts: number): Record<string, unknown> => ({ symbol, ts, open: 10, high: 11, low: 9, close: 10.5, volume: 100 });
const T0 = Date.UTC(2024, 2, 4, 14, 30);
function goodModule(name: string, badBar?: string): string {
  return moduleFile(
    name,
    `export function make(ctx) {
       return {
         plan: (req) => req.symbols.map((s) => ({ label: s, symbols: [s], start: null, end: null, rows: 2 })),
         async *run(req) {
           for (const s of req.symbols) {
             const events = [${JSON.stringify(GOOD_BAR('X', T0))}, ${JSON.stringify(GOOD_BAR('X', T0 + 60_000))}].map((b) => ({ ...b, symbol: s }));
             ${badBar === undefined ? '' : `if (s === 'MSFT') events[1] = { ...events[1], ...${badBar} };`}
             yield { batchId: s + '-2024-03-04', events, acknowledge: () => { globalThis.__acks = [...(globalThis.__acks ?? []), s]; } };
           }
         },
       };
     }`,
  );
}

describe('module sources: a user-defined ingestor under the rules of every ingest edge', () => {
  let t: TempLake;
  let clock: ManualClock;
  beforeEach(async () => {
    t = await openTempLake();
    clock = new ManualClock(Date.UTC(2024, 2, 8, 22, 0));
    (globalThis as { __acks?: string[] }).__acks = [];
  });
  afterEach(async () => t.cleanup());

  const deps = (entries: unknown[]) => ({
    lake: t.lake,
    rawStore: t.raw,
    clock,
    logger: silentLogger(),
    instruments: INSTRUMENTS,
    barSize: '1 min' as const,
    env: { WALK_TOKEN: 'secret', OTHER: 'hidden' },
    sources: sourcesConfigSchema.parse(entries),
    calendarFor: (s: string) => t.calendars.calendarFor(s),
  });
  const rawFiles = (): string[] => (existsSync(join(t.dir, 'raw')) ? readdirSync(join(t.dir, 'raw'), { recursive: true }).map(String).filter((f) => f.endsWith('.parquet')) : []);
  const ledgerLines = (): number => (existsSync(join(t.dir, 'state/raw_batches.jsonl')) ? readFileSync(join(t.dir, 'state/raw_batches.jsonl'), 'utf8').trim().split('\n').length : 0);
  const failure = async (entries: unknown[]): Promise<Error> => {
    // A one-day window from the good bars' start: they fall inside it.
    const err = await runIngestSources(deps(entries), { start: T0, end: T0 + 86_400_000 }).then(() => null, (e: unknown) => e as Error);
    expect(err, 'the run should have failed').not.toBeNull();
    return err as Error;
  };

  it('commits good batches under namespaced ids, acknowledges after the commit, and moves the watermarks', async () => {
    const file = goodModule('good');
    const [s] = await runIngestSources(deps([{ type: 'module', name: 'mine', module: file, export: 'make' }]));
    expect(s).toMatchObject({ source: 'mine', batches: 2, batchesWritten: 2, rowsWritten: 4, unfinished: [] });
    expect(s?.outcomes.map((o) => o.batchId)).toEqual(['mine.AAPL-2024-03-04', 'mine.MSFT-2024-03-04']);
    expect((globalThis as { __acks?: string[] }).__acks).toEqual(['AAPL', 'MSFT']);
    const rows = await t.lake.query<{ source: string; symbol: string; n: number; what: string }>(
      `SELECT source, symbol, count(*)::INTEGER AS n, min(what_to_show) AS what FROM ${t.raw.relationSql({ start: '2024-03-04', end: '2024-03-04' })} GROUP BY ALL ORDER BY symbol`,
    );
    // Bookkeeping fields the module left out come from the ingestor and the instrument.
    expect(rows).toEqual([{ source: 'MODULE', symbol: 'AAPL', n: 2, what: 'TRADES' }, { source: 'MODULE', symbol: 'MSFT', n: 2, what: 'TRADES' }]);
    const marks = readFileSync(join(t.dir, 'state/source_watermarks.jsonl'), 'utf8');
    expect(marks).toContain(`"ts":${T0 + 60_000}`);
    // Again: the same ids are no-ops, and they are still acknowledged (the rows are committed).
    const [again] = await runIngestSources(deps([{ type: 'module', name: 'mine', module: file, export: 'make' }]));
    expect(again).toMatchObject({ batches: 2, batchesWritten: 0, rowsWritten: 0 });
    expect((globalThis as { __acks?: string[] }).__acks).toHaveLength(4);
  });

  it('refuses a batch with a bad bar, naming source, module, batch, row and field; nothing of that batch is written', async () => {
    const cases: [string, RegExp][] = [
      ['{ high: NaN }', /row 1: high: "NaN" is NaN or infinite/],
      ['{ symbol: "TSLA" }', /row 1: symbol: "TSLA" is not a configured instrument/],
      ['{ ts: "2024-03-04T14:31:00Z" }', /row 1: ts: "2024-03-04T14:31:00Z" is not an integer epoch-ms instant/],
      ['{ ts: 1709562660 }', /row 1: ts: "1970-01-20T18:52:42.660Z" is outside the plausible range/],
      ['{ ts: 9007199254740991 }', /row 1: ts: "9007199254740991" is outside the plausible range/],
      ['{ ts: Date.UTC(2024, 2, 5, 14, 30) }', /row 1: ts: "2024-03-05T14:30:00.000Z" is outside the requested window/],
      ['{ volume: undefined }', /row 1: volume: value is missing/],
      ['{ barSize: "5 mins" }', /row 1: barSize: "5 mins" differs from the source's bar size 1 min/],
    ];
    for (const [i, [bad, message]] of cases.entries()) {
      const file = goodModule(`bad-${i}`, bad);
      const err = await failure([{ type: 'module', name: 'mine', module: file, export: 'make' }]);
      expect(err).toBeInstanceOf(InputError);
      expect(err.message).toContain(`source mine (module ${file}): batch MSFT-2024-03-04: `);
      expect(err.message).toMatch(message);
    }
    // Each run committed its good AAPL batch (whole) before the MSFT one was refused; no MSFT row anywhere.
    const msft = await t.lake.query<{ n: number }>(`SELECT count(*)::INTEGER AS n FROM ${t.raw.relationSql({ start: '2024-03-04', end: '2024-03-04' })} WHERE symbol = 'MSFT'`);
    expect(msft).toEqual([{ n: 0 }]);
    expect(ledgerLines()).toBe(1);
    expect((globalThis as { __acks?: string[] }).__acks).toEqual(cases.map(() => 'AAPL'));
  });

  it('a bad module fails with an error naming the source and the module path, before anything is written', async () => {
    const missing = join(modules, 'nope.mjs');
    const entry = (module: string, extra: Record<string, unknown> = {}) => [{ type: 'module', name: 'mine', module, ...extra }];
    let err = await failure(entry(missing));
    expect(err).toBeInstanceOf(ConfigError);
    expect(err.message).toBe(`source mine: module ${missing} does not exist`);

    const noDefault = moduleFile('no-default', 'export const other = 1;\n');
    err = await failure(entry(noDefault));
    expect(err.message).toBe(`source mine: module ${noDefault} has no export "default" (exports: other)`);

    const broken = moduleFile('broken', 'export default function ( {\n');
    err = await failure(entry(broken));
    expect(err).toBeInstanceOf(ConfigError);
    expect(err.message).toContain(`source mine: module ${broken} failed to load: `);

    const throws = moduleFile('throws', 'export default () => { throw new Error("options.url is required"); };\n');
    err = await failure(entry(throws));
    expect(err).toBeInstanceOf(ConfigError);
    expect(err.message).toBe(`source mine (module ${throws}): the factory threw: options.url is required`);

    const shapeless = moduleFile('shapeless', 'export default () => ({ run() {} });\n');
    err = await failure(entry(shapeless));
    expect(err.message).toMatch(/^source mine \(module .*shapeless\.mjs\): the factory must return an object with plan\(request\) and run\(request\)/);

    // Thrown while producing: typed, named, and retryable only when the module says so.
    const flaky = moduleFile(
      'flaky',
      `export default () => ({ plan: () => [], async *run() { throw Object.assign(new Error('upstream 503'), { retryable: true }); } });\n`,
    );
    err = await failure(entry(flaky));
    expect(err).toBeInstanceOf(SourceModuleError);
    expect(err.message).toBe(`source mine (module ${flaky}): run failed: upstream 503`);
    expect((err as SourceModuleError).retryable).toBe(true);

    const dupId = moduleFile(
      'dup',
      `export default () => ({ plan: () => [], async *run() { const e = [${JSON.stringify(GOOD_BAR('AAPL', T0))}]; yield { batchId: 'a', events: e }; yield { batchId: 'a', events: e }; } });\n`,
    );
    err = await failure(entry(dupId));
    expect(err.message).toBe(`source mine (module ${dupId}): batch a: the same batch id was yielded twice in one run`);

    expect(rawFiles().filter((f) => !f.includes('mine.a'))).toEqual([]);
  });

  it('the factory sees its options, only the variables it lists, its served instruments and a state folder', async () => {
    const file = moduleFile(
      'ctx',
      `export default (ctx) => { globalThis.__ctx = { name: ctx.name, options: ctx.options, env: ctx.env, symbols: ctx.instruments.map((i) => i.key), barMs: ctx.barMs, stateDir: ctx.stateDir, now: ctx.clock.now() };
         return { plan: () => [], async *run() {} }; };\n`,
    );
    await runIngestSources(deps([{ type: 'module', name: 'mine', module: file, options: { depth: 3 }, symbols: ['MSFT'], env: ['WALK_TOKEN'] }]));
    expect((globalThis as { __ctx?: unknown }).__ctx).toEqual({
      name: 'mine',
      options: { depth: 3 },
      env: { WALK_TOKEN: 'secret' },
      symbols: ['MSFT'],
      barMs: 60_000,
      stateDir: join(t.dir, 'state/sources/mine'),
      now: clock.now(),
    });
    expect(existsSync(join(t.dir, 'state/sources/mine'))).toBe(true);
  });

  it('the example source resumes from its watermark: a second run adds nothing, a new session adds one batch per symbol', async () => {
    const entry = [{ type: 'module', name: 'walk', module: EXAMPLE, options: { seed: 7, sessions: 2 } }];
    // Friday 2024-03-08 22:00 UTC, after the close: two completed sessions back from it are Mar 6 and 7, plus Mar 8 itself.
    const [first] = await runIngestSources(deps(entry));
    expect(first?.outcomes.map((o) => o.batchId)).toEqual([
      'walk.AAPL-2024-03-06', 'walk.AAPL-2024-03-07', 'walk.AAPL-2024-03-08',
      'walk.MSFT-2024-03-06', 'walk.MSFT-2024-03-07', 'walk.MSFT-2024-03-08',
    ]);
    expect(first).toMatchObject({ batchesWritten: 6, rowsWritten: 6 * 390 });
    const [second] = await runIngestSources(deps(entry));
    expect(second).toMatchObject({ batches: 0, rowsRead: 0 });
    // Monday after the close: only the new session.
    await clock.set(Date.UTC(2024, 2, 11, 21, 0));
    const [third] = await runIngestSources(deps(entry));
    expect(third?.outcomes.map((o) => o.batchId)).toEqual(['walk.AAPL-2024-03-11', 'walk.MSFT-2024-03-11']);
    expect(third?.outcomes.every((o) => o.written && o.rows === 390)).toBe(true);
  });
});
