import { NoveltyDetector, type NoveltyResult } from '../../src/detect/NoveltyDetector';
import { NoveltyEventRules } from '../../src/detect/NoveltyEventRules';
import { scoreNoveltyEvents } from '../../src/eval/eventsEval';

/** A result the detector flagged, with the score and the score at the threshold's percentile. */
const flagged = (score: number, thresholdScore: number): NoveltyResult => ({
  score,
  calibrated: 1,
  isNovel: true,
  threshold: 0.995,
  thresholdScore,
  warm: true,
  bankSize: 512,
});
const quiet: NoveltyResult = { score: 0.01, calibrated: 0.5, isNovel: false, threshold: 0.995, warm: true, bankSize: 512 };

describe('NoveltyEventRules', () => {
  test('nothing during the warm-up, counted from the stream\'s first frame', () => {
    const rules = new NoveltyEventRules({ warmupMs: 60_000, margin: 0, cooldownMs: 0 });
    expect(rules.admit(quiet, 1_000)).toEqual({ publish: false });
    expect(rules.admit(flagged(0.5, 0.1), 60_999)).toEqual({ publish: false, suppressed: 'warmup' });
    expect(rules.admit(flagged(0.5, 0.1), 61_000)).toEqual({ publish: true });
  });

  test('the margin: a flagged score within it of the percentile\'s score is suppressed, beyond it published', () => {
    const rules = new NoveltyEventRules({ warmupMs: 0, margin: 0.05, cooldownMs: 0 });
    // a still scene under a random teacher: every score tiny, the top percentile too
    expect(rules.admit(flagged(0.004, 0.003), 0)).toEqual({ publish: false, suppressed: 'margin' });
    expect(rules.admit(flagged(0.0529, 0.003), 1)).toEqual({ publish: false, suppressed: 'margin' });
    expect(rules.admit(flagged(0.0531, 0.003), 2)).toEqual({ publish: true });
  });

  test('the cooldown: one event per cooldown per stream, the next after it', () => {
    const rules = new NoveltyEventRules({ warmupMs: 0, margin: 0, cooldownMs: 30_000 });
    expect(rules.admit(flagged(0.5, 0.1), 10_000).publish).toBe(true);
    expect(rules.admit(flagged(0.5, 0.1), 39_999)).toEqual({ publish: false, suppressed: 'cooldown' });
    expect(rules.admit(flagged(0.5, 0.1), 40_000).publish).toBe(true);
    rules.reset();
    expect(rules.admit(flagged(0.5, 0.1), 41_000).publish).toBe(true);
  });

  test('a negative setting is refused by name', () => {
    expect(() => new NoveltyEventRules({ warmupMs: 0, margin: -1, cooldownMs: 0 })).toThrow(/margin must be >= 0/);
  });
});

describe('NoveltyDetector threshold score', () => {
  test('a flagged frame carries the window\'s score at the threshold percentile (nearest rank)', () => {
    const det = new NoveltyDetector({ k: 1, capacity: 64, calibrationWindow: 10, minCalibration: 10, threshold: 0.9 });
    // unit vectors at growing angles on a circle: each new one is 1 - cos(step) from its neighbour
    const at = (a: number) => [Math.cos(a), Math.sin(a)];
    for (let i = 0; i <= 10; i++) det.update(at(i * 0.01));
    const q = det.quantile(0.9);
    // the window holds ten scores of 1 - cos(0.01); the 9th of 10 is that value
    expect(q).toBeCloseTo(1 - Math.cos(0.01), 7); // float32 embeddings
    const far = det.update(at(1.5));
    expect(far.isNovel).toBe(true);
    expect(far.thresholdScore).toBeCloseTo(q, 12);
  });
});

describe('scoreNoveltyEvents', () => {
  test('the first event in a window after a change is its delay; events elsewhere are false, per hour of the rest', () => {
    // 600 s of stream, changes at 200 s and 400 s, 30 s windows: 540 s where nothing changes
    const s = scoreNoveltyEvents([50, 203, 210, 250, 460], [200, 400], 30, 600, 'test');
    expect(s.delays_s).toEqual([3, null]);
    expect(s.detected).toBe(1);
    expect(s.false_events).toBe(3); // 50, 250, 460
    expect(s.false_per_hour).toBeCloseTo((3600 * 3) / 540, 9);
  });
});
