import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { runCli, spawnTs, waitForExit, waitForLine } from '../support/child.js';
import { makeBars } from '../support/bar-factory.js';
import { openTempLake } from '../support/temp-lake.js';

const BIG_ROWS = 20 * 3 * 390;
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

describe('crash atomicity (SIGKILL of a real child process)', () => {
  it('a batch killed mid-write is invisible or whole, and a re-run completes it', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ibpipe-crash-'));
    dirs.push(dir);
    const seen = new Set<number>();
    for (const delay of [150, 400, 800]) {
      const child = spawnTs('test/support/crash-writer.ts', [dir, 'write', `big-${delay}`]);
      await waitForLine(child, 'start');
      await new Promise((r) => setTimeout(r, delay));
      child.kill('SIGKILL');
      await waitForExit(child);
      const { rows, distinct } = await visibleCount(dir, '2024-11-01', '2024-12-31');
      // Each earlier iteration's batch is either fully there or absent; never a partial batch, never doubled.
      expect(rows % BIG_ROWS).toBe(0);
      expect(distinct).toBe(rows);
      if (delay === 400) {
        // ibpipe sql (another process) sees exactly what readTwsBars sees
        writeFileSync(join(dir, 'cfg.yaml'), `lake: { root: ${dir} }\ninstruments:\n${['AAPL', 'MSFT', 'SPY'].map((k) => `  - { key: ${k}, sec_type: STK, symbol: ${k}, exchange: SMART, currency: USD, calendar: XNYS }`).join('\n')}\n`);
        const sql = await runCli(['sql', '--config', join(dir, 'cfg.yaml'), '--format', 'json', 'SELECT count(*) AS n FROM raw_bars']);
        expect(JSON.parse(sql.stdout)).toEqual([{ n: rows }]);
      }
      seen.add(rows);
      // re-running the same batch id completes it exactly once
      const rerun = spawnTs('test/support/crash-writer.ts', [dir, 'write', `big-${delay}`]);
      expect(await waitForExit(rerun)).toBe(0);
    }
    const final = await visibleCount(dir, '2024-11-01', '2024-12-31');
    expect(final.rows).toBe(3 * BIG_ROWS);
    expect(final.distinct).toBe(final.rows);
  });

  // Three child processes, each waited on by an observable marker; the bound only matters on a busy machine.
  it('group commits killed at any moment leave whole pages or none, no window recorded ahead of its rows, and a re-run completes every page once', { timeout: 150_000 }, async () => {
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
    for (const delay of [30, 120, 300]) {
      const child = spawnTs('test/support/crash-writer.ts', [dir, 'compact', '2024-11-26']);
      await waitForLine(child, 'start');
      await new Promise((r) => setTimeout(r, delay));
      child.kill('SIGKILL');
      await waitForExit(child);
      const t2 = await openTempLake(dir);
      expect(await t2.raw.readTwsBars({ start: '2024-11-26', end: '2024-11-26' })).toEqual(before);
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
