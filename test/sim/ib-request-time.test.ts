import { describe, expect, it } from 'vitest';
import {
  formatConnectionTime,
  formatIbDateTime,
  maxDurationSeconds,
  nominalSeconds,
  parseBarSize,
  parseDuration,
  parseEndDate,
  subtractDuration,
} from '../../src/sim/ib-request-time.js';

const NY = 'America/New_York';
const NOW = Date.UTC(2024, 10, 27, 15, 0); // 2024-11-27 10:00 EST

describe('end dates', () => {
  it('reads every form a gateway accepts', () => {
    expect(parseEndDate('', NY, NOW)).toEqual({ kind: 'now' });
    const close = Date.UTC(2024, 10, 27, 21, 0); // 16:00 EST
    expect(parseEndDate('20241127-21:00:00', NY, NOW)).toEqual({
      kind: 'instant',
      instant: close,
      zoneless: false,
    });
    expect(parseEndDate('20241127 16:00:00 US/Eastern', NY, NOW)).toEqual({
      kind: 'instant',
      instant: close,
      zoneless: false,
    });
    expect(parseEndDate('20241127 21:00:00 UTC', NY, NOW)).toEqual({
      kind: 'instant',
      instant: close,
      zoneless: false,
    });
    expect(parseEndDate('20241127 15:00:00 US/Central', NY, NOW)).toEqual({
      kind: 'instant',
      instant: close,
      zoneless: false,
    });
    // Summer: New York is UTC-4.
    expect(parseEndDate('20240701 16:00:00 US/Eastern', NY, NOW)).toMatchObject({
      instant: Date.UTC(2024, 6, 1, 20, 0),
    });
    // Zone-less: the gateway's own zone, flagged for warning 2174.
    expect(parseEndDate('20241127 16:00:00', NY, NOW)).toEqual({
      kind: 'instant',
      instant: close,
      zoneless: true,
    });
    expect(parseEndDate('20241127 16:00:00', 'Europe/London', NOW)).toMatchObject({
      instant: Date.UTC(2024, 10, 27, 16, 0),
    });
    // Time only: today in that zone.
    expect(parseEndDate('16:00:00 US/Eastern', NY, NOW)).toMatchObject({ instant: close });
  });

  it('rejects what a gateway rejects with 10314', () => {
    for (const bad of [
      'yesterday',
      '2024-11-27 16:00:00',
      '20241127 25:00:00 US/Eastern',
      '20241127 16:00:00 Mars/Base',
      '20241127-21:00:00 UTC',
      '20241327 10:00:00',
      '20241127',
    ]) {
      expect(parseEndDate(bad, NY, NOW), bad).toBeUndefined();
    }
  });
});

describe('durations and bar sizes', () => {
  it('validates durations with the gateway texts', () => {
    expect(parseDuration('23400 S')).toEqual({ ok: true, duration: { count: 23400, unit: 'S' } });
    expect(parseDuration('2 d')).toEqual({ ok: true, duration: { count: 2, unit: 'D' } });
    expect(parseDuration('3600')).toEqual({ ok: true, duration: { count: 3600, unit: 'S' } });
    expect(parseDuration('')).toEqual({
      ok: false,
      cause: 'Historical data request duration not specified.',
    });
    expect(parseDuration('1D')).toMatchObject({
      ok: false,
      cause: expect.stringContaining('integer{SPACE}unit (S|D|W|M|Y)'),
    });
    expect(parseDuration('10 S')).toEqual({
      ok: false,
      cause: 'Historical data requested duration is invalid.',
    });
    expect(parseDuration('86401 S')).toEqual({
      ok: false,
      cause: 'Historical data request for greater than 86400 seconds rejected.',
    });
    expect(parseDuration('366 D')).toEqual({
      ok: false,
      cause: 'Historical data requests for durations longer than 365 days must be made in years.',
    });
    expect(parseDuration('13 M')).toMatchObject({ ok: false });
  });

  it('knows the legal bar sizes and their lengths', () => {
    expect(parseBarSize('1 min')).toEqual({ kind: 'intraday', ms: 60_000, name: '1 min' });
    expect(parseBarSize('8 hours')).toEqual({ kind: 'intraday', ms: 28_800_000, name: '8 hours' });
    expect(parseBarSize('1 day')).toEqual({ kind: 'day', name: '1 day' });
    expect(parseBarSize('1W')).toEqual({ kind: 'week', name: '1W' });
    expect(parseBarSize('1 month')).toEqual({ kind: 'month', name: '1M' });
    for (const bad of ['1 sec', '1 mins', '7 mins', '1 hours', '2 days', ''])
      expect(parseBarSize(bad), bad).toBeUndefined();
  });

  it('caps durations per bar size (Time length exceed max)', () => {
    const oneMin = parseBarSize('1 min');
    const oneSec = parseBarSize('1 secs');
    if (!oneMin || !oneSec) throw new Error('bar sizes');
    const d = (t: string): number => {
      const r = parseDuration(t);
      if (!r.ok) throw new Error(t);
      return nominalSeconds(r.duration);
    };
    expect(d('1 D')).toBeLessThanOrEqual(maxDurationSeconds(oneMin));
    expect(d('5 D')).toBeLessThanOrEqual(maxDurationSeconds(oneMin));
    expect(d('1 M')).toBeGreaterThan(maxDurationSeconds(oneMin));
    expect(d('1800 S')).toBeLessThanOrEqual(maxDurationSeconds(oneSec));
    expect(d('1 D')).toBeGreaterThan(maxDurationSeconds(oneSec));
  });

  it('subtracts calendar durations on the wall clock of the zone', () => {
    const end = Date.UTC(2024, 2, 11, 20, 0); // Monday 2024-03-11 16:00 EDT, the day after the DST change
    expect(subtractDuration(end, { count: 1, unit: 'D' }, NY)).toBe(Date.UTC(2024, 2, 10, 20, 0)); // 16:00 EDT Sunday: 24 h back
    expect(subtractDuration(end, { count: 2, unit: 'D' }, NY)).toBe(Date.UTC(2024, 2, 9, 21, 0)); // 16:00 EST Saturday
    expect(subtractDuration(end, { count: 3600, unit: 'S' }, NY)).toBe(end - 3_600_000);
    expect(subtractDuration(Date.UTC(2024, 2, 31, 20, 0), { count: 1, unit: 'M' }, NY)).toBe(
      Date.UTC(2024, 1, 29, 21, 0),
    );
    expect(subtractDuration(Date.UTC(2024, 10, 27, 21, 0), { count: 1, unit: 'Y' }, NY)).toBe(
      Date.UTC(2023, 10, 27, 21, 0),
    );
  });
});

describe('date strings', () => {
  it('writes instants as current gateways do', () => {
    expect(formatIbDateTime(Date.UTC(2024, 10, 27, 14, 30), 'US/Eastern')).toBe(
      '20241127 09:30:00 US/Eastern',
    );
    expect(formatIbDateTime(Date.UTC(2024, 6, 1, 13, 30, 5), 'US/Eastern')).toBe(
      '20240701 09:30:05 US/Eastern',
    );
    expect(formatIbDateTime(Date.UTC(2024, 10, 26, 23, 0), 'US/Central')).toBe(
      '20241126 17:00:00 US/Central',
    );
    expect(formatConnectionTime(Date.UTC(2023, 1, 28, 22, 24, 14), NY)).toBe('20230228 17:24:14 EST');
    expect(formatConnectionTime(Date.UTC(2024, 6, 1, 12, 0, 0), NY)).toBe('20240701 08:00:00 EDT');
  });
});
