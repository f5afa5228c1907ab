import { NoveltyDetector } from '../../src/detect/NoveltyDetector';
import { l2Normalized } from '../../src/detect/vectorMath';
import { Random } from '../../src/util/Random';

const D = 32;

function unit(rng: Random): Float32Array {
  return l2Normalized(Array.from({ length: D }, () => rng.normal()));
}

/** Points around a unit centre: noise 0.05 per dimension, so within-cluster cosine distance ~0.04. */
function around(centre: Float32Array, rng: Random): Float32Array {
  return l2Normalized(Array.from(centre, (c) => c + 0.05 * rng.normal()));
}

describe('NoveltyDetector', () => {
  test('score is the cosine distance to the k-th nearest neighbour (hand-worked)', () => {
    const det = new NoveltyDetector({ k: 2, minCalibration: 1, calibrationWindow: 10 });
    det.update([1, 0, 0]);
    det.update([0, 1, 0]);
    // Bank {e1, e2}: for e1 the neighbours are at distance 0 and 1, so the 2nd is 1.
    expect(det.score([1, 0, 0]).score).toBeCloseTo(1, 6);
    // (1,1,0)/sqrt2 has cosine 1/sqrt2 to both.
    expect(det.score([1, 1, 0]).score).toBeCloseTo(1 - Math.SQRT1_2, 6);
    // Scale does not matter: embeddings are normalised on the way in.
    expect(det.score([5, 5, 0]).score).toBeCloseTo(1 - Math.SQRT1_2, 6);
    // Opposite direction: distance 1 - (-1/sqrt2).
    expect(det.score([-1, -1, 0]).score).toBeCloseTo(1 + Math.SQRT1_2, 6);
  });

  test('warm-up: no novelty until the bank has k entries and the window enough scores', () => {
    const rng = new Random(1);
    const det = new NoveltyDetector({ k: 5, minCalibration: 20, calibrationWindow: 50 });
    const results = Array.from({ length: 40 }, () => det.update(unit(rng))); // every point "novel" in raw terms
    results.slice(0, 5).forEach((r) => expect(Number.isNaN(r.score)).toBe(true));
    // Score of update i (i >= 5) enters the window after use: window holds i - 5 scores at update i.
    results.slice(0, 25).forEach((r) => {
      expect(r.warm).toBe(false);
      expect(r.isNovel).toBe(false);
    });
    expect(results[25]!.warm).toBe(true);
  });

  test('points from a new cluster calibrate to ~1.0 and are novel; known clusters mostly are not', () => {
    const rng = new Random(7);
    const a = unit(rng);
    const b = unit(rng);
    const c = unit(rng);
    const det = new NoveltyDetector({ k: 5, capacity: 400, calibrationWindow: 300, minCalibration: 50, threshold: 0.99 });
    for (let i = 0; i < 400; i++) det.update(around(i % 2 ? a : b, rng));

    let falseAlarms = 0;
    for (let i = 0; i < 300; i++) if (det.update(around(i % 2 ? a : b, rng)).isNovel) falseAlarms++;
    // Exchangeable scores: P(calibrated >= 0.99) is ~1%.
    expect(falseAlarms / 300).toBeLessThan(0.04);

    const first = det.update(around(c, rng), { t: 1234 });
    expect(first.calibrated).toBe(1);
    expect(first.isNovel).toBe(true);
    expect(first.score).toBeGreaterThan(0.5);
    expect(first.event).toMatchObject({ type: 'novelty', t: 1234, calibrated: 1, threshold: 0.99 });

    // A new scene that stays becomes familiar once k of its frames are in the bank.
    const later = Array.from({ length: 10 }, () => det.update(around(c, rng)));
    expect(later.slice(0, 4).every((r) => r.isNovel)).toBe(true);
    expect(later.slice(5).every((r) => !r.isNovel)).toBe(true);
  });

  test('fifo forgets an old scene, reservoir keeps a sample of it', () => {
    const rng = new Random(3);
    const a = unit(rng);
    const b = unit(rng);
    const make = (policy: 'fifo' | 'reservoir') => {
      const det = new NoveltyDetector({ k: 3, capacity: 60, policy, seed: 11 });
      const r = new Random(5);
      for (let i = 0; i < 300; i++) det.update(around(a, r));
      for (let i = 0; i < 300; i++) det.update(around(b, r));
      return det.score(around(a, r)).score;
    };
    expect(make('fifo')).toBeGreaterThan(0.5); // only scene b left
    expect(make('reservoir')).toBeLessThan(0.1); // ~half the reservoir is still scene a
  });

  test('score() does not change the bank or the window', () => {
    const rng = new Random(2);
    const det = new NoveltyDetector({ k: 1 });
    for (let i = 0; i < 10; i++) det.update(unit(rng));
    const q = unit(rng);
    const before = det.score(q);
    det.score(q);
    expect(det.score(q)).toEqual(before);
    expect(det.bankSize).toBe(10);
    expect(det.calibrationSize).toBe(9);
  });

  describe('staleness policy', () => {
    test('entries older than maxTeacherStepLag are dropped before scoring, with their calibration scores', () => {
      const rng = new Random(4);
      const det = new NoveltyDetector({ k: 2, maxTeacherStepLag: 10, minCalibration: 5 });
      for (let i = 0; i < 20; i++) det.update(unit(rng), { teacherStep: 0 });
      const v5 = det.update(unit(rng), { teacherStep: 5 });
      expect(v5.bankSize).toBe(20);
      expect(v5.warm).toBe(true);
      expect(det.calibrationSize).toBe(19);
      // At version 11 everything computed at version 0 is out of the window; only the v5 entry remains.
      const v11 = det.update(unit(rng), { teacherStep: 11 });
      expect(v11.bankSize).toBe(1);
      expect(Number.isNaN(v11.score)).toBe(true);
      expect(v11.warm).toBe(false);
      expect(det.bankSize).toBe(2);
      expect(det.calibrationSize).toBe(1); // the v5 score survives, v0 ones do not
    });

    test('rebuild() replaces the bank and resets calibration; a version rewind resets everything', () => {
      const rng = new Random(5);
      const det = new NoveltyDetector({ k: 2, capacity: 50, minCalibration: 5 });
      for (let i = 0; i < 30; i++) det.update(unit(rng), { teacherStep: 100 });
      expect(det.calibrationSize).toBe(28);
      det.rebuild(Array.from({ length: 80 }, () => unit(rng)), 200);
      expect(det.bankSize).toBe(50); // the last `capacity` kept
      expect(det.calibrationSize).toBe(0);
      const r = det.update(unit(rng), { teacherStep: 200 });
      expect(r.warm).toBe(false); // needs fresh scores first
      expect(Number.isNaN(r.score)).toBe(false);

      const rewound = det.update(unit(rng), { teacherStep: 150 }); // checkpoint reloaded
      expect(rewound.bankSize).toBe(0);
      expect(det.bankSize).toBe(1);
      expect(det.calibrationSize).toBe(0);
    });

    test('without teacher versions nothing goes stale', () => {
      const rng = new Random(6);
      const det = new NoveltyDetector({ k: 2, maxTeacherStepLag: 0 });
      for (let i = 0; i < 30; i++) det.update(unit(rng));
      expect(det.bankSize).toBe(30);
    });
  });

  test('rejects a change of dimension', () => {
    const det = new NoveltyDetector();
    det.update([1, 0, 0]);
    expect(() => det.update([1, 0])).toThrow(/dimension 2, expected 3/);
  });
});

describe('NoveltyDetector rebuilt under a new teacher', () => {
  test('payloads follow the bank; calibrateFromBank fills the window with leave-one-out scores', () => {
    const d = new NoveltyDetector<number>({ k: 1, capacity: 4, calibrationWindow: 8, minCalibration: 3, threshold: 0.9 });
    const pts = [
      [1, 0],
      [0, 1],
      [-1, 0],
      [0, -1],
      [1, 1],
    ];
    pts.forEach((p, i) => d.update(p, { payload: i, teacherStep: 1 }));
    // FIFO capacity 4: the oldest (payload 0) was replaced by payload 4
    expect(new Set(d.bankPayloads())).toEqual(new Set([1, 2, 3, 4]));
    // new teacher: four unit vectors at 90 degrees; leave-one-out distance to the nearest other = 1 - cos 90 = 1
    d.rebuild([[1, 0], [0, 1], [-1, 0], [0, -1]], 2, { payloads: [1, 2, 3, 4], calibrateFromBank: true });
    expect(d.calibrationSize).toBe(4);
    expect(d.bankPayloads()).toEqual([1, 2, 3, 4]);
    // a point close to a bank entry scores below the calibration scores; a point far from all, at the top
    const near = d.update([1, 0.01], { teacherStep: 2 });
    expect(near.warm).toBe(true);
    expect(near.calibrated).toBe(0);
    expect(near.isNovel).toBe(false);
    expect(() => d.rebuild([[1, 0]], 3, { payloads: [] })).toThrow(/payloads/);
  });
});
