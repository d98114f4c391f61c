import { mkdtempSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { getCalendar } from '../../../src/calendar/calendar-registry.js';
import {
  coverageCell,
  expectedBarsAt,
  heatmapDates,
  missingRuns,
  ratioBucket,
  regularSessionLength,
  weekdaysBack,
  type StoredSlot,
} from '../../../src/ops/dashboard/coverage-math.js';
import { FileAggregateCache } from '../../../src/ops/dashboard/file-aggregate-cache.js';
import { escapeHtml, html, jsonScript, raw } from '../../../src/ops/dashboard/safe-html.js';

const MIN = 60_000;
const XNYS = getCalendar('XNYS');

describe('heatmap columns', () => {
  it('keeps every weekday, so Thanksgiving is a (closed) column, and skips the weekend', () => {
    const sessions = XNYS.sessionsInRange('2024-11-22', '2024-12-02').map((s) => s.date);
    expect(heatmapDates('2024-11-22', '2024-12-02', sessions)).toEqual(['2024-11-22', '2024-11-25', '2024-11-26', '2024-11-27', '2024-11-28', '2024-11-29', '2024-12-02']);
  });

  it('adds a session date that falls on a weekend (a calendar trading on Saturday would show)', () => {
    expect(heatmapDates('2024-11-29', '2024-12-02', ['2024-11-30'])).toEqual(['2024-11-29', '2024-11-30', '2024-12-02']);
  });

  it('counts weekdays back from the end', () => {
    expect(weekdaysBack('2024-12-02', 1)).toBe('2024-12-02');
    expect(weekdaysBack('2024-12-02', 3)).toBe('2024-11-28'); // Mon 2, Fri 29, Thu 28
    expect(weekdaysBack('2024-12-01', 1)).toBe('2024-11-29'); // from a Sunday
  });
});

describe('session lengths and expected bars', () => {
  it('the regular XNYS session is 6.5 h even in a window with two early closes', () => {
    // Nov 29 and Dec 24 2024 close at 13:00.
    expect(regularSessionLength(XNYS.sessionsInRange('2024-11-20', '2024-12-31'))).toBe(6.5 * 3_600_000);
  });

  it('counts the bars complete at now, by hand and against the calendar', () => {
    const s = XNYS.session('2024-11-26');
    if (!s) throw new Error('no session');
    expect(s.open).toBe(Date.parse('2024-11-26T14:30:00Z'));
    expect(expectedBarsAt(s, MIN, Date.parse('2024-11-26T15:00:00Z'))).toBe(30);
    expect(expectedBarsAt(s, MIN, s.open + MIN - 1)).toBe(0);
    expect(expectedBarsAt(s, MIN, s.open + MIN)).toBe(1);
    expect(expectedBarsAt(s, MIN, s.open - 86_400_000)).toBe(0);
    expect(expectedBarsAt(s, MIN, Date.parse('2024-12-01T00:00:00Z'))).toBe(390);
    const early = XNYS.session('2024-11-29');
    if (!early) throw new Error('no session');
    expect(expectedBarsAt(early, MIN, early.close + 1)).toBe(210);
    // The transform's own definition: grid starts with start + freq <= now.
    for (let now = s.open - 2 * MIN; now <= s.close + 2 * MIN; now += 7_919) {
      expect(expectedBarsAt(s, MIN, now)).toBe(XNYS.expectedBarStarts(s, MIN).filter((t) => t + MIN <= now).length);
    }
    // A session that is not a whole number of bars: starts 0, 60 s, 120 s before a 150 s close.
    expect(expectedBarsAt({ date: 'x', open: 0, close: 150_000 }, MIN, 10 * MIN)).toBe(3);
  });

  it('CME Globex: 23 h regular sessions, no bar expected in the 16:00-17:00 CT halt', () => {
    const CMES = getCalendar('CMES');
    // Nov 28 and 29 2024 close at 12:00 CST; a regular day trades 17:00-16:00 CST.
    expect(regularSessionLength(CMES.sessionsInRange('2024-11-20', '2024-12-31'))).toBe(23 * 3_600_000);
    const s = CMES.session('2024-11-26'); // 2024-11-25T23:00Z - 2024-11-26T23:00Z, halt from 22:00Z
    if (!s) throw new Error('no session');
    expect(expectedBarsAt(s, MIN, Date.parse('2024-11-26T21:30:00Z'))).toBe(22.5 * 60);
    expect(expectedBarsAt(s, MIN, Date.parse('2024-11-26T22:00:00Z'))).toBe(1380);
    expect(expectedBarsAt(s, MIN, Date.parse('2024-11-26T22:30:00Z'))).toBe(1380);
    expect(expectedBarsAt(s, MIN, s.close + 1)).toBe(1380);
    expect(expectedBarsAt(s, 5 * MIN, s.close)).toBe(276);
    // A break that does not start on the bar grid: starts 0..4 min, break [90 s, 150 s) drops the 2-min start.
    expect(expectedBarsAt({ date: 'x', open: 0, close: 5 * MIN, breaks: [{ start: 90_000, end: 150_000 }] }, MIN, 10 * MIN)).toBe(4);
    for (let now = s.close - 3 * 3_600_000; now <= s.close + 2 * MIN; now += 29_989) {
      expect(expectedBarsAt(s, MIN, now)).toBe(CMES.expectedBarStarts(s, MIN).filter((t) => t + MIN <= now).length);
    }
    const regular = regularSessionLength(CMES.sessionsInRange('2024-11-20', '2024-12-31'));
    const cell = (date: string): boolean =>
      coverageCell({ symbol: 'ES-202503', date, session: CMES.session(date), regularLengthMs: regular, freqMs: MIN, now: Date.parse('2024-12-31T00:00:00Z'), curated: { rows: 1380, observed: 1380, imputed: 0, unfilled: 0 }, curatedPartition: true, quarantined: 0 }).short;
    expect([cell('2024-11-26'), cell('2024-11-29')]).toEqual([false, true]);
  });
});

describe('cells', () => {
  const session = XNYS.session('2024-11-26');
  const early = XNYS.session('2024-11-29');
  const regular = 6.5 * 3_600_000;
  const after = Date.parse('2024-12-02T15:00:00Z');
  const base = { symbol: 'AAPL', date: '2024-11-26', regularLengthMs: regular, freqMs: MIN, now: after, quarantined: 0 };

  it('closed: no session, nothing expected', () => {
    const c = coverageCell({ ...base, date: '2024-11-28', session: undefined, curated: undefined, curatedPartition: false });
    expect(c).toMatchObject({ state: 'closed', expected: 0, ratio: null, short: false });
  });

  it('future: the session has no complete bar yet', () => {
    const c = coverageCell({ ...base, session, now: (session?.open ?? 0) + 30_000, curated: undefined, curatedPartition: false });
    expect(c).toMatchObject({ state: 'future', expected: 0, ratio: null });
  });

  it('complete, gap and untransformed are told apart; the ratio counts observed bars only', () => {
    expect(coverageCell({ ...base, session, curated: { rows: 390, observed: 390, imputed: 0, unfilled: 0 }, curatedPartition: true })).toMatchObject({ state: 'complete', ratio: 1 });
    const gap = coverageCell({ ...base, session, curated: { rows: 390, observed: 379, imputed: 11, unfilled: 0 }, curatedPartition: true, quarantined: 1 });
    expect(gap).toMatchObject({ state: 'gap', expected: 390, observed: 379, imputed: 11, quarantined: 1 });
    expect(gap.ratio).toBeCloseTo(379 / 390, 12);
    // A partition without this symbol's rows: nothing observed.
    expect(coverageCell({ ...base, session, curated: undefined, curatedPartition: true })).toMatchObject({ state: 'gap', ratio: 0 });
    expect(coverageCell({ ...base, session, curated: undefined, curatedPartition: false })).toMatchObject({ state: 'untransformed', ratio: 0 });
  });

  it('marks the early close as short without calling it a gap', () => {
    const c = coverageCell({ ...base, date: '2024-11-29', session: early, curated: { rows: 210, observed: 210, imputed: 0, unfilled: 0 }, curatedPartition: true });
    expect(c).toMatchObject({ state: 'complete', short: true, expected: 210, ratio: 1 });
  });

  it('buckets ratios for the colour scale', () => {
    expect([1, 0.995, 0.99, 0.97, 0.95, 0.9, 0.8, 0.5, 0.001, 0].map(ratioBucket)).toEqual([5, 4, 4, 3, 3, 2, 2, 1, 1, 0]);
  });
});

describe('missing runs', () => {
  it('groups consecutive grid slots without an observed bar and says how they were filled', () => {
    const grid = Array.from({ length: 10 }, (_, i) => i * MIN);
    const stored = new Map<number, StoredSlot>([
      [0, { imputed: false, imputation: null }],
      [1 * MIN, { imputed: false, imputation: null }],
      [2 * MIN, { imputed: true, imputation: 'ffill' }],
      [3 * MIN, { imputed: true, imputation: 'ffill' }],
      // 4 absent
      [5 * MIN, { imputed: false, imputation: null }],
      [6 * MIN, { imputed: true, imputation: null }],
      [7 * MIN, { imputed: false, imputation: null }],
      [8 * MIN, { imputed: false, imputation: null }],
      [9 * MIN, { imputed: false, imputation: null }],
    ]);
    expect(missingRuns(grid, stored)).toEqual([
      { start: 2 * MIN, last: 4 * MIN, bars: 3, filledBy: ['absent', 'ffill'] },
      { start: 6 * MIN, last: 6 * MIN, bars: 1, filledBy: ['imputed'] },
    ]);
    expect(missingRuns(grid, new Map())).toEqual([{ start: 0, last: 9 * MIN, bars: 10, filledBy: ['absent'] }]);
    expect(missingRuns([], new Map())).toEqual([]);
  });
});

describe('escaping', () => {
  it('escapes every interpolated value unless it is markup built here', () => {
    const evil = '"><script>alert(1)</script>';
    expect(html`<a title="${evil}">${evil}</a>`.value).toBe('<a title="&quot;&gt;&lt;script&gt;alert(1)&lt;/script&gt;">&quot;&gt;&lt;script&gt;alert(1)&lt;/script&gt;</a>');
    expect(html`<p>${[html`<b>${'&'}</b>`, raw('<i>x</i>'), null, false, 3]}</p>`.value).toBe('<p><b>&amp;</b><i>x</i>3</p>');
    expect(escapeHtml(`'`)).toBe('&#39;');
  });

  it('JSON blocks cannot close their script element', () => {
    const out = jsonScript('d', { reason: '</script><script>alert(1)</script>' }).value;
    expect(out).not.toContain('</script><script>');
    expect(JSON.parse(out.replace(/^<script[^>]*>/, '').replace(/<\/script>$/, ''))).toEqual({ reason: '</script><script>alert(1)</script>' });
  });
});

describe('per-file aggregate cache', () => {
  it('loads a file once while its size and mtime stay, again after it is replaced, and skips missing files', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ibpipe-'));
    try {
      const a = join(dir, 'a');
      const b = join(dir, 'b');
      writeFileSync(a, 'one');
      writeFileSync(b, 'two');
      const cache = new FileAggregateCache<number>();
      const loads: string[][] = [];
      const load = async (stale: string[]): Promise<Map<string, number>> => {
        loads.push(stale);
        return new Map(stale.map((f) => [f, stale.length]));
      };
      expect([...(await cache.getMany([a, b, join(dir, 'missing')], load)).keys()]).toEqual([a, b]);
      await cache.getMany([a, b], load);
      expect(loads).toEqual([[a, b]]);
      writeFileSync(b, 'three');
      utimesSync(b, new Date(), new Date(Date.now() + 5_000));
      await cache.getMany([a, b], load);
      expect(loads).toEqual([[a, b], [b]]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
