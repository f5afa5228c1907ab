import * as tf from '@tensorflow/tfjs';
import { Random } from '../../src/util/Random';
import { ColorJitter, GRAY_WEIGHTS, hueMatrix } from '../../src/views/ColorJitter';
import { framesToTensor } from '../../src/views/framesToTensor';
import { Normalize } from '../../src/views/Normalize';
import { RandomGrayscale } from '../../src/views/RandomGrayscale';
import { Solarize } from '../../src/views/Solarize';
import { BACKENDS, cifarFrames, maxAbsDiff, noLeak, take, useBackend } from './helpers';

const per = 32 * 32 * 3;

/** HSV hue in turns, in [0, 1). */
function hsvHue(r: number, g: number, b: number): number {
  const mx = Math.max(r, g, b);
  const d = mx - Math.min(r, g, b);
  if (d === 0) return 0;
  const h = mx === r ? ((g - b) / d) % 6 : mx === g ? (b - r) / d + 2 : (r - g) / d + 4;
  return (h / 6 + 1) % 1;
}
const meanOf = (a: ArrayLike<number>, from: number, to: number) => {
  let s = 0;
  for (let i = from; i < to; i++) s += a[i]!;
  return s / (to - from);
};

describe.each(BACKENDS)('colour transforms on %s', (backend) => {
  let images: tf.Tensor4D;
  beforeAll(async () => {
    await useBackend(backend);
    images = framesToTensor(await cifarFrames(4));
  });
  afterAll(() => images.dispose());

  test('ColorJitter: identity factors (and p = 0) leave images bit-exact', async () => {
    await noLeak(async () => {
      const jitter = new ColorJitter({ p: 0 });
      const params = jitter.sample(4, new Random(1));
      expect(params).toEqual(ColorJitter.identity(4));
      const out = jitter.apply(images, params);
      const viaMatmul = jitter.apply(images, params, RandomGrayscale.matrices([0, 0, 0, 0]));
      const x = await images.data();
      expect(maxAbsDiff(await out.data(), x)).toBe(0);
      expect(maxAbsDiff(await viaMatmul.data(), x)).toBe(0);
      tf.dispose([out, viaMatmul]);
    });
  });

  test('ColorJitter: brightness scales the mean; contrast keeps mean luma; saturation 0 is gray; per image', async () => {
    await noLeak(async () => {
      const dim = tf.mul(images, 0.5) as tf.Tensor4D; // headroom so that x1.4 does not clip
      const p = ColorJitter.identity(4);
      p.brightness.set([1.4, 0.6, 1, 1.2]);
      const bright = await take(new ColorJitter().apply(dim, p));
      const x = await dim.data();
      [1.4, 0.6, 1, 1.2].forEach((f, i) => {
        expect(meanOf(bright, i * per, (i + 1) * per)).toBeCloseTo(f * meanOf(x, i * per, (i + 1) * per), 5);
      });
      const q = ColorJitter.identity(4);
      q.contrast.set([0.6, 0, 1, 1]);
      q.saturation.set([1, 1, 0, 1]);
      const out = await take(new ColorJitter().apply(dim, q));
      const luma = (a: ArrayLike<number>, i: number) => GRAY_WEIGHTS[0] * a[i]! + GRAY_WEIGHTS[1] * a[i + 1]! + GRAY_WEIGHTS[2] * a[i + 2]!;
      let lumaIn = 0;
      let lumaOut = 0;
      let worst = 0;
      for (let j = 0; j < per; j += 3) {
        lumaIn += luma(x, j);
        lumaOut += luma(out, j);
        // contrast 0 -> every pixel is the mean luma of image 1
        worst = Math.max(worst, Math.abs(out[per + j]! - out[per]!));
        // saturation 0 -> image 2 is its own luma in all channels
        for (let ch = 0; ch < 3; ch++) worst = Math.max(worst, Math.abs(out[2 * per + j + ch]! - luma(x, 2 * per + j)));
      }
      expect(worst).toBeLessThan(1e-5);
      expect(lumaOut / (per / 3)).toBeCloseTo(lumaIn / (per / 3), 5);
      expect(maxAbsDiff(out.subarray(3 * per), x.subarray(3 * per))).toBe(0);
      dim.dispose();
    });
  });

  test('ColorJitter hue (YIQ rotation): 0 is identity, keeps luma, turns red towards yellow like HSV', async () => {
    expect(hueMatrix(0)).toEqual([1, 0, 0, 0, 1, 0, 0, 0, 1]);
    await noLeak(async () => {
      const px = tf.tensor4d([0.7, 0.3, 0.3, 0.4, 0.5, 0.3], [2, 1, 1, 3]);
      const p = ColorJitter.identity(2);
      p.hue.set([0.1, -0.05]);
      const out = await take(new ColorJitter().apply(px, p));
      // The hue angle (HSV) moves the way torchvision's would, by roughly the same amount.
      expect(hsvHue(out[0]!, out[1]!, out[2]!) - hsvHue(0.7, 0.3, 0.3)).toBeGreaterThan(0.06);
      expect(hsvHue(out[0]!, out[1]!, out[2]!) - hsvHue(0.7, 0.3, 0.3)).toBeLessThan(0.15);
      expect(hsvHue(out[3]!, out[4]!, out[5]!) - hsvHue(0.4, 0.5, 0.3)).toBeLessThan(-0.02);
      expect(hsvHue(out[3]!, out[4]!, out[5]!) - hsvHue(0.4, 0.5, 0.3)).toBeGreaterThan(-0.08);
      const luma = (r: number, g: number, b: number) => GRAY_WEIGHTS[0] * r + GRAY_WEIGHTS[1] * g + GRAY_WEIGHTS[2] * b;
      expect(luma(out[0]!, out[1]!, out[2]!)).toBeCloseTo(luma(0.7, 0.3, 0.3), 5);
      expect(luma(out[3]!, out[4]!, out[5]!)).toBeCloseTo(luma(0.4, 0.5, 0.3), 5);
      px.dispose();
    });
  });

  test('RandomGrayscale: equal channels = 0.299R + 0.587G + 0.114B; other images untouched', async () => {
    await noLeak(async () => {
      const out = await take(new RandomGrayscale().apply(images, [1, 0, 1, 0]));
      const x = await images.data();
      let unequal = 0;
      let worst = 0;
      for (const i of [0, 2]) {
        for (let j = i * per; j < (i + 1) * per; j += 3) {
          if (out[j] !== out[j + 1] || out[j] !== out[j + 2]) unequal++;
          worst = Math.max(worst, Math.abs(out[j]! - (0.299 * x[j]! + 0.587 * x[j + 1]! + 0.114 * x[j + 2]!)));
        }
      }
      expect(unequal).toBe(0);
      expect(worst).toBeLessThan(1e-6);
      for (const i of [1, 3]) expect(maxAbsDiff(out.subarray(i * per, (i + 1) * per), x.subarray(i * per, (i + 1) * per))).toBe(0);
      const flags = new RandomGrayscale(0.2).sample(10000, new Random(5));
      expect(flags.reduce((a, b) => a + b, 0) / 10000).toBeCloseTo(0.2, 1);
    });
  });

  test('Solarize: values >= 0.5 become exactly 1 - v, others and unselected images untouched', async () => {
    await noLeak(async () => {
      const out = await take(new Solarize().apply(images, [1, 0, 0, 1]));
      const x = await images.data();
      let inverted = 0;
      let wrong = 0;
      for (let j = 0; j < x.length; j++) {
        const img = Math.floor(j / per);
        const want = (img === 0 || img === 3) && x[j]! >= 0.5 ? Math.fround(1 - x[j]!) : x[j]!;
        if (want !== x[j]) inverted++;
        if (out[j] !== want) wrong++;
      }
      expect(wrong).toBe(0);
      expect(inverted).toBeGreaterThan(100);
    });
  });

  test('Normalize: (x - mean) / std per channel', async () => {
    await noLeak(async () => {
      const norm = new Normalize();
      const out = await take(norm.apply(images));
      const x = await images.data();
      const ref = Float32Array.from(x, (v, j) => (v - norm.mean[j % 3]!) / norm.std[j % 3]!);
      expect(maxAbsDiff(out, ref)).toBeLessThan(1e-5);
      const { min, max } = norm.range();
      expect(min[0]).toBeCloseTo(-0.485 / 0.229, 6);
      expect(max[2]).toBeCloseTo((1 - 0.406) / 0.225, 6);
    });
  });
});
