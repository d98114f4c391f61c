import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../support/child.js';
import { makeBars } from '../support/bar-factory.js';
import { openTempLake, type TempLake } from '../support/temp-lake.js';

let t: TempLake;
beforeAll(async () => {
  t = await openTempLake();
  // 2024-11-26: a full XNYS day minus 20 bars (10:00-10:19 New York); 2024-11-29: the early close, complete.
  const open = Date.parse('2024-11-26T14:30:00Z');
  const bars = makeBars('AAPL', open, open + 390 * 60_000).filter((b) => b.ts < open + 30 * 60_000 || b.ts >= open + 50 * 60_000);
  await t.raw.writeTwsBars(bars, 'a', 1);
  await t.raw.writeTwsBars(makeBars('AAPL', Date.parse('2024-11-29T14:30:00Z'), Date.parse('2024-11-29T18:00:00Z')), 'b', 2);
  await t.lake.close();
  writeFileSync(
    join(t.dir, 'config.yaml'),
    `lake: { root: ${t.dir} }\ninstruments:\n  - { key: AAPL, sec_type: STK, symbol: AAPL, exchange: SMART, currency: USD, calendar: XNYS }\n`,
  );
});
afterAll(async () => {
  const { rmSync } = await import('node:fs');
  rmSync(t.dir, { recursive: true, force: true });
});

describe('ibpipe status', () => {
  it('reports stored vs expected bars per symbol and session', async () => {
    const r = await runCli(['status', '--config', join(t.dir, 'config.yaml'), '--format', 'json']);
    expect(r.code).toBe(0);
    const report = JSON.parse(r.stdout) as { coverage: { symbol: string; date: string; expected: number; stored: number; missing: number }[] };
    // 6.5 h x 60 = 390 bars on a regular day; 09:30-13:00 = 210 on the day after Thanksgiving.
    expect(report.coverage).toEqual([
      { symbol: 'AAPL', date: '2024-11-26', expected: 390, stored: 370, missing: 20, ratio: 0.949 },
      { symbol: 'AAPL', date: '2024-11-29', expected: 210, stored: 210, missing: 0, ratio: 1 },
    ]);
  });
});
