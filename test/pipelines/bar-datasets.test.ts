import { existsSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { afterEach, describe, expect, it } from 'vitest';
import { InstrumentCalendars } from '../../src/calendar/instrument-calendars.js';
import { parseSettings, type Settings } from '../../src/config/settings.js';
import { ConfigError } from '../../src/core/errors.js';
import { instrumentConfigSchema } from '../../src/config/instrument-config.js';
import type { AppContext } from '../../src/ops/app-context.js';
import { silentLogger } from '../../src/ops/logging-setup.js';
import { executeJob } from '../../src/ops/orchestrator-adapter.js';
import { resolveBarDatasets } from '../../src/pipelines/bar-datasets.js';
import { transformDatasets } from '../../src/jobs/transform-job.js';
import { CuratedStore } from '../../src/storage/curated-store.js';
import { FeatureStore } from '../../src/storage/feature-store.js';
import { createLakeViews } from '../../src/storage/lake-views.js';
import { runCliInProcess } from '../support/cli-in-process.js';
import { AAPL, MSFT, type ManualRig, startManualRig } from '../data-sources/tws/tws-rig.js';

/**
 * More than one bar dataset (issue 19 item 3): the transform as a template instantiated per
 * dataset of `bar_datasets`, fed by backfills that follow the datasets, over real TCP between
 * @stoqey/ib and the simulated gateway on a manual clock.
 */

const HOUR = 3_600_000;
/** Monday 2024-12-02, 07:00 New York: every session below is closed. */
const NOW = Date.UTC(2024, 11, 2, 12, 0);
const WEEK = ['2024-11-25', '2024-11-26', '2024-11-27', '2024-11-29'];

const base = (root: string, extra: Record<string, unknown>): Readonly<Settings> =>
  parseSettings({
    lake: { root },
    instruments: [AAPL, MSFT].map((i) => ({ key: i.key, sec_type: 'STK', symbol: i.symbol, exchange: 'SMART', primary_exchange: 'NASDAQ', currency: 'USD', calendar: 'XNYS' })),
    ...extra,
  });

function appFor(rig: ManualRig, settings: Readonly<Settings>): AppContext {
  const calendars = new InstrumentCalendars(settings.instruments);
  return {
    settings,
    clock: rig.clock,
    logger: silentLogger(),
    lake: rig.lake,
    calendars,
    rawStore: rig.rawStore,
    curatedStore: new CuratedStore(rig.lake),
    featureStore: new FeatureStore(rig.lake, calendars, rig.clock),
    sourceEnv: {},
    close: async () => undefined,
  };
}

async function run(app: AppContext, kind: 'transform' | 'features', params: Record<string, unknown>): Promise<Record<string, number>> {
  const r = await executeJob(app, kind, params);
  if (r.error) throw r.error;
  return r.record.counts;
}

let rig: ManualRig | undefined;
afterEach(async () => {
  await rig?.close();
  rig = undefined;
});

describe('bar_datasets config', () => {
  it('absent: exactly the classic dataset (bars_1min from tws.historical_bar_size, dq_rules.tws_bars, gaps)', () => {
    const s = base('/tmp/x', { dq_rules: { tws_bars: [{ type: 'ohlc_consistency' }] } });
    const [only, ...rest] = resolveBarDatasets(s);
    expect(rest).toHaveLength(0);
    expect(only).toMatchObject({ name: 'bars_1min', barSize: '1 min', series: null, rawPartition: '1min', dqKey: 'tws_bars', daily: false });
    expect(only?.rules).toEqual(s.dq_rules.tws_bars);
    expect(only?.gaps).toEqual(s.gaps);
  });

  it('declared: the classic entry keeps its keys, the others get their own; a gaps block takes the bar size as frequency', () => {
    const s = base('/tmp/x', {
      dq_rules: { tws_bars: [{ type: 'ohlc_consistency' }], daily_bars: [{ type: 'range', field: 'volume', min: 0 }] },
      bar_datasets: [
        { name: 'bars_1min', bar_size: '1 min' },
        { name: 'bars_1d', bar_size: '1 day', dq_rules: 'daily_bars', gaps: { max_gap_bars: 2 } },
        { name: 'bars_1min_bid', bar_size: '1 min', what_to_show: 'BID', instruments: ['AAPL'], dq_rules: [] },
      ],
    });
    const [m, d, b] = resolveBarDatasets(s);
    expect(m).toMatchObject({ dqKey: 'tws_bars', rawPartition: '1min', rules: s.dq_rules.tws_bars });
    expect(d).toMatchObject({ dqKey: 'bars_1d', rawPartition: '1d', daily: true, rules: s.dq_rules.daily_bars });
    expect(d?.gaps).toMatchObject({ frequency: '1d', max_gap_bars: 2, final_grace: '10min' });
    expect(b).toMatchObject({ dqKey: 'bars_1min_bid', rawPartition: '1min-bid', series: 'BID', instruments: ['AAPL'], rules: [] });
    expect(b?.gaps.frequency).toBe('1min');
    expect(transformDatasets({ settings: s }, 'bars_1d').map((x) => x.name)).toEqual(['bars_1d']);
    expect(() => transformDatasets({ settings: s }, 'bars_5min')).toThrow(/no bar dataset bars_5min \(configured: bars_1min, bars_1d, bars_1min_bid\)/);
  });

  it('refuses names that do not match the bar size, two datasets on one raw partition, unknown rules and instruments', () => {
    let err: unknown;
    try {
      base('/tmp/x', {
        bar_datasets: [
          { name: 'bars_1min', bar_size: '1 day' },
          { name: 'bars_1d', bar_size: '1 day', dq_rules: 'nope' },
          { name: 'bars_1min_x', bar_size: '1 min', what_to_show: 'BID', instruments: ['IBM'] },
          { name: 'bars_1min_y', bar_size: '1 min', what_to_show: 'BID', gaps: { frequency: '5min' } },
        ],
      });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ConfigError);
    const issues = (err as ConfigError).issues.join('\n');
    expect(issues).toContain('bar_datasets[0].name: must start with bars_1d');
    expect(issues).toContain('bar_datasets[1].bar_size: same bar size and what_to_show as bar_datasets[0]');
    expect(issues).toContain('bar_datasets[1].dq_rules: no dq_rules entry named nope');
    expect(issues).toContain('bar_datasets[2].instruments[0]: unknown instrument IBM');
    expect(issues).toContain('bar_datasets[3].bar_size: same bar size and what_to_show as bar_datasets[2]');
    expect(issues).toContain('bar_datasets[3].gaps.frequency: must equal the bar size (1min)');
  });
});

describe('a daily-bar dataset next to the 1-minute one', () => {
  it('is backfilled from the sim, curated on the sessions with its own DQ rule, and read by a feature group', { timeout: 60_000 }, async () => {
    rig = await startManualRig(NOW, { tws: { pacing_safety_margin_ms: 20 } });
    const r = rig;
    await r.driver.run(r.client.connect());
    const probe = base(r.dir, { bar_datasets: [{ name: 'bars_1min', bar_size: '1 min' }, { name: 'bars_1d', bar_size: '1 day' }] });
    const [minute, daily] = resolveBarDatasets(probe);
    const m1 = await r.driver.run(r.ingestor.ingestHistoricalRange([AAPL, MSFT], WEEK[0] as string, WEEK.at(-1) as string, { dataset: minute }));
    const d1 = await r.driver.run(r.ingestor.ingestHistoricalRange([AAPL, MSFT], WEEK[0] as string, WEEK.at(-1) as string, { dataset: daily }));
    expect(m1).toMatchObject({ complete: true, barsWritten: 2 * 1380 });
    // One request per instrument for the whole week (IB serves up to a year of daily bars per request).
    expect(d1).toMatchObject({ complete: true, windows: 2, barsWritten: 2 * 4 });
    expect(r.sim.stats().pacingViolations).toBe(0);
    const daysRequested = r.simLog.lines.filter((l) => l.type === 'historicalData' && l.bar_size === '1 day').map((l) => [l.symbol, l.duration]);
    expect(daysRequested).toEqual([
      ['AAPL', '5 D'],
      ['MSFT', '5 D'],
    ]);
    // Its own raw partition; the 1-minute layout is the classic one.
    for (const d of WEEK) {
      expect(readdirSync(r.lake.path('raw', 'tws_bars', 'bar_size=1d', `date=${d}`)).filter((f) => f.endsWith('.parquet'))).toHaveLength(1);
      expect(existsSync(r.lake.path('raw', 'tws_bars', 'bar_size=1min', `date=${d}`))).toBe(true);
    }

    // What the daily bars must be, by hand from the sim's minute bars: one per session,
    // stamped at its open, open of the first minute, max high, min low, last close, sum volume.
    const minutes = await r.rawStore.readTwsBars({ start: WEEK[0] as string, end: WEEK.at(-1) as string, dedup: true });
    type Day = { symbol: string; date: string; ts: number; open: number; high: number; low: number; close: number; volume: number };
    const expected = new Map<string, Day>();
    for (const row of minutes) {
      // Raw prices may be NULL in the lake's type; the sim's never are (NaN would fail the sums below).
      const m = { ...row, open: row.open ?? NaN, high: row.high ?? NaN, low: row.low ?? NaN, close: row.close ?? NaN, volume: row.volume ?? NaN };
      const date = new Date(Number(m.ts) - 5 * HOUR).toISOString().slice(0, 10); // EST all week
      const key = `${m.symbol}|${date}`;
      const d = expected.get(key);
      if (!d) expected.set(key, { symbol: m.symbol, date, ts: Date.parse(`${date}T14:30:00Z`), open: m.open, high: m.high, low: m.low, close: m.close, volume: m.volume });
      else Object.assign(d, { high: Math.max(d.high, m.high), low: Math.min(d.low, m.low), close: m.close, volume: d.volume + m.volume });
    }
    expect(expected.size).toBe(8);
    // A rule only the daily dataset has: the one day above the week's second-highest volume is quarantined.
    const volumes = [...expected.values()].map((d) => d.volume).sort((a, b) => b - a);
    const cap = ((volumes[0] as number) + (volumes[1] as number)) / 2;
    const capped = [...expected.values()].find((d) => d.volume > cap) as Day;
    const other = capped.symbol === 'AAPL' ? 'MSFT' : 'AAPL';

    const settings = base(r.dir, {
      dq_rules: {
        tws_bars: [{ type: 'ohlc_consistency', severity: 'error', action: 'quarantine' }],
        daily_bars: [{ type: 'range', name: 'daily_volume_cap', field: 'volume', max: cap, severity: 'warn', action: 'quarantine' }],
      },
      bar_datasets: [
        { name: 'bars_1min', bar_size: '1 min' },
        { name: 'bars_1d', bar_size: '1 day', dq_rules: 'daily_bars', gaps: { imputation: { close: 'none', volume: 'none' } } },
      ],
      feature_groups: [{ name: 'daily', version: 'v1', source: 'bars_1d', features: [{ name: 'sma_2', fn: 'sma', column: 'close', window: 2 }] }],
    });
    const app = appFor(r, settings);
    for (const date of WEEK) {
      // Default: every dataset; the Thanksgiving holiday is not a gap, the early close a normal session.
      const counts = await run(app, 'transform', { date });
      expect(counts).toMatchObject({ final: 1, off_grid: 0 });
    }
    // Holiday: no session, so no dataset has a partition.
    expect(existsSync(r.lake.path('curated', 'bars_1d', 'date=2024-11-28'))).toBe(false);

    const curated = await r.lake.query(`SELECT symbol, epoch_ms(ts) AS ts, epoch_ms(available_ts) AS available_ts, open, high, low, close, volume, is_imputed, CAST(date AS VARCHAR) AS date
      FROM read_parquet('${r.lake.path('curated', 'bars_1d')}/date=*/data.parquet', hive_partitioning = true) ORDER BY symbol, ts`);
    const byKey = new Map(curated.map((c) => [`${String(c.symbol)}|${String(c.date)}`, c]));
    expect(curated).toHaveLength(8);
    for (const [key, e] of expected) {
      const c = byKey.get(key) as Record<string, unknown>;
      expect(Number(c.ts)).toBe(e.ts);
      expect(Number(c.available_ts)).toBe(e.ts + 24 * HOUR);
      if (key === `${capped.symbol}|${capped.date}`) {
        // Quarantined, then a gap of its session: left NULL by imputation none.
        expect(c).toMatchObject({ is_imputed: true, close: null });
        continue;
      }
      expect([c.open, c.high, c.low, c.close, c.volume, c.is_imputed]).toEqual([e.open, e.high, e.low, e.close, e.volume, false]);
    }
    const quarantined = await r.lake.query(`SELECT symbol, epoch_ms(ts) AS ts, rule FROM read_parquet('${r.lake.path('quarantine', 'bars_1d')}/*/*.parquet')`);
    expect(quarantined).toEqual([{ symbol: capped.symbol, ts: capped.ts, rule: 'daily_volume_cap' }]);
    // The 1-minute dataset has its own rules: nothing of the daily cap there.
    expect(existsSync(r.lake.path('quarantine', 'tws_bars'))).toBe(false);
    expect(readdirSync(r.lake.path('curated'))).toEqual(['bars_1d', 'bars_1min']);

    // Compaction takes every dataset's raw partition of the date.
    const compacted = await executeJob(app, 'compact', { date: WEEK[0] });
    expect(compacted.error).toBeNull();
    for (const token of ['1min', '1d']) {
      expect(readdirSync(r.lake.path('raw', 'tws_bars', `bar_size=${token}`, `date=${WEEK[0] as string}`)).filter((f) => f.endsWith('.parquet'))).toEqual([expect.stringMatching(/^compacted-[0-9a-f]+\.parquet$/)]);
    }

    for (const date of WEEK) await run(app, 'features', { date, group: 'daily' });
    const feats = await r.lake.query(`SELECT epoch_ms(ts) AS ts, sma_2 FROM read_parquet('${r.lake.path('features', 'daily', 'v=v1')}/date=*/data.parquet') WHERE symbol = '${other}' ORDER BY ts`);
    const closes = WEEK.map((d) => (expected.get(`${other}|${d}`) as Day).close);
    expect(feats.map((f) => Number(f.ts))).toEqual(WEEK.map((d) => Date.parse(`${d}T14:30:00Z`)));
    expect(feats[0]?.sma_2).toBeNull();
    for (let i = 1; i < WEEK.length; i++) expect(feats[i]?.sma_2).toBeCloseTo(((closes[i - 1] as number) + (closes[i] as number)) / 2, 10);
  });
});

describe('a second what_to_show for the same FX instrument', () => {
  it('lands MIDPOINT and BID bars in two raw partitions and two curated tables, each equal to the sim series', { timeout: 60_000 }, async () => {
    const EURUSD = instrumentConfigSchema.parse({ key: 'EURUSD', sec_type: 'CASH', symbol: 'EUR', exchange: 'IDEALPRO', currency: 'USD', calendar: 'FX', what_to_show: 'MIDPOINT', use_rth: false });
    rig = await startManualRig(NOW, { instruments: [EURUSD], tws: { pacing_safety_margin_ms: 20 } });
    const r = rig;
    await r.driver.run(r.client.connect());
    const settingsInput = {
      lake: { root: r.dir },
      instruments: [{ key: 'EURUSD', sec_type: 'CASH', symbol: 'EUR', exchange: 'IDEALPRO', currency: 'USD', calendar: 'FX', what_to_show: 'MIDPOINT', use_rth: false }],
      bar_datasets: [
        { name: 'bars_1min', bar_size: '1 min' },
        { name: 'bars_1min_bid', bar_size: '1 min', what_to_show: 'BID', instruments: ['EURUSD'] },
      ],
    };
    const settings = parseSettings(settingsInput);
    const DATE = '2024-11-27';
    for (const ds of resolveBarDatasets(settings)) {
      const s = await r.driver.run(r.ingestor.ingestHistoricalRange([EURUSD], DATE, DATE, { dataset: ds }));
      expect(s).toMatchObject({ complete: true, barsWritten: 1440 });
    }
    expect(r.sim.stats().pacingViolations).toBe(0);
    const series = r.simLog.lines.filter((l) => l.type === 'historicalData').map((l) => l.what_to_show);
    expect(series).toEqual(['MIDPOINT', 'BID']);
    expect(readdirSync(r.lake.path('raw', 'tws_bars')).sort()).toEqual(['bar_size=1min', 'bar_size=1min-bid']);

    // `ibpipe run transform --dataset NAME` (the real command tree, in process): only that dataset.
    const file = join(r.dir, 'config.yaml');
    writeFileSync(file, stringify({ ...settingsInput, lake: { root: r.dir } }));
    const unknown = await runCliInProcess(['run', 'transform', '--config', file, '--date', DATE, '--dataset', 'bars_1d']);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain('no bar dataset bars_1d (configured: bars_1min, bars_1min_bid)');
    const cli = await runCliInProcess(['run', 'transform', '--config', file, '--date', DATE, '--dataset', 'bars_1min_bid', '--format', 'json']);
    expect(cli.code).toBe(0);
    expect(existsSync(r.lake.path('curated', 'bars_1min_bid', `date=${DATE}`, 'data.parquet'))).toBe(true);
    expect(existsSync(r.lake.path('curated', 'bars_1min'))).toBe(false);
    await run(appFor(r, settings), 'transform', { date: DATE });

    const read = (ds: string): Promise<Record<string, unknown>[]> =>
      r.lake.query(`SELECT epoch_ms(ts) AS ts, open, high, low, close FROM read_parquet('${r.lake.path('curated', ds, `date=${DATE}`, 'data.parquet')}') ORDER BY ts`);
    const mid = await read('bars_1min');
    const bid = await read('bars_1min_bid');
    expect(mid).toHaveLength(1440);
    expect(bid).toHaveLength(1440);
    const simInst = r.sim.instruments.find((i) => i.key === 'EURUSD');
    if (!simInst) throw new Error('sim instrument missing');
    // The sim's own series, asked of the market model directly (not through the client).
    const { SyntheticMarket } = await import('../../src/sim/market.js');
    const { parseBarSize } = await import('../../src/sim/ib-request-time.js');
    const market = new SyntheticMarket();
    const truth = (s: 'MIDPOINT' | 'BID') =>
      market
        .bars(simInst, { start: Number(mid[0]?.ts), end: Number(mid.at(-1)?.ts) + 60_000, bar: parseBarSize('1 min') as NonNullable<ReturnType<typeof parseBarSize>>, series: s, rth: false, now: NOW })
        .map((b) => ({ ts: b.ts, open: b.open, high: b.high, low: b.low, close: b.close }));
    expect(mid.map((m) => ({ ...m, ts: Number(m.ts) }))).toEqual(truth('MIDPOINT'));
    expect(bid.map((m) => ({ ...m, ts: Number(m.ts) }))).toEqual(truth('BID'));
    // The `ibpipe sql` views: one per raw partition and per curated table.
    const views = await createLakeViews(r.lake, r.rawStore);
    expect(views).toEqual(expect.arrayContaining(['raw_bars', 'raw_bars_1min_bid', 'curated_bars', 'curated_bars_1min_bid']));
    const counts = await r.lake.query(`SELECT (SELECT count(*) FROM raw_bars WHERE what_to_show = 'MIDPOINT') AS raw_mid, (SELECT count(*) FROM raw_bars_1min_bid WHERE what_to_show = 'BID' AND bar_size = '1min-bid') AS raw_bid,
      (SELECT count(*) FROM curated_bars) AS cur_mid, (SELECT count(*) FROM curated_bars_1min_bid) AS cur_bid`);
    expect(counts[0]).toEqual({ raw_mid: 1440, raw_bid: 1440, cur_mid: 1440, cur_bid: 1440 });
    // Two different series: the bid sits below the midpoint.
    expect(bid.every((b, i) => Number(b.close) < Number(mid[i]?.close))).toBe(true);
  });
});

describe('ibpipe backfill --dataset', () => {
  it('fills only the named dataset, with its bar size, into its own raw partition', { timeout: 60_000 }, async () => {
    const { SystemClock } = await import('../../src/core/clock.js');
    const { startSimGateway } = await import('../../src/sim/sim-server.js');
    const { mkdtempSync, rmSync } = await import('node:fs');
    const { tmpdir } = await import('node:os');
    const sim = await startSimGateway({ port: 0, clock: new SystemClock(), pacingTimeScale: 0.01 });
    const dir = mkdtempSync(join(tmpdir(), 'ibpipe-ds-'));
    try {
      const file = join(dir, 'config.yaml');
      writeFileSync(
        file,
        stringify({
          lake: { root: join(dir, 'lake') },
          tws: { host: '127.0.0.1', port: sim.port, client_id: 41, pacing_time_scale: 0.01, pacing_safety_margin_ms: 20 },
          logging: { level: 'warn', format: 'json' },
          instruments: [{ key: 'AAPL', sec_type: 'STK', symbol: 'AAPL', exchange: 'SMART', primary_exchange: 'NASDAQ', currency: 'USD', calendar: 'XNYS' }],
          bar_datasets: [
            { name: 'bars_1min', bar_size: '1 min' },
            { name: 'bars_1d', bar_size: '1 day' },
          ],
        }),
      );
      const out = await runCliInProcess(['backfill', '--config', file, '--symbols', 'AAPL', '--start', '2024-11-25', '--end', '2024-11-29', '--dataset', 'bars_1d', '--format', 'json']);
      expect(out.code).toBe(0);
      expect(JSON.parse(out.stdout)).toEqual([expect.objectContaining({ windows: 1, ok: 1, bars_written: 4, complete: true })]);
      expect(readdirSync(join(dir, 'lake', 'raw', 'tws_bars'))).toEqual(['bar_size=1d']);
      expect(readdirSync(join(dir, 'lake', 'raw', 'tws_bars', 'bar_size=1d')).filter((d) => d.startsWith('date=')).sort()).toEqual(WEEK.map((d) => `date=${d}`));
    } finally {
      await sim.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
