import { describe, expect, it } from 'vitest';
import { LiveBarFinalizer, type LiveBarValues } from '../../../src/data-sources/tws/live-bar-finalizer.js';

const M = 60_000;
const T = Date.UTC(2024, 10, 26, 15, 0);
const bar = (minute: number, close: number, volume = 100): LiveBarValues => ({
  ts: T + minute * M,
  open: 10,
  high: Math.max(10, close),
  low: Math.min(10, close),
  close,
  volume,
  wap: null,
  tradeCount: null,
});

describe('LiveBarFinalizer', () => {
  it('a bar is final when the next bar first updates, with the values of its last update', () => {
    const f = new LiveBarFinalizer(M, 30_000);
    expect(f.onUpdate(bar(0, 11, 10), T + 5_000)).toEqual([]);
    expect(f.onUpdate(bar(0, 12, 50), T + 55_000)).toEqual([]);
    expect(f.onUpdate(bar(0, 13, 90), T + 60_000)).toEqual([]);
    expect(f.onUpdate(bar(1, 9, 5), T + 65_000)).toEqual([bar(0, 13, 90)]);
    expect(f.lastFinalTs).toBe(T);
    expect(f.current).toEqual(bar(1, 9, 5));
  });

  it('the initial batch: every bar but the newest is final; bars already final are skipped', () => {
    const f = new LiveBarFinalizer(M, 30_000, T + M);
    const out = f.onInitialBatch([bar(3, 1), bar(1, 1), bar(2, 1), bar(0, 1)], T + 3 * M + 10_000);
    expect(out.map((b) => (b.ts - T) / M)).toEqual([2]);
    expect(f.current?.ts).toBe(T + 3 * M);
    expect(f.lateUpdates).toBe(2);
  });

  it('a quiet market or session end: final once the grace after the bar end has passed', () => {
    const f = new LiveBarFinalizer(M, 30_000);
    f.onUpdate(bar(0, 11), T + 50_000);
    expect(f.nextDeadline()).toBe(T + 90_000);
    expect(f.onTick(T + 89_999)).toEqual([]);
    expect(f.onTick(T + 90_000)).toEqual([bar(0, 11)]);
    expect(f.current).toBeUndefined();
  });

  it('an update that comes after the grace ran out corrects the bar once; older ones are ignored', () => {
    const f = new LiveBarFinalizer(M, 30_000);
    f.onUpdate(bar(0, 11, 80), T + 50_000);
    expect(f.onTick(T + 90_000)).toEqual([bar(0, 11, 80)]);
    expect(f.onUpdate(bar(0, 12, 95), T + 91_000)).toEqual([bar(0, 12, 95)]);
    expect(f.onUpdate(bar(0, 12, 95), T + 92_000)).toEqual([]);
    expect(f.corrections).toBe(1);
    // A bar finalized by the next bar's update is never reopened.
    f.onUpdate(bar(1, 11), T + 95_000);
    expect(f.onUpdate(bar(2, 11), T + 125_000)).toEqual([bar(1, 11)]);
    expect(f.onUpdate(bar(1, 99), T + 126_000)).toEqual([]);
  });

  it('discardCurrent drops a bar whose stream broke', () => {
    const f = new LiveBarFinalizer(M, 30_000);
    f.onUpdate(bar(0, 11), T + 10_000);
    f.discardCurrent();
    expect(f.current).toBeUndefined();
    expect(f.onTick(T + 10 * M)).toEqual([]);
    expect(f.lastFinalTs).toBeUndefined();
  });
});
