import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { InputError } from '../../../src/core/errors.js';
import { checkDate, dateDirs, latestPerScope } from '../../../src/ops/dashboard/dashboard-context.js';
import type { DqResultRecord } from '../../../src/pipelines/transform-pipeline.js';

const rec = (dataset: string, symbols: string[], run_at: number): DqResultRecord => ({ dataset, symbols, run_at }) as Partial<DqResultRecord> as DqResultRecord;

describe('dashboard context helpers shared by the pages', () => {
  it('keeps the latest DQ record per (dataset, symbol set), whatever the order of the symbols, oldest first', () => {
    const out = latestPerScope([rec('c', ['MSFT', 'AAPL'], 10), rec('c', ['AAPL'], 20), rec('c', ['AAPL', 'MSFT'], 30), rec('q', ['AAPL'], 5), rec('c', ['AAPL'], 15)]);
    expect(out.map((r) => [r.dataset, r.symbols.join(','), r.run_at])).toEqual([
      ['q', 'AAPL', 5],
      ['c', 'AAPL', 20],
      ['c', 'AAPL,MSFT', 30],
    ]);
  });

  it('accepts only real YYYY-MM-DD dates from a request, naming the parameter', () => {
    expect(checkDate('2024-11-29')).toBe('2024-11-29');
    expect(() => checkDate('2024-11-29; DROP', 'end')).toThrow(/^end must be YYYY-MM-DD/);
    expect(() => checkDate('2024-02-30', 'start')).toThrow(InputError);
  });

  it('lists the dates of date= folders only, ascending, and nothing for a missing folder', () => {
    const dir = mkdtempSync(join(tmpdir(), 'ibpipe-dash-'));
    try {
      for (const d of ['date=2024-11-29', 'date=2024-11-27', 'v=1', 'date=bad', '.tmp-date=2024-11-28']) mkdirSync(join(dir, d));
      expect(dateDirs(dir)).toEqual(['2024-11-27', '2024-11-29']);
      expect(dateDirs(join(dir, 'absent'))).toEqual([]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
