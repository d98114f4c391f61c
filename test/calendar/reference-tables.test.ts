import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { getCalendar } from '../../src/calendar/calendar-registry.js';

/**
 * exchange_calendars' own session tables (copied from ../shared/reference/calendars) are the
 * truth: every session, open and close from 1990 on must match, and the calendar must have no
 * session the table lacks.
 */
interface RefSession {
  date: string;
  open: number;
  close: number;
}

function readTable(file: string): RefSession[] {
  const lines = readFileSync(new URL(`../fixtures/calendars/${file}`, import.meta.url), 'utf8')
    .trim()
    .split('\n');
  expect(lines[0]).toBe(',open,close,break_start,break_end');
  return lines.slice(1).map((line) => {
    const [date = '', open = '', close = ''] = line.split(',');
    expect(date.endsWith('T00:00:00Z')).toBe(true);
    return { date: date.slice(0, 10), open: Date.parse(open), close: Date.parse(close) };
  });
}

describe.each([
  ['XNYS', 'xnys.csv', 8324],
  ['CMES', 'cmes.csv', 9682],
] as const)('%s against %s', (code, file, rows) => {
  const ref = readTable(file).filter((s) => s.date >= '1990-01-01');
  const first = ref[0]?.date ?? '';
  const last = ref.at(-1)?.date ?? '';
  const cal = getCalendar(code);

  it('has every session of the table with the same open and close, and no other', () => {
    expect(ref).toHaveLength(rows);
    const got = cal.sessionsInRange(first, last);
    const gotByDate = new Map(got.map((s) => [s.date, s]));
    const refDates = new Set(ref.map((s) => s.date));
    const mismatches = ref
      .filter((r) => {
        const g = gotByDate.get(r.date);
        return g === undefined || g.open !== r.open || g.close !== r.close;
      })
      .map((r) => r.date);
    const extra = got.filter((s) => !refDates.has(s.date)).map((s) => s.date);
    expect(mismatches).toEqual([]);
    expect(extra).toEqual([]);
    expect(got.map((s) => s.date)).toEqual(ref.map((s) => s.date)); // ascending, same order
  });

  it('answers session/sessionAt/sessionDateOf/next/previous consistently with the table', () => {
    const problems: string[] = [];
    ref.forEach((r, i) => {
      const s = cal.session(r.date);
      if (s?.open !== r.open || s.close !== r.close) problems.push(`session ${r.date}`);
      if (cal.sessionAt(r.open)?.date !== r.date) problems.push(`sessionAt(open) ${r.date}`);
      if (cal.sessionAt(r.close - 1)?.date !== r.date) problems.push(`sessionAt(close-1) ${r.date}`);
      if (cal.sessionDateOf(r.open) !== r.date || cal.sessionDateOf(r.close - 1) !== r.date)
        problems.push(`sessionDateOf ${r.date}`);
      const next = ref[i + 1];
      if (next) {
        if (cal.nextSession(r.date).date !== next.date) problems.push(`nextSession ${r.date}`);
        if (cal.previousSession(next.date).date !== r.date) problems.push(`previousSession ${next.date}`);
        // Between two sessions the market is shut (or, for back-to-back CME sessions, the next one is open).
        if (r.close < next.open && cal.isOpen(r.close)) problems.push(`isOpen after close ${r.date}`);
      }
    });
    expect(problems).toEqual([]);
  });
});

describe('XNYS sessions outside the table', () => {
  it('has no session on dates the table marks as holidays', () => {
    const cal = getCalendar('XNYS');
    for (const d of ['2001-09-11', '2012-10-29', '2018-12-05', '2022-06-20', '2023-01-02'])
      expect(cal.session(d)).toBeUndefined();
  });
});
