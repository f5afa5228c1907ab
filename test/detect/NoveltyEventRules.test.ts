import { NoveltyDetector, type NoveltyResult } from '../../src/detect/NoveltyDetector';
import { NoveltyEventRules } from '../../src/detect/NoveltyEventRules';
import { Random } from '../../src/util/Random';
import { createNoveltyRules } from '../../src/detect/detectorFactory';
import { configSchema } from '../../config/schema';
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

  test('the margin is a fraction of the percentile\'s score: the same decision at every scale of scores', () => {
    const rules = new NoveltyEventRules({ warmupMs: 0, margin: 1, cooldownMs: 0 });
    for (const scale of [1, 1e-3]) {
      expect(rules.admit(flagged(0.0059 * scale, 0.003 * scale), 0)).toEqual({ publish: false, suppressed: 'margin' });
      expect(rules.admit(flagged(0.0061 * scale, 0.003 * scale), 1)).toEqual({ publish: true });
    }
    // a window of identical frames (percentile's score 0): float32 rounding of a cosine distance is not an event
    expect(rules.admit(flagged(1.5e-6, 0), 2)).toEqual({ publish: false, suppressed: 'margin' });
    expect(rules.admit(flagged(2.5e-6, 0), 3)).toEqual({ publish: true });
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

/**
 * A camera at 5 fps: 10 minutes of one still scene (its frames differ only by sensor noise), then a second scene.
 * Embeddings share a common direction; `spread` scales how far frames and scenes lie from it, as a trained teacher
 * maps a scene's frames closer together (spread 0.1: cosine distances ~100x smaller).
 */
function sceneChange(spread: number): { flagged: number[]; published: number[]; changeFrame: number; changeScore: number } {
  const rng = new Random(7);
  const dim = 32;
  const common = Array.from({ length: dim }, () => rng.normal());
  const offsetB = Array.from({ length: dim }, (_, j) => (j < 4 ? 1 : 0));
  const det = new NoveltyDetector({ k: 5, capacity: 512, calibrationWindow: 512, threshold: 0.995 });
  const rules = createNoveltyRules(configSchema.parse({}).detect); // the agent's defaults
  const changeFrame = 3000;
  const flagged: number[] = [];
  const published: number[] = [];
  let changeScore = NaN;
  for (let i = 0; i < changeFrame + 150; i++) {
    const offset = i < changeFrame ? 0 : 1;
    const r = det.update(common.map((v, j) => v + spread * (offset * offsetB[j]! + 0.05 * rng.normal())));
    if (i === changeFrame) changeScore = r.score;
    if (r.isNovel) flagged.push(i);
    if (rules.admit(r, i * 200).publish) published.push(i);
  }
  return { flagged, published, changeFrame, changeScore };
}

describe('novelty events on a still scene and at a scene change', () => {
  test('the percentile alone fires on the still scene; with the rules the only event is the change, at its first frame', () => {
    const { flagged, published, changeFrame } = sceneChange(1);
    // ~0.5% of the frames pass the 99.5th percentile where nothing changes
    expect(flagged.filter((i) => i < changeFrame).length).toBeGreaterThanOrEqual(5);
    expect(published).toEqual([changeFrame]);
  });

  test('a teacher whose scores are ~100x smaller gets the same events, where an absolute margin of 0.05 misses the change', () => {
    const wide = sceneChange(1);
    const tight = sceneChange(0.1);
    expect(tight.changeScore / wide.changeScore).toBeLessThan(0.02);
    expect(tight.changeScore).toBeLessThan(0.05);
    expect(tight.flagged.filter((i) => i < tight.changeFrame).length).toBeGreaterThanOrEqual(5);
    expect(tight.published).toEqual([tight.changeFrame]);
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
