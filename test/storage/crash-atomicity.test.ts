import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { runCli, spawnTs, waitForExit, waitForLine } from '../support/child.js';
import { makeBars } from '../support/bar-factory.js';
import { openTempLake } from '../support/temp-lake.js';

// One batch: 20 sessions x 3 symbols x the first 30 minutes (20 partition files; their number, not their size, matters here).
const BIG_ROWS = 20 * 3 * 30;
const PAGES = 20 * 3;
const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

async function visibleCount(dir: string, start: string, end: string): Promise<{ rows: number; distinct: number }> {
  const t = await openTempLake(dir);
  try {
    const rows = await t.raw.readTwsBars({ start, end });
    const distinct = new Set(rows.map((r) => `${r.symbol}|${r.ts}|${r.batch_id}`)).size;
    return { rows: rows.length, distinct };
  } finally {
    await t.lake.close();
  }
}

/** Runs the crash writer with a kill planted before the n-th call of an fs function; asserts it died by it. */
async function killedAt(crashBefore: string, args: string[]): Promise<void> {
  const child = spawnTs('test/support/crash-writer.ts', args, { CRASH_BEFORE: crashBefore });
  const exit = new Promise<NodeJS.Signals | null>((res) => child.on('exit', (_code, signal) => res(signal)));
  await waitForExit(child);
  // The planted kill fired: had the write path not reached that step, the child would have exited normally.
  expect(await exit, `${crashBefore} ${args.join(' ')}`).toBe('SIGKILL');
}

describe('crash atomicity (SIGKILL of a real child process at exact steps of the write path)', () => {
  it('a batch killed mid-write is invisible or whole, and a re-run completes it', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ibpipe-crash-'));
    dirs.push(dir);
    // Before any of the 20 partition files is renamed into place; after 10 of them; after all 20
    // but before the batch's ledger line (the commit point).
    const points = [
      ['renameSync:1', 'big-a', 0],
      ['renameSync:11', 'big-b', 10],
      ['writeSync:1', 'big-c', 20],
    ] as const;
    const root = join(dir, 'raw/tws_bars/bar_size=1min');
    for (const [crashBefore, batchId, placed] of points) {
      await killedAt(crashBefore, [dir, 'write', batchId]);
      // The kill came where planned: this many of the batch's files had been renamed into place.
      expect(readdirSync(root).filter((d) => existsSync(join(root, d, `batch-${batchId}.parquet`))), crashBefore).toHaveLength(placed);
      const { rows, distinct } = await visibleCount(dir, '2024-11-01', '2024-12-31');
      // A killed batch is invisible, however far it got; nothing doubled.
      expect(rows, crashBefore).toBe(0);
      expect(distinct).toBe(rows);
    }
    // ibpipe sql (another process) sees exactly what readTwsBars sees: nothing of the three.
    writeFileSync(join(dir, 'cfg.yaml'), `lake: { root: ${dir} }\ninstruments:\n${['AAPL', 'MSFT', 'SPY'].map((k) => `  - { key: ${k}, sec_type: STK, symbol: ${k}, exchange: SMART, currency: USD, calendar: XNYS }`).join('\n')}\n`);
    const sql = await runCli(['sql', '--config', join(dir, 'cfg.yaml'), '--format', 'json', 'SELECT count(*) AS n FROM raw_bars']);
    expect(JSON.parse(sql.stdout)).toEqual([{ n: 0 }]);
    // Re-running the same batch ids completes each exactly once.
    const rerun = spawnTs('test/support/crash-writer.ts', [dir, 'write', points.map(([, b]) => b).join(',')]);
    expect(await waitForExit(rerun)).toBe(0);
    const final = await visibleCount(dir, '2024-11-01', '2024-12-31');
    expect(final.rows).toBe(3 * BIG_ROWS);
    expect(final.distinct).toBe(final.rows);
  });

  // Three child processes, each waited on by an observable marker; the bound only matters on a busy machine.
  it('group commits killed at any moment leave whole pages or none, no window recorded ahead of its rows, and a re-run completes every page once', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ibpipe-crash-'));
    dirs.push(dir);
    const lines = (file: string): Record<string, unknown>[] => {
      try {
        return readFileSync(join(dir, 'state', file), 'utf8')
          .split('\n')
          .flatMap((l) => {
            try {
              return [JSON.parse(l) as Record<string, unknown>];
            } catch {
              return []; // empty, or torn by the kill
            }
          });
      } catch {
        return [];
      }
    };
    const check = async (): Promise<number> => {
      // A group of one page is recorded without `parts`: the line's own id is the page's.
      const parts = lines('raw_batches.jsonl').flatMap((r) => (r['parts'] as { batch_id: string }[] | undefined) ?? [{ batch_id: r['batch_id'] as string }]);
      const t = await openTempLake(dir);
      try {
        const perBatch = await t.lake.query<{ batch_id: string; n: number; d: number }>(
          `SELECT batch_id, count(*) AS n, count(DISTINCT (symbol, ts)) AS d FROM ${t.raw.relationSql({ start: '2024-11-01', end: '2024-12-31' })} GROUP BY batch_id ORDER BY batch_id`,
        );
        // Exactly the committed pages are visible, each whole (390 rows, none doubled).
        expect(perBatch.map((b) => b.batch_id)).toEqual(parts.map((p) => p.batch_id).sort());
        for (const b of perBatch) expect([b.n, b.d]).toEqual([390, 390]);
      } finally {
        await t.lake.close();
      }
      // A window line exists only for a committed page.
      const committed = new Set(parts.map((p) => p.batch_id));
      expect(lines('windows.jsonl').filter((w) => !committed.has(w['batch_id'] as string))).toEqual([]);
      return parts.length;
    };
    const seen: number[] = [];
    for (const marker of ['group 1', 'group 3']) {
      const child = spawnTs('test/support/crash-writer.ts', [dir, 'groups', '']);
      await waitForLine(child, marker);
      child.kill('SIGKILL');
      await waitForExit(child);
      seen.push(await check());
    }
    expect(seen[0]).toBeGreaterThan(0);
    expect(seen[1]).toBeGreaterThan(seen[0] ?? 0);
    const rerun = spawnTs('test/support/crash-writer.ts', [dir, 'groups', '']);
    expect(await waitForExit(rerun)).toBe(0);
    expect(await check()).toBe(PAGES);
    const windowLines = lines('windows.jsonl').map((w) => w['batch_id'] as string);
    expect(new Set(windowLines).size).toBe(PAGES);
    // Group commits: far fewer raw ledger lines than pages.
    expect(lines('raw_batches.jsonl').length).toBeLessThanOrEqual(PAGES / 5);
  });

  it('a compaction killed part way loses and doubles nothing, and a re-run finishes it', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ibpipe-crash-'));
    dirs.push(dir);
    const t = await openTempLake(dir);
    const start = Date.parse('2024-11-26T14:30:00Z');
    for (let i = 0; i < 12; i++) {
      await t.raw.writeTwsBars(makeBars(i % 2 ? 'AAPL' : 'MSFT', start + i * 30 * 60_000, start + (i + 1) * 30 * 60_000), `p${i}`, i);
    }
    const before = await t.raw.readTwsBars({ start: '2024-11-26', end: '2024-11-26' });
    await t.lake.close();
    // Before the compacted file is renamed into place; before its ledger line; after 5 of the
    // 12 originals were deleted (the compaction is committed).
    for (const crashBefore of ['renameSync:1', 'writeSync:1', 'rmSync:6']) {
      await killedAt(crashBefore, [dir, 'compact', '2024-11-26']);
      const t2 = await openTempLake(dir);
      expect(await t2.raw.readTwsBars({ start: '2024-11-26', end: '2024-11-26' }), crashBefore).toEqual(before);
      await t2.lake.close();
    }
    const rerun = spawnTs('test/support/crash-writer.ts', [dir, 'compact', '2024-11-26']);
    expect(await waitForExit(rerun)).toBe(0);
    const files = readdirSync(join(dir, 'raw/tws_bars/bar_size=1min/date=2024-11-26')).filter((f) => !f.startsWith('.'));
    expect(files).toHaveLength(1);
    const t3 = await openTempLake(dir);
    expect(await t3.raw.readTwsBars({ start: '2024-11-26', end: '2024-11-26' })).toEqual(before);
    await t3.lake.close();
  });
});
