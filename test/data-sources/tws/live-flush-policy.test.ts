import { describe, expect, it } from 'vitest';
import { barFinalEverywhere } from '../../../src/data-sources/tws/live-flush-policy.js';

const M = 60_000;
const T = Date.UTC(2024, 10, 26, 15, 0); // a bar start
const open = { isOpen: () => true };
const closed = { isOpen: () => false };

describe('barFinalEverywhere (when a live flush may commit the newest bar)', () => {
  it('waits for a stream that was current through the previous bar and still owes this one', () => {
    expect(
      barFinalEverywhere(T, M, [
        { lastFinalTs: T, calendar: open },
        { lastFinalTs: T - M, calendar: open },
      ]),
    ).toBe(false);
    expect(
      barFinalEverywhere(T, M, [
        { lastFinalTs: T, calendar: open },
        { lastFinalTs: T, calendar: open },
      ]),
    ).toBe(true);
  });

  it('does not wait for a stream further behind, just subscribed, or whose calendar has no such bar', () => {
    expect(
      barFinalEverywhere(T, M, [
        { lastFinalTs: T, calendar: open },
        { lastFinalTs: T - 2 * M, calendar: open },
      ]),
    ).toBe(true);
    expect(
      barFinalEverywhere(T, M, [
        { lastFinalTs: T, calendar: open },
        { lastFinalTs: undefined, calendar: open },
      ]),
    ).toBe(true);
    expect(
      barFinalEverywhere(T, M, [
        { lastFinalTs: T, calendar: open },
        { lastFinalTs: T - M, calendar: closed },
      ]),
    ).toBe(true);
  });
});
