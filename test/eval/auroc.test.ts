import { auroc, fprAtTpr } from '../../src/eval/auroc';
import { Random } from '../../src/util/Random';

function bruteAuroc(pos: number[], neg: number[]): number {
  let s = 0;
  for (const p of pos) for (const n of neg) s += p > n ? 1 : p === n ? 0.5 : 0;
  return s / (pos.length * neg.length);
}

describe('auroc', () => {
  test('known rankings', () => {
    expect(auroc([3, 4], [1, 2])).toBe(1);
    expect(auroc([1, 2], [3, 4])).toBe(0);
    expect(auroc([1, 1], [1, 1, 1])).toBe(0.5);
    // 0.9 beats all three negatives, 0.4 beats two of them: 5 of 6 pairs.
    expect(auroc([0.9, 0.4], [0.5, 0.3, 0.2])).toBeCloseTo(5 / 6, 12);
    // A tie counts half: (0.5 vs 0.5) = 0.5, (0.5 vs 0.1) = 1.
    expect(auroc([0.5], [0.5, 0.1])).toBe(0.75);
  });

  test('matches the pairwise definition on random data with many ties', () => {
    const rng = new Random(1);
    for (let t = 0; t < 20; t++) {
      const pos = Array.from({ length: 1 + rng.int(40) }, () => rng.int(6));
      const neg = Array.from({ length: 1 + rng.int(40) }, () => rng.int(6) - 1);
      expect(auroc(pos, neg)).toBeCloseTo(bruteAuroc(pos, neg), 12);
    }
  });

  test('errors on empty or NaN input', () => {
    expect(() => auroc([], [1])).toThrow();
    expect(() => auroc([NaN], [1])).toThrow(/NaN/);
  });
});

describe('fprAtTpr', () => {
  test('known rankings', () => {
    const pos = Array.from({ length: 20 }, (_, i) => i + 1); // 1..20
    // TPR 0.95 needs 19 of 20 positives: threshold 2; negatives >= 2 are 2 and 3.
    expect(fprAtTpr(pos, [0, 1, 1.5, 2, 3])).toBeCloseTo(0.4, 12);
    expect(fprAtTpr(pos, [0, 0.5])).toBe(0); // separable
    expect(fprAtTpr([1, 2], [5, 6])).toBe(1);
    // TPR 1.0 needs the lowest positive: threshold 1, negatives >= 1: one of four.
    expect(fprAtTpr([1, 3, 4], [0, 1, 0.5, 0.2], 1)).toBe(0.25);
  });

  test('ties at the threshold are flagged together', () => {
    expect(fprAtTpr([1, 1, 1, 1], [1, 0], 0.5)).toBe(0.5);
  });
});
