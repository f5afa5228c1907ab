import * as tf from '@tensorflow/tfjs';
import { Random } from '../../src/util/Random';
import { DataAugmentationDINO } from '../../src/views/DataAugmentationDINO';
import { GaussianBlur } from '../../src/views/GaussianBlur';
import { BACKENDS, maxAbsDiff, noLeak, take, useBackend } from './helpers';

/** Straightforward separable blur of one [h,w,c] image, half-sample symmetric borders, 3-sigma radius. */
function referenceBlur(img: Float32Array, h: number, w: number, c: number, sigma: number, radius: number): Float32Array {
  const k = GaussianBlur.kernel1d(sigma, radius);
  const refl = (i: number, n: number) => (i < 0 ? -i - 1 : i >= n ? 2 * n - i - 1 : i);
  const tmp = new Float64Array(img.length);
  const out = new Float32Array(img.length);
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) for (let ch = 0; ch < c; ch++) {
    let s = 0;
    for (let d = -radius; d <= radius; d++) s += k[d + radius]! * img[(refl(y + d, h) * w + x) * c + ch]!;
    tmp[(y * w + x) * c + ch] = s;
  }
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) for (let ch = 0; ch < c; ch++) {
    let s = 0;
    for (let d = -radius; d <= radius; d++) s += k[d + radius]! * tmp[(y * w + refl(x + d, w)) * c + ch]!;
    out[(y * w + x) * c + ch] = s;
  }
  return out;
}

function variance(a: ArrayLike<number>, from: number, to: number): number {
  let s = 0;
  let s2 = 0;
  for (let i = from; i < to; i++) {
    s += a[i]!;
    s2 += a[i]! * a[i]!;
  }
  const m = s / (to - from);
  return s2 / (to - from) - m * m;
}

describe('GaussianBlur parameters', () => {
  test('sigma range scales with the crop size (DINO: 0.1..2 px at 224)', () => {
    expect(GaussianBlur.forCropSize(224, 1).sigma).toEqual([0.1, 2.0]);
    const g = GaussianBlur.forCropSize(64, 0.5).sigma;
    expect(g[0]).toBeCloseTo((0.1 * 64) / 224, 12);
    expect(g[1]).toBeCloseTo((2.0 * 64) / 224, 12);
    const aug = new DataAugmentationDINO({ globalSize: 64, localSize: 32, nLocal: 2, seed: 1 });
    expect(aug.views.map((v) => v.blur.p)).toEqual([1, 0.1, 0.5, 0.5]);
    expect(aug.views[0]!.blur.sigma[1]).toBeCloseTo((2 * 64) / 224, 12);
    expect(aug.views[2]!.blur.sigma[1]).toBeCloseTo((2 * 32) / 224, 12);
  });

  test('sample: coin then sigma in range', () => {
    const blur = new GaussianBlur({ p: 0.5, sigma: [0.2, 0.4] });
    const s = blur.sample(4000, new Random(9));
    const on = s.filter((v) => v > 0);
    expect(on.length / 4000).toBeCloseTo(0.5, 1);
    expect(Math.min(...on)).toBeGreaterThanOrEqual(0.2 - 1e-7);
    expect(Math.max(...on)).toBeLessThanOrEqual(0.4 + 1e-7);
    expect(new GaussianBlur({ p: 1, sigma: [0.2, 0.4] }).sample(100, new Random(1)).every((v) => v > 0)).toBe(true);
  });
});

describe.each(BACKENDS)('GaussianBlur on %s', (backend) => {
  beforeAll(() => useBackend(backend));

  test.each([
    ['2-D kernel path (radius <= 2)', [0.6, 0, 0.3, 0.15]],
    ['separable path (radius > 2)', [1.5, 0.4, 0, 0.9]],
  ])('%s: per-image sigma matches a reference blur', async (_name, sigmas) => {
    await noLeak(async () => {
      const h = 12;
      const w = 10;
      const rng = new Random(4);
      const data = Float32Array.from({ length: 4 * h * w * 3 }, () => rng.next());
      const x = tf.tensor4d(data, [4, h, w, 3]);
      const out = await take(new GaussianBlur({ p: 1, sigma: [0, 2] }).apply(x, sigmas));
      const radius = Math.ceil(3 * Math.max(...sigmas));
      const per = h * w * 3;
      sigmas.forEach((s, i) => {
        const ref = referenceBlur(data.subarray(i * per, (i + 1) * per), h, w, 3, s, radius);
        expect(maxAbsDiff(out.subarray(i * per, (i + 1) * per), ref)).toBeLessThan(1e-5);
      });
      // sigma 0 = not blurred: bit-exact
      const zero = sigmas.indexOf(0);
      expect(maxAbsDiff(out.subarray(zero * per, (zero + 1) * per), data.subarray(zero * per, (zero + 1) * per))).toBe(0);
      x.dispose();
    });
  });

  test('tiny sigma ~ identity; constant image keeps its mean; noise variance drops', async () => {
    await noLeak(async () => {
      const rng = new Random(2);
      const n = 16 * 16 * 3;
      const noise = Float32Array.from({ length: 2 * n }, () => rng.next());
      noise.fill(0.37, n); // image 1: constant
      const x = tf.tensor4d(noise, [2, 16, 16, 3]);
      const blur = new GaussianBlur({ p: 1, sigma: [0, 2] });
      const tiny = await take(blur.apply(x, [0.05, 0.05]));
      expect(maxAbsDiff(tiny, noise)).toBeLessThan(1e-6);
      const strong = await take(blur.apply(x, [1.0, 1.0]));
      expect(variance(strong, 0, n)).toBeLessThan(0.3 * variance(noise, 0, n));
      expect(maxAbsDiff(strong.subarray(n), noise.subarray(n))).toBeLessThan(1e-6);
      x.dispose();
    });
  });
});
