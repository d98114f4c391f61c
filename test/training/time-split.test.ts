import { describe, expect, it } from 'vitest';
import { assignTimeSplits, type SplitInputRow } from '../../src/training/time-split.js';
import { splitSpecSchema } from '../../src/training/training-config.js';

const MIN = 60_000;
const row = (anchorMin: number, endMin: number, session = '2024-01-02'): SplitInputRow => ({
  anchor_ts: anchorMin * MIN,
  label_end_ts: endMin * MIN,
  session_date: session,
});

describe('assignTimeSplits', () => {
  it('cuts fractions of the anchor instants, purges overlapping labels and embargoes after each boundary', () => {
    // 20 anchors at minutes 1..20, labels two bars long, for two symbols.
    const one = Array.from({ length: 20 }, (_, i) => row(i + 1, i + 3));
    const rows = [...one, ...one];
    const res = assignTimeSplits(rows, splitSpecSchema.parse({ train: 0.5, validation: 0.25, test: 0.25, embargo_bars: 2 }));
    // Worked by hand: validation starts at anchor 11, test at anchor 16.
    //  train 1..10: anchor 10 ends at 12 > 11 -> purged; 9 ends at 11 -> kept.
    //  validation 11..15: 11, 12 embargoed; 15 ends at 17 > 16 -> purged.
    //  test 16..20: 16, 17 embargoed.
    const expected = [
      ...Array(9).fill('train'), null,
      null, null, 'validation', 'validation', null,
      null, null, 'test', 'test', 'test',
    ];
    expect(res.assignments).toEqual([...expected, ...expected]);
    expect(res.counts).toEqual({ train: 18, validation: 4, test: 6, purged: 4, embargoed: 8 });
    expect(res.validation_start_ts).toBe(11 * MIN);
    expect(res.test_start_ts).toBe(16 * MIN);
  });

  it('splits on session-date cutoffs and does not depend on row order', () => {
    const rows = [
      ...[1, 2, 3, 4].map((a) => row(a, a + 1, '2024-01-02')),
      row(5, 102, '2024-01-02'), // window runs into the next session
      ...[101, 102, 103, 104].map((a) => row(a, a + 1, '2024-01-03')),
      row(105, 202, '2024-01-03'),
      ...[201, 202, 203].map((a) => row(a, a + 1, '2024-01-04')),
    ];
    const spec = splitSpecSchema.parse({ validation_start: '2024-01-03', test_start: '2024-01-04' });
    const res = assignTimeSplits(rows, spec);
    expect(res.assignments).toEqual([
      'train', 'train', 'train', 'train', null,
      'validation', 'validation', 'validation', 'validation', null,
      'test', 'test', 'test',
    ]);
    expect(res.counts).toEqual({ train: 4, validation: 4, test: 3, purged: 2, embargoed: 0 });

    const order = rows.map((_, i) => i).reverse();
    const shuffled = assignTimeSplits(order.map((i) => rows[i]!), spec);
    expect(shuffled.assignments).toEqual(order.map((i) => res.assignments[i]));

    // Only a test cutoff: no validation split.
    const testOnly = assignTimeSplits(rows, splitSpecSchema.parse({ test_start: '2024-01-04' }));
    expect(testOnly.counts).toEqual({ train: 9, validation: 0, test: 3, purged: 1, embargoed: 0 });
    expect(testOnly.validation_start_ts).toBeNull();
  });
});
