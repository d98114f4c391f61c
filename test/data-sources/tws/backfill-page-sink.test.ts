import { describe, expect, it } from 'vitest';
import { type BackfillPage, PageAbandonedError, PageHandOff } from '../../../src/data-sources/tws/backfill-page-sink.js';

function page(batchId: string, log: string[]): BackfillPage {
  return { batchId, events: [], series: null, label: batchId, onCommitted: () => log.push(`committed ${batchId}`), onFailed: () => log.push(`failed ${batchId}`) };
}

/** Settles pending promise callbacks. */
const tick = (): Promise<void> => new Promise((r) => setImmediate(r));

describe('PageHandOff (the consumer side of the backfill driver)', () => {
  it('a submit resolves only once the consumer takes the page; a page is committed only on acknowledge; drain waits for both', async () => {
    const log: string[] = [];
    const hand = new PageHandOff();
    let accepted = false;
    const a = page('a', log);
    void hand.submit(a).then(() => (accepted = true));
    let drained = false;
    void hand.drain().then(() => (drained = true));
    await tick();
    expect(accepted).toBe(false);
    expect(await hand.take()).toBe(a);
    await tick();
    expect(accepted).toBe(true);
    expect(drained).toBe(false);
    expect(log).toEqual([]);
    hand.acknowledge(a);
    hand.acknowledge(a); // a second acknowledge records nothing more
    await tick();
    expect(log).toEqual(['committed a']);
    expect(hand.commits).toBe(1);
    expect(drained).toBe(true);
    hand.close();
    expect(await hand.take()).toBeUndefined();
  });

  it('a consumer that leaves gives up every page it did not acknowledge: waiting submits fail, nothing is committed, drain resolves', async () => {
    const log: string[] = [];
    const hand = new PageHandOff();
    const a = page('a', log);
    const b = page('b', log);
    void hand.submit(a);
    const second = hand.submit(b);
    expect(await hand.take()).toBe(a);
    hand.abandon();
    await expect(second).rejects.toBeInstanceOf(PageAbandonedError);
    await expect(hand.submit(page('c', log))).rejects.toBeInstanceOf(PageAbandonedError);
    await hand.drain();
    hand.acknowledge(a);
    expect(log).toEqual([]);
    expect(hand.commits).toBe(0);
    expect(await hand.take()).toBeUndefined();
  });

  it('a taker waiting for a page gets the next submitted one, and undefined when the driver closes', async () => {
    const hand = new PageHandOff();
    const waiting = hand.take();
    const a = page('a', []);
    await hand.submit(a);
    expect(await waiting).toBe(a);
    const last = hand.take();
    hand.close();
    expect(await last).toBeUndefined();
  });
});
