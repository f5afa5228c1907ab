import { driftSeedSweepTable, parseSeedList, summariseDriftSeeds } from '../../src/eval/DriftSeedSweep';
import type { DriftEvalReport } from '../../src/eval/driftEval';

/** Only the fields the sweep reads; the rest of a report does not enter the summary. */
const run = (false_events: number, delay_s: number | null) => ({ false_events, delay_s }) as DriftEvalReport;

describe('DriftSeedSweep', () => {
  test('summary: false-event runs and mean, median delay over the detected runs, misses', () => {
    const s = summariseDriftSeeds([0, 1, 2, 3, 4], [run(0, 3.2), run(1, 5.2), run(0, 3.2), run(2, null), run(0, 8.2)]);
    expect(s.runs_with_false_events).toBe(2);
    expect(s.false_events).toBeCloseTo(3 / 5, 12);
    expect(s.missed).toBe(1);
    expect(s.delay_s).toBeCloseTo((3.2 + 5.2) / 2, 12); // detected: 3.2, 3.2, 5.2, 8.2 -> even count, mean of the middle two
    expect(s.per_seed[3]).toEqual({ seed: 3, false_events: 2, delay_s: null });
    expect(summariseDriftSeeds([7], [run(0, 2.2)]).delay_s).toBe(2.2);
    expect(summariseDriftSeeds([7, 8], [run(0, null), run(1, null)]).delay_s).toBeNull();
  });

  test('summary refuses a report count that does not match the seeds', () => {
    expect(() => summariseDriftSeeds([0, 1], [run(0, 1)])).toThrow(/one report per seed, got 2 seeds and 1 reports/);
    expect(() => summariseDriftSeeds([], [])).toThrow(/one report per seed/);
  });

  test('table: one row per seed and the summary line', () => {
    const t = driftSeedSweepTable(summariseDriftSeeds([0, 1], [run(0, 3.2), run(1, null)]));
    expect(t).toContain('| 0 | 0 | 3.2 |');
    expect(t).toContain('| 1 | 1 | missed |');
    expect(t).toContain('runs with false events 1/2 (mean 0.50 per run); median delay 3.2 s; first switch missed in 1');
  });

  test('seed lists: ranges, commas, and clear refusals', () => {
    expect(parseSeedList('0-4')).toEqual([0, 1, 2, 3, 4]);
    expect(parseSeedList('3, 0,7-8')).toEqual([3, 0, 7, 8]);
    expect(() => parseSeedList('4-1')).toThrow(/range 4-1 runs backwards/);
    expect(() => parseSeedList('1,1')).toThrow(/seed 1 is listed twice/);
    expect(() => parseSeedList('a')).toThrow(/^--seeds must be whole numbers or ranges/);
    expect(() => parseSeedList('-1')).toThrow(/^--seeds must be whole numbers/);
    expect(() => parseSeedList('0-200')).toThrow(/at most 100 seeds, got 201/);
  });
});
