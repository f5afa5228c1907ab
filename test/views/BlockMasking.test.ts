import { BlockMasking } from '../../src/views/BlockMasking';
import { Random } from '../../src/util/Random';

describe('BlockMasking', () => {
  const masking = new BlockMasking({ probability: 0.5, ratio: [0.1, 0.5] });

  test('half the images masked, each at a ratio in its share of [0.1, 0.5], counts matching the masks', () => {
    const rng = new Random(3);
    for (let trial = 0; trial < 20; trial++) {
      const m = masking.sample(16, 8, rng);
      const sums = Array.from({ length: 16 }, (_, i) => m.mask.subarray(i * 64, (i + 1) * 64).reduce((a, v) => a + v, 0));
      expect(sums).toEqual(Array.from(m.counts));
      const masked = sums.filter((c) => c > 0);
      expect(masked).toHaveLength(8);
      // targets are floor(64 x U) in [6.4, 32]; a block can overshoot nothing and fall short only when none fits
      for (const c of masked) {
        expect(c).toBeGreaterThanOrEqual(4);
        expect(c).toBeLessThanOrEqual(32);
      }
      // stratified: the 8 targets fall one in each eighth of the range, so their mean is near 0.3 x 64
      const mean = masked.reduce((a, c) => a + c, 0) / 8;
      expect(mean).toBeGreaterThan(14);
      expect(mean).toBeLessThan(24);
    }
  });

  test('masks are blocks: almost every masked token has a masked 4-neighbour (a lone token only tops up a count)', () => {
    const m = masking.sample(64, 8, new Random(5));
    let isolated = 0;
    let total = 0;
    for (let img = 0; img < 64; img++) {
      const g = m.mask.subarray(img * 64, (img + 1) * 64);
      for (let i = 0; i < 8; i++) {
        for (let j = 0; j < 8; j++) {
          if (!g[i * 8 + j]) continue;
          total++;
          const nb = [[i - 1, j], [i + 1, j], [i, j - 1], [i, j + 1]].filter(([a, b]) => a! >= 0 && a! < 8 && b! >= 0 && b! < 8 && g[a! * 8 + b!]);
          if (nb.length === 0) isolated++;
        }
      }
    }
    expect(total).toBeGreaterThan(500);
    expect(isolated / total).toBeLessThan(0.02);
  });

  test('the same seed draws the same masks; probability 0 masks nothing', () => {
    expect(Array.from(masking.sample(8, 8, new Random(9)).mask)).toEqual(Array.from(masking.sample(8, 8, new Random(9)).mask));
    const none = new BlockMasking({ probability: 0, ratio: [0.1, 0.5] }).sample(8, 8, new Random(1));
    expect(none.mask.every((v) => v === 0)).toBe(true);
  });

  test('refuses a ratio range or probability outside [0, 1)', () => {
    expect(() => new BlockMasking({ probability: 1.5, ratio: [0.1, 0.5] })).toThrow(/probability/);
    expect(() => new BlockMasking({ probability: 0.5, ratio: [0.6, 0.5] })).toThrow(/ratio/);
  });
});
