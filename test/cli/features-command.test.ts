import { copyFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseInstantOption } from '../../src/cli/features-command.js';
import type { CuratedBarRow } from '../../src/storage/tables/curated-bars.js';
import { InputError } from '../../src/core/errors.js';
import { CuratedStore } from '../../src/storage/curated-store.js';
import { Lake } from '../../src/storage/lake.js';
import { runCli } from '../support/child.js';

const MIN = 60_000;
const dir = mkdtempSync(join(tmpdir(), 'ibpipe-features-cli-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const config = (smaWindow: number, expr = 'close - min(close) OVER w'): string => `
lake: { root: ./lake }
instruments:
  - { key: AAPL, sec_type: STK, symbol: AAPL, exchange: SMART, currency: USD, calendar: XNYS }
  - { key: MSFT, sec_type: STK, symbol: MSFT, exchange: SMART, currency: USD, calendar: XNYS }
alignments:
  - { name: aligned_5min, source: bars_1min, frequency: 5min }
feature_groups:
  - name: technical
    version: v1
    source: bars_1min
    ttl: 2m
    features:
      - { name: sma_3, fn: sma, column: close, window: ${smaWindow} }
      - { name: close_lag, fn: lag, column: close, periods: [1] }
      - { name: my_sma_3, fn: custom, module: ./features/sma.js, inputs: [close], params: { window: 3 }, lookback_bars: 2 }
      - { name: above_min_3, fn: expression, expr: "${expr}", window: 3 }
`;
const CFG = join(dir, 'ibpipe.yaml');
const CHANGED = join(dir, 'changed.yaml');
const BAD_EXPR = join(dir, 'bad-expr.yaml');
// 2024-11-26 (EST): 09:30 ET = 14:30 UTC. Close of the bar starting at minute k after the open = 100 + k.
const OPEN = Date.parse('2024-11-26T14:30:00Z');

function row(symbol: string, ts: number, close: number): CuratedBarRow {
  return {
    symbol,
    ts,
    available_ts: ts + 60_000,
    open: close,
    high: close,
    low: close,
    close,
    volume: 10,
    wap: close,
    trade_count: 1,
    is_imputed: false,
    imputation: null,
    open_imputed: false,
    high_imputed: false,
    low_imputed: false,
    close_imputed: false,
    volume_imputed: false,
    wap_imputed: false,
    trade_count_imputed: false,
  };
}

beforeAll(async () => {
  writeFileSync(CFG, config(3));
  writeFileSync(CHANGED, config(4));
  writeFileSync(BAD_EXPR, config(3, 'close - min(volume_usd) OVER w'));
  // A custom feature module, named relative to the config file's directory.
  mkdirSync(join(dir, 'features'));
  copyFileSync(resolve(import.meta.dirname, '../../examples/features/sma.js'), join(dir, 'features', 'sma.js'));
  const lake = await Lake.open({ root: join(dir, 'lake') });
  try {
    // AAPL: 09:30..10:29 (60 bars); MSFT only 09:30..09:39.
    const rows: CuratedBarRow[] = [];
    for (let k = 0; k < 60; k++) rows.push(row('AAPL', OPEN + k * MIN, 100 + k));
    for (let k = 0; k < 10; k++) rows.push(row('MSFT', OPEN + k * MIN, 50 + k));
    await new CuratedStore(lake).writeCuratedBars(rows, 'bars_1min', '2024-11-26');
  } finally {
    await lake.close();
  }
});

describe('ibpipe run features / run align / features latest (child processes)', () => {
  it('computes a date, then answers point-in-time lookups with status and age', async () => {
    const run = await runCli(['run', 'features', '--config', CFG, '--date', '2024-11-26', '--group', 'technical', '--format', 'json']);
    expect(run.stderr).not.toMatch(/"level":50/);
    expect(run.code).toBe(0);
    const summary = JSON.parse(run.stdout) as { status: string; rows_written: number }[];
    expect(summary[0]).toMatchObject({ status: 'ok', rows_written: 70 });

    // 10:00:30 ET: the 09:59 bar (available 10:00) is the latest; the 10:00 bar is not available yet.
    const r = await runCli([
      'features', 'latest', '--config', CFG, '--group', 'technical', '--version', 'v1',
      '--as-of', '2024-11-26T10:00:30-05:00', '--symbols', 'AAPL,MSFT', '--format', 'json',
    ]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const out = JSON.parse(r.stdout) as Record<string, unknown>[];
    // AAPL 09:59 is minute 29: close 129, sma_3 = (127 + 128 + 129) / 3 = 128 (also by the module), lag 1 = 128,
    // close - the lowest of the last 3 closes = 129 - 127 = 2.
    expect(out[0]).toEqual({
      symbol: 'AAPL',
      status: 'ok',
      group: 'technical',
      version: 'v1',
      as_of: '2024-11-26T15:00:30Z',
      ts: '2024-11-26T14:59:00Z',
      available_ts: '2024-11-26T15:00:00Z',
      age_ms: 30_000,
      ttl_ms: 120_000,
      is_imputed: false,
      features: { sma_3: 128, close_lag_1: 128, my_sma_3: 128, above_min_3: 2 },
    });
    // MSFT's last bar 09:39 became available at 09:40: 20.5 minutes old, beyond the 2-minute TTL.
    expect(out[1]).toMatchObject({ symbol: 'MSFT', status: 'stale', ts: '2024-11-26T14:39:00Z', age_ms: 1_230_000, features: { sma_3: null, close_lag_1: null, my_sma_3: null, above_min_3: null } });
  });

  it('prints CSV with the features flattened, a --ttl override and instants in New York time (--tz)', async () => {
    const r = await runCli([
      'features', 'latest', '--config', CFG, '--group', 'technical', '--as-of', String(OPEN + 90_000), '--symbols', 'MSFT', '--ttl', '10m', '--format', 'csv', '--tz', 'America/New_York',
    ]);
    expect(r.code).toBe(0);
    // 14:31:30 UTC on 2024-11-26 (EST, UTC-5) is 09:31:30 in New York.
    expect(r.stdout.trim().split('\n')).toEqual([
      'symbol,status,group,version,as_of,ts,available_ts,age_ms,ttl_ms,is_imputed,sma_3,close_lag_1,my_sma_3,above_min_3',
      'MSFT,ok,technical,v1,2024-11-26T09:31:30-05:00,2024-11-26T09:30:00-05:00,2024-11-26T09:31:00-05:00,30000,600000,false,,,,',
    ]);
  });

  it('refuses bad input with exit 2 and a changed definition under v1 naming the group', async () => {
    expect(() => parseInstantOption('2024-11-26T10:00:30', '--as-of')).toThrow(InputError);
    expect(parseInstantOption('2024-11-26T10:00:30-05:00', '--as-of')).toBe(Date.parse('2024-11-26T15:00:30Z'));
    expect(parseInstantOption('1732633230000', '--as-of')).toBe(1732633230000);
    const unknown = await runCli(['features', 'latest', '--config', CFG, '--group', 'nope', '--format', 'json']);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain('no feature group named nope');
    const conflict = await runCli(['run', 'features', '--config', CHANGED, '--date', '2024-11-26', '--group', 'technical', '--format', 'json']);
    expect(conflict.code).toBe(2);
    expect(conflict.stderr).toContain('feature group technical version v1 was registered with a different definition');
    const badExpr = await runCli(['run', 'features', '--config', BAD_EXPR, '--date', '2024-11-26', '--group', 'technical', '--format', 'json']);
    expect(badExpr.code).toBe(2);
    expect(badExpr.stderr).toContain('feature_groups[0].features[3].expr: expression feature above_min_3: unknown column volume_usd');
  });

  it('run align writes the aligned dataset', async () => {
    const r = await runCli(['run', 'align', '--config', CFG, '--date', '2024-11-26', '--format', 'json']);
    expect(r.code).toBe(0);
    expect((JSON.parse(r.stdout) as Record<string, unknown>[])[0]).toMatchObject({ status: 'ok', rows_read: 70, rows_written: 14 });
    const lake = await Lake.open({ root: join(dir, 'lake') });
    try {
      const file = lake.path('aligned', 'aligned_5min', 'date=2024-11-26', 'data.parquet');
      const rows = await lake.query(`SELECT symbol, count(*) AS n, max(close) AS last FROM read_parquet('${file}') GROUP BY symbol ORDER BY symbol`);
      expect(rows).toEqual([
        { symbol: 'AAPL', n: 12, last: 159 },
        { symbol: 'MSFT', n: 2, last: 59 },
      ]);
    } finally {
      await lake.close();
    }
  });
});
