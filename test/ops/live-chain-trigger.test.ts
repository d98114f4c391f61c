import { describe, expect, it } from 'vitest';
import { InstrumentCalendars } from '../../src/calendar/instrument-calendars.js';
import { ManualClock } from '../../src/core/clock.js';
import { liveJobParams, type MarketDataEvent } from '../../src/ops/daemon.js';
import type { JobParams } from '../../src/ops/job-ledger.js';
import { LiveChainTrigger } from '../../src/ops/live-chain-trigger.js';
import { silentLogger } from '../../src/ops/logging-setup.js';

const MIN = 60_000;
// Wednesday 2024-12-04, EST: 09:30 = 14:30Z, close 21:00Z.
const at = (hhmm: string, ss = '00'): number => Date.parse(`2024-12-04T${hhmm}:${ss}-05:00`);
const SYMBOLS = ['AAPL', 'MSFT', 'SPY'];

function rig(o: { maxWaitMs?: number } = {}) {
  const clock = new ManualClock(at('10:00', '05'));
  const fired: { at: string; params: JobParams }[] = [];
  const trigger = new LiveChainTrigger({
    clock,
    calendars: new InstrumentCalendars(SYMBOLS.map((key) => ({ key, calendar: 'XNYS' }))),
    symbols: SYMBOLS,
    barMs: MIN,
    finalGraceMs: 10 * MIN,
    maxWaitMs: o.maxWaitMs ?? 15_000,
    logger: silentLogger(),
    fire: (params) => fired.push({ at: new Date(clock.now()).toISOString().slice(11, 19), params }),
  });
  /** A raw batch committing these symbols' bars that start at `bar` (HH:MM New York). */
  const commit = (bar: string, symbols = SYMBOLS, batchId = 'live-x'): void =>
    trigger.onCommit({ batchId, source: 'TWS', rows: symbols.length, lastTs: new Map(symbols.map((s) => [s, at(bar)])), partition: '1min' });
  return { clock, fired, trigger, commit };
}

describe('LiveChainTrigger', () => {
  it('fires as soon as every instrument has the latest bar committed, once per interval', async () => {
    const { clock, fired, trigger, commit } = rig();
    trigger.start(new Map(SYMBOLS.map((s) => [s, at('09:58')])));
    // 10:00:05: the 09:59 bar is due; AAPL and MSFT have it, SPY's is on its way.
    commit('09:59', ['AAPL', 'MSFT']);
    expect(fired).toEqual([]);
    await clock.advance(3_000);
    commit('09:59', ['SPY']);
    expect(fired).toEqual([{ at: '15:00:08', params: { date: '2024-12-04' } }]);
    // Nothing new: nothing fired. A correction of an older bar waits for the next interval's run.
    await clock.advance(40_000);
    commit('09:59', ['AAPL']);
    expect(fired).toHaveLength(1);
    await clock.advance(20_000); // 10:01:08: the 10:00 bar is due
    commit('10:00');
    expect(fired.map((f) => f.at)).toEqual(['15:00:08', '15:01:08']);
    trigger.stop();
  });

  it('waits at most max_wait after the bar close for the bar in flight, never for an instrument further behind, and reruns once the late one is in', async () => {
    const { clock, fired, trigger, commit } = rig({ maxWaitMs: 15_000 });
    // SPY has had nothing since 09:50: it is not waited for.
    trigger.start(new Map([['AAPL', at('09:58')], ['MSFT', at('09:58')], ['SPY', at('09:50')]]));
    commit('09:59', ['AAPL']);
    expect(fired).toEqual([]);
    // MSFT's 09:59 bar does not come: the chain runs at 10:00 + 15 s without it.
    await clock.advance(9_000);
    expect(fired).toEqual([]);
    await clock.advance(1_000);
    expect(fired.map((f) => f.at)).toEqual(['15:00:15']);
    // When it comes after all, the interval runs once more; a correction after that does not.
    await clock.advance(5_000);
    commit('09:59', ['MSFT']);
    commit('09:58', ['AAPL']);
    expect(fired.map((f) => f.at)).toEqual(['15:00:15', '15:00:20']);
    trigger.stop();
  });

  it('leaves out instruments held while the open session is caught up or a gap waits for repair, and fires again when they lift', async () => {
    const { clock, fired, trigger, commit } = rig();
    trigger.onEvent({ type: 'catch-up', symbol: 'AAPL', from: at('09:30') });
    trigger.onEvent({ type: 'catch-up', symbol: 'MSFT', from: at('09:30') });
    trigger.onEvent({ type: 'catch-up', symbol: 'SPY', from: at('09:30') });
    trigger.start(new Map());
    commit('09:59');
    // Every instrument held: a run would change nothing.
    expect(fired).toEqual([]);
    trigger.onEvent({ type: 'caught-up', symbol: 'AAPL' });
    trigger.onEvent({ type: 'caught-up', symbol: 'MSFT' });
    expect(fired.map((f) => f.params)).toEqual([
      { date: '2024-12-04', symbols: ['AAPL'] },
      { date: '2024-12-04', symbols: ['AAPL', 'MSFT'] },
    ]);
    trigger.onEvent({ type: 'caught-up', symbol: 'SPY' });
    expect(fired.at(-1)?.params).toEqual({ date: '2024-12-04' });

    // AAPL's stream breaks after its 10:00 bar, resumes at 10:05 with 10:01-10:04 missing.
    fired.length = 0;
    await clock.advance(5 * MIN);
    trigger.onEvent({ type: 'interrupted', symbol: 'AAPL', reason: 'disconnected', gapFrom: at('10:01') });
    trigger.onEvent({ type: 'resumed', symbol: 'AAPL', gap: { from: at('10:01'), to: at('10:05') } });
    commit('10:04');
    expect(fired.at(-1)?.params).toEqual({ date: '2024-12-04', symbols: ['MSFT', 'SPY'] });
    expect(trigger.holds()).toEqual(new Map([['AAPL', at('10:01')]]));
    trigger.onEvent({ type: 'gap-repaired', symbol: 'AAPL', from: at('10:01'), to: at('10:05'), bars: 4, expected: 4 });
    // The repaired bars are committed by the second live flush after the event at the latest.
    const n = fired.length;
    commit('10:04', ['AAPL'], 'catchup-1');
    commit('10:04', ['AAPL']);
    expect(fired.at(-1)?.params.symbols).toEqual(['MSFT', 'SPY']);
    commit('10:04', ['MSFT']);
    expect(fired.at(-1)?.params).toEqual({ date: '2024-12-04' });
    expect(fired.length).toBeGreaterThan(n);
    trigger.stop();
  });

  it('keeps holding a gap while its repair is retried, and lets it go once the repair has failed for good', async () => {
    const { clock, fired, trigger, commit } = rig();
    trigger.start(new Map(SYMBOLS.map((s) => [s, at('09:59')])));
    await clock.advance(5 * MIN); // 10:05:05
    trigger.onEvent({ type: 'interrupted', symbol: 'MSFT', reason: 'no data for 2 bars', gapFrom: at('10:01') });
    trigger.onEvent({ type: 'resumed', symbol: 'MSFT', gap: { from: at('10:01'), to: at('10:04') } });
    commit('10:04');
    expect(fired.at(-1)?.params).toEqual({ date: '2024-12-04', symbols: ['AAPL', 'SPY'] });
    const failed = (final: boolean): MarketDataEvent =>
      ({ type: 'repair-failed', symbol: 'MSFT', from: at('10:01'), to: at('10:04'), error: 'timeout', attempts: final ? 4 : 1, final }) as MarketDataEvent;
    trigger.onEvent(failed(false));
    expect(trigger.holds()).toEqual(new Map([['MSFT', at('10:01')]]));
    const n = fired.length;
    trigger.onEvent(failed(true));
    // The bars stay missing: a real gap now, curated (imputed) rather than frozen until the close.
    expect(trigger.holds()).toEqual(new Map());
    expect(fired).toHaveLength(n + 1);
    expect(fired.at(-1)?.params).toEqual({ date: '2024-12-04' });
    trigger.stop();
  });

  it('after a catch-up that ended before the live bar came, runs again once the live bar is in', async () => {
    const { clock, fired, trigger, commit } = rig(); // 10:00:05
    for (const s of SYMBOLS) trigger.onEvent({ type: 'catch-up', symbol: s, from: at('09:30') });
    trigger.start(new Map());
    // The catch-up brings bars up to 09:58; the 09:59 bar comes with the live stream's first flush, at 10:00:20.
    for (const s of SYMBOLS) {
      commit('09:58', [s], 'catchup-1');
      trigger.onEvent({ type: 'caught-up', symbol: s });
    }
    expect(fired).toEqual([]);
    await clock.advance(10_000); // no 09:59 bar by 10:00:15: run without it
    await clock.advance(5_000);
    commit('09:59');
    expect(fired.map((f) => f.at)).toEqual(['15:00:15', '15:00:20']);
    trigger.stop();
  });

  it('runs the final transform at the close plus the final grace', async () => {
    const { clock, fired, trigger } = rig();
    trigger.start(new Map());
    await clock.set(at('16:09', '59'));
    expect(fired).toEqual([]);
    await clock.advance(1_000);
    expect(fired).toEqual([{ at: '21:10:00', params: { date: '2024-12-04' } }]);
    // Next: Thursday's session.
    await clock.set(at('16:10') + 24 * 60 * MIN);
    expect(fired.map((f) => [f.at, f.params.date])).toEqual([
      ['21:10:00', '2024-12-04'],
      ['21:10:00', '2024-12-05'],
    ]);
    trigger.stop();
  });

  it('waits for, holds and releases each series of an instrument on its own (two datasets of one FX pair)', async () => {
    // EURUSD in two 1-min datasets: MIDPOINT (classic, bar_size=1min) and BID (bar_size=1min-bid).
    const clock = new ManualClock(at('10:00', '05'));
    const fired: JobParams[] = [];
    const trigger = new LiveChainTrigger({
      clock,
      calendars: new InstrumentCalendars([{ key: 'EURUSD', calendar: 'FX' }]),
      symbols: ['EURUSD'],
      barMs: MIN,
      streams: [
        { symbol: 'EURUSD', dataset: 'bars_1min', partition: '1min', barMs: MIN },
        { symbol: 'EURUSD', tag: 'bars_1min_bid', dataset: 'bars_1min_bid', partition: '1min-bid', barMs: MIN },
      ],
      finalGraceMs: 10 * MIN,
      maxWaitMs: 15_000,
      logger: silentLogger(),
      fire: (params) => fired.push(params),
    });
    const commit = (bar: string, partition: string, batchId = 'live-x'): void =>
      trigger.onCommit({ batchId, source: 'TWS', rows: 1, lastTs: new Map([['EURUSD', at(bar)]]), partition });
    trigger.start(new Map([['EURUSD', at('09:58')], ['EURUSD@bars_1min_bid', at('09:58')]]));
    // The MIDPOINT bar of 09:59 is committed: the BID one is still owed, so nothing runs yet.
    commit('09:59', '1min');
    expect(fired).toEqual([]);
    commit('09:59', '1min-bid');
    expect(fired).toEqual([{ date: '2024-12-04', dataset: ['bars_1min', 'bars_1min_bid'] }]);
    // A gap in the BID stream holds that series only: the next run curates MIDPOINT alone.
    trigger.onEvent({ type: 'resumed', symbol: 'EURUSD', dataset: 'bars_1min_bid', gap: { from: at('10:00'), to: at('10:01') } });
    expect(trigger.holds()).toEqual(new Map([['EURUSD@bars_1min_bid', at('10:00')]]));
    await clock.advance(MIN); // 10:01:05: the 10:00 bar is due
    commit('10:00', '1min');
    expect(fired.at(-1)).toEqual({ date: '2024-12-04', dataset: ['bars_1min'] });
    // The repair's bars are committed by the BID stream's own flushes: MIDPOINT commits do not release it.
    trigger.onEvent({ type: 'gap-repaired', symbol: 'EURUSD', dataset: 'bars_1min_bid', from: at('10:00'), to: at('10:01'), bars: 1, expected: 1 });
    commit('10:00', '1min', 'live-y');
    commit('10:00', '1min', 'live-z');
    expect(trigger.holds().has('EURUSD@bars_1min_bid')).toBe(true);
    commit('10:00', '1min-bid', 'live-b1');
    commit('10:00', '1min-bid', 'live-b2');
    expect(trigger.holds().size).toBe(0);
    expect(fired.at(-1)).toEqual({ date: '2024-12-04', dataset: ['bars_1min', 'bars_1min_bid'] });
    trigger.stop();
  });

  it("passes the datasets whose bars arrived to transform jobs only, narrowed to a job's own dataset", () => {
    const chain = { date: '2024-12-04', symbols: ['EURUSD'], dataset: ['bars_1min', 'bars_1min_bid'] };
    expect(liveJobParams('transform', undefined, chain)).toEqual(chain);
    expect(liveJobParams('transform', { dataset: 'bars_1min' }, chain)).toEqual({ ...chain, dataset: ['bars_1min'] });
    // The job curates a dataset whose bars did not arrive: not run.
    expect(liveJobParams('transform', { dataset: 'bars_1min' }, { ...chain, dataset: ['bars_1min_bid'] })).toBeNull();
    // `dataset` means a training dataset to the dataset job and nothing to features: left out.
    expect(liveJobParams('features', { group: 'tech', version: 'v1' }, chain)).toEqual({ group: 'tech', version: 'v1', date: '2024-12-04', symbols: ['EURUSD'] });
    expect(liveJobParams('transform', { dataset: 'bars_1min' }, { date: '2024-12-04' })).toEqual({ dataset: 'bars_1min', date: '2024-12-04' });
  });
});
