import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../../src/core/clock.js';
import {
  HistoricalPacer,
  type HistoricalRequestKey,
  type PacingPermit,
  SlidingWindowLimiter,
} from '../../../src/data-sources/tws/pacing.js';

const T0 = Date.UTC(2024, 10, 25, 15, 0, 0);

function key(contract: string, request: string, whatToShow = 'TRADES'): HistoricalRequestKey {
  return { contract, exchange: 'SMART', whatToShow, request: `${contract}|${whatToShow}|${request}` };
}

/**
 * Starts an acquire and records the clock instant (relative to T0) at which it was granted.
 * The permit is released at once (the request "completed") unless hold is set.
 */
function track(
  clock: ManualClock,
  p: Promise<PacingPermit>,
  hold = false,
): { grantedAt: number | undefined; permit: PacingPermit | undefined } {
  const t: { grantedAt: number | undefined; permit: PacingPermit | undefined } = { grantedAt: undefined, permit: undefined };
  void p.then((permit) => {
    t.grantedAt = clock.now() - T0;
    t.permit = permit;
    if (!hold) permit.release();
  });
  return t;
}

describe('SlidingWindowLimiter', () => {
  it('frees a unit exactly windowMs after it was taken', async () => {
    const clock = new ManualClock(T0);
    const lim = new SlidingWindowLimiter(2, 1_000, clock);
    lim.take();
    await clock.advance(300);
    lim.take();
    expect(lim.delayFor(1)).toBe(700); // the first unit (t=0) leaves at t=1000
    expect(lim.delayFor(2)).toBe(1_000); // both must leave: the second at t=1300
    await clock.advance(700);
    expect(lim.delayFor(1)).toBe(0);
    expect(lim.remaining()).toBe(1);
  });
});

describe('HistoricalPacer', () => {
  it('60 requests per rolling 10 minutes: the 61st waits for the first to leave the window', async () => {
    const clock = new ManualClock(T0);
    const pacer = new HistoricalPacer(clock);
    const grants = [];
    // One request per second on 60 different contracts, so only the 10-minute rule can bind.
    for (let i = 0; i < 60; i++) {
      grants.push(track(clock, pacer.acquire(key(`C${i}`, 'w'))));
      await clock.advance(1_000);
    }
    // Now t = 60 s. The 61st may go when the request of t=0 leaves: t = 600 s; the 62nd at 601 s.
    const g61 = track(clock, pacer.acquire(key('C60', 'w')));
    const g62 = track(clock, pacer.acquire(key('C61', 'w')));
    expect(grants.map((g) => g.grantedAt)).toEqual(Array.from({ length: 60 }, (_, i) => i * 1_000));
    await clock.advance(600_000 - 60_000 - 1);
    expect(g61.grantedAt).toBeUndefined();
    await clock.advance(1);
    expect(g61.grantedAt).toBe(600_000);
    expect(g62.grantedAt).toBeUndefined();
    await clock.advance(1_000);
    expect(g62.grantedAt).toBe(601_000);
    const m = pacer.metrics();
    expect(m.waited).toBe(2);
    expect(m.totalWaitMs).toBe(540_000 + 541_000);
    expect(m.waitsByRule.historical_window).toBe(2);
  });

  it('fewer than 6 requests per contract/exchange/tick type in 2 s', async () => {
    const clock = new ManualClock(T0);
    const pacer = new HistoricalPacer(clock);
    const g = [];
    for (let i = 0; i < 5; i++) {
      g.push(track(clock, pacer.acquire(key('AAPL', `end${i}`))));
      await clock.advance(100);
    }
    // t = 500 ms: five sent at 0,100,…,400. The sixth may go at 2000 (when t=0 leaves), the seventh at 2100.
    const g6 = track(clock, pacer.acquire(key('AAPL', 'end5')));
    const g7 = track(clock, pacer.acquire(key('AAPL', 'end6')));
    // Another tick type on the same contract is a different bucket and goes at once.
    const mid = track(clock, pacer.acquire(key('AAPL', 'end0', 'MIDPOINT')));
    await clock.advance(0);
    expect(mid.grantedAt).toBe(500);
    await clock.advance(1_499);
    expect(g6.grantedAt).toBeUndefined();
    await clock.advance(1);
    expect(g6.grantedAt).toBe(2_000);
    await clock.advance(100);
    expect(g7.grantedAt).toBe(2_100);
    expect(g.map((x) => x.grantedAt)).toEqual([0, 100, 200, 300, 400]);
  });

  it('no identical request within 15 s', async () => {
    const clock = new ManualClock(T0);
    const pacer = new HistoricalPacer(clock);
    track(clock, pacer.acquire(key('AAPL', 'same')));
    await clock.advance(4_000);
    const again = track(clock, pacer.acquire(key('AAPL', 'same')));
    await clock.advance(10_999);
    expect(again.grantedAt).toBeUndefined();
    await clock.advance(1);
    expect(again.grantedAt).toBe(15_000);
    expect(pacer.metrics().waitsByRule.identical).toBe(1);
  });

  it('BID_ASK counts twice against the 10-minute and the 2-second rules', async () => {
    const clock = new ManualClock(T0);
    const pacer = new HistoricalPacer(clock);
    // 2 s rule: BID_ASK weighs 2, so two requests use 4 of 5; a third (6 > 5) waits for the first.
    track(clock, pacer.acquire(key('EURUSD', 'a', 'BID_ASK')));
    await clock.advance(500);
    track(clock, pacer.acquire(key('EURUSD', 'b', 'BID_ASK')));
    const third = track(clock, pacer.acquire(key('EURUSD', 'c', 'BID_ASK')));
    await clock.advance(1_499);
    expect(third.grantedAt).toBeUndefined();
    await clock.advance(1);
    expect(third.grantedAt).toBe(2_000);
    // 10-min rule: 3 BID_ASK so far = 6 units; 27 more BID_ASK on other contracts fill 60.
    for (let i = 0; i < 27; i++) track(clock, pacer.acquire(key(`X${i}`, 'a', 'BID_ASK')));
    await clock.advance(0);
    expect(pacer.metrics().historicalBudget).toBe(0);
    const trades = track(clock, pacer.acquire(key('Y', 'a')));
    // The first BID_ASK (t=0, 2 units) leaves the window at t=600 s.
    await clock.advance(600_000 - 2_000 - 1);
    expect(trades.grantedAt).toBeUndefined();
    await clock.advance(1);
    expect(trades.grantedAt).toBe(600_000);
  });

  it('waiters on the shared budget are served in order; a contract-limited waiter does not block others', async () => {
    const clock = new ManualClock(T0);
    const pacer = new HistoricalPacer(clock);
    for (let i = 0; i < 59; i++) track(clock, pacer.acquire(key(`C${i}`, 'w')));
    await clock.advance(1_000);
    // 1 unit left: a BID_ASK (2 units) must wait, and the TRADES request behind it may not overtake.
    const bidAsk = track(clock, pacer.acquire(key('B', 'w', 'BID_ASK')));
    const trades = track(clock, pacer.acquire(key('T', 'w')));
    await clock.advance(0);
    expect(bidAsk.grantedAt).toBeUndefined();
    expect(trades.grantedAt).toBeUndefined();
    // All 59 left at t=600 s together: both go then.
    await clock.advance(599_000);
    expect(bidAsk.grantedAt).toBe(600_000);
    expect(trades.grantedAt).toBe(600_000);

    // Per-contract rule: the sixth AAPL request waits, MSFT behind it does not.
    for (let i = 0; i < 6; i++) track(clock, pacer.acquire(key('AAPL', `p${i}`)));
    const msft = track(clock, pacer.acquire(key('MSFT', 'p')));
    await clock.advance(0);
    expect(msft.grantedAt).toBe(600_000);
  });

  it('at most 50 open requests: the 51st goes the moment one is released', async () => {
    const clock = new ManualClock(T0);
    const pacer = new HistoricalPacer(clock);
    const held = [];
    for (let i = 0; i < 50; i++) held.push(track(clock, pacer.acquire(key(`C${i}`, 'w')), true));
    const late = track(clock, pacer.acquire(key('C50', 'w')), true);
    await clock.advance(5_000);
    expect(late.grantedAt).toBeUndefined();
    expect(pacer.metrics().openRequests).toBe(50);
    held[7]?.permit?.release();
    held[7]?.permit?.release(); // idempotent
    await clock.advance(0);
    expect(late.grantedAt).toBe(5_000);
    expect(pacer.metrics().openRequests).toBe(50);
    expect(pacer.metrics().waitsByRule.open_requests).toBe(1);
  });

  it('a request counts as current while in flight and from its answer on (a busy gateway applies its windows late)', async () => {
    const clock = new ManualClock(T0);
    const pacer = new HistoricalPacer(clock);
    // 10-minute rule: 60 requests sent at t=0, all answered at t=5 s -> the 61st goes at 605 s, not 600 s.
    const held = [];
    for (let i = 0; i < 60; i++) held.push(track(clock, pacer.acquire(key(`C${i}`, 'w')), true));
    await clock.advance(5_000);
    for (const h of held) h.permit?.release();
    const g61 = track(clock, pacer.acquire(key('C60', 'w')));
    await clock.advance(600_000 - 1);
    expect(g61.grantedAt).toBeUndefined();
    await clock.advance(1);
    expect(g61.grantedAt).toBe(605_000);

    // Identical rule: sent at 605 s and answered at 609 s -> the same request may go again at 624 s,
    // and not at all while the first is still unanswered.
    const x = track(clock, pacer.acquire(key('X', 'same')), true);
    await clock.advance(0);
    const x2 = track(clock, pacer.acquire(key('X', 'same')));
    await clock.advance(4_000);
    expect(x2.grantedAt).toBeUndefined();
    x.permit?.release();
    await clock.advance(14_999);
    expect(x2.grantedAt).toBeUndefined();
    await clock.advance(1);
    expect(x2.grantedAt).toBe(624_000);

    // Same-contract rule: five Z requests in flight for 3 s (longer than the 2 s window) still
    // count; a sixth waits for the first answer at 627 s plus 2 s.
    const z = [];
    for (let i = 0; i < 5; i++) z.push(track(clock, pacer.acquire(key('Z', `p${i}`)), true));
    await clock.advance(0);
    const z6 = track(clock, pacer.acquire(key('Z', 'p5')));
    await clock.advance(3_000);
    expect(z6.grantedAt).toBeUndefined();
    for (const h of z) h.permit?.release();
    await clock.advance(1_999);
    expect(z6.grantedAt).toBeUndefined();
    await clock.advance(1);
    expect(z6.grantedAt).toBe(629_000);
  });

  it('time scale shrinks every historical window by the same factor', async () => {
    const clock = new ManualClock(T0);
    const pacer = new HistoricalPacer(clock, { timeScale: 0.01 });
    for (let i = 0; i < 60; i++) track(clock, pacer.acquire(key(`C${i}`, 'w')));
    const g61 = track(clock, pacer.acquire(key('C60', 'w')));
    await clock.advance(5_999);
    expect(g61.grantedAt).toBeUndefined();
    await clock.advance(1);
    expect(g61.grantedAt).toBe(6_000); // 600 s x 0.01
    track(clock, pacer.acquire(key('D', 'same')));
    const again = track(clock, pacer.acquire(key('D', 'same')));
    await clock.advance(149);
    expect(again.grantedAt).toBeUndefined();
    await clock.advance(1);
    expect(again.grantedAt).toBe(6_150); // 15 s x 0.01
  });

  it('a safety margin lengthens every window by that many ms', async () => {
    const clock = new ManualClock(T0);
    const pacer = new HistoricalPacer(clock, { timeScale: 0.01, safetyMarginMs: 20 });
    track(clock, pacer.acquire(key('D', 'same')));
    const again = track(clock, pacer.acquire(key('D', 'same')));
    await clock.advance(169);
    expect(again.grantedAt).toBeUndefined();
    await clock.advance(1);
    expect(again.grantedAt).toBe(170);
  });

  it('pause() holds new requests; abort removes a waiter', async () => {
    const clock = new ManualClock(T0);
    const pacer = new HistoricalPacer(clock);
    pacer.pause(30_000);
    const ac = new AbortController();
    const aborted = pacer.acquire(key('A', 'w'), ac.signal);
    const kept = track(clock, pacer.acquire(key('B', 'w')));
    await clock.advance(1_000);
    ac.abort(new Error('stop'));
    await expect(aborted).rejects.toThrow('stop');
    await clock.advance(28_999);
    expect(kept.grantedAt).toBeUndefined();
    await clock.advance(1);
    expect(kept.grantedAt).toBe(30_000);
    expect(pacer.metrics().queued).toBe(0);
    expect(pacer.metrics().granted).toBe(1);
  });

  it('a historical grant also takes a message slot, so a burst never exceeds 50 messages per second', async () => {
    const clock = new ManualClock(T0);
    const pacer = new HistoricalPacer(clock);
    const g = [];
    for (let i = 0; i < 51; i++) g.push(track(clock, pacer.acquire(key(`C${i}`, 'w'))));
    await clock.advance(999);
    expect(g.filter((x) => x.grantedAt === 0)).toHaveLength(50);
    expect(g[50]?.grantedAt).toBeUndefined();
    await clock.advance(1);
    expect(g[50]?.grantedAt).toBe(1_000);
    expect(pacer.metrics().waited).toBe(1);
  });

  it('50 messages per second', async () => {
    const clock = new ManualClock(T0);
    const pacer = new HistoricalPacer(clock, { timeScale: 0.01 });
    const times: number[] = [];
    for (let i = 0; i < 51; i++) void pacer.acquireMessage().then(() => times.push(clock.now() - T0));
    await clock.advance(999);
    expect(times).toHaveLength(50);
    expect(times.every((t) => t === 0)).toBe(true);
    await clock.advance(1); // not scaled: the message rate is a socket limit
    expect(times).toEqual([...Array<number>(50).fill(0), 1_000]);
  });
});
