import * as tf from '@tensorflow/tfjs';
import { Random } from '../../src/util/Random';
import { framesToTensor } from '../../src/views/framesToTensor';
import { CropBox, RandomResizedCrop } from '../../src/views/RandomResizedCrop';
import { RandomHorizontalFlip } from '../../src/views/RandomHorizontalFlip';
import { BACKENDS, cifarFrames, maxAbsDiff, noLeak, sliceData, useBackend } from './helpers';

const RATIO: [number, number] = [3 / 4, 4 / 3];

beforeAll(() => useBackend('cpu'));

describe('RandomResizedCrop.getParams (torchvision get_params)', () => {
  test.each([
    [[0.4, 1] as [number, number], 96, 96],
    [[0.05, 0.4] as [number, number], 96, 96],
    [[0.05, 0.4] as [number, number], 40, 120],
  ])('scale %j on %ix%i: area and ratio in range (up to rounding), inside the image', async (scale, h, w) => {
    await noLeak(() => {
      const rng = new Random(7);
      let fallbacks = 0;
      for (let k = 0; k < 2000; k++) {
        const b = RandomResizedCrop.getParams(h, w, scale, RATIO, rng);
        expect(Number.isInteger(b.top) && Number.isInteger(b.left) && Number.isInteger(b.width) && Number.isInteger(b.height)).toBe(true);
        expect(b.top).toBeGreaterThanOrEqual(0);
        expect(b.left).toBeGreaterThanOrEqual(0);
        expect(b.top + b.height).toBeLessThanOrEqual(h);
        expect(b.left + b.width).toBeLessThanOrEqual(w);
        if (b.fallback) {
          fallbacks++;
          continue;
        }
        // w and h are rounded from real values within 0.5, whose area and ratio are in range.
        const area = h * w;
        expect((b.width + 0.5) * (b.height + 0.5)).toBeGreaterThanOrEqual(scale[0] * area);
        expect((b.width - 0.5) * (b.height - 0.5)).toBeLessThanOrEqual(scale[1] * area);
        expect((b.width + 0.5) / (b.height - 0.5)).toBeGreaterThanOrEqual(RATIO[0]);
        expect((b.width - 0.5) / (b.height + 0.5)).toBeLessThanOrEqual(RATIO[1]);
      }
      // A 40x120 image is mostly too flat for ratios <= 4/3 at large scales, but these scales fit often.
      expect(fallbacks).toBeLessThan(2000);
    });
  });

  test('fallback: central crop with the ratio clamped, as torchvision', () => {
    // Wider than 4/3: full height, w = round(h * 4/3), centred.
    expect(RandomResizedCrop.fallbackBox(30, 100, RATIO)).toEqual({ top: 0, left: 30, height: 30, width: 40, fallback: true });
    // Taller than 3/4: full width, h = round(w / (3/4)), centred.
    expect(RandomResizedCrop.fallbackBox(100, 30, RATIO)).toEqual({ top: 30, left: 0, height: 40, width: 30, fallback: true });
    // Ratio within range: the whole image.
    expect(RandomResizedCrop.fallbackBox(50, 60, RATIO)).toEqual({ top: 0, left: 0, height: 50, width: 60, fallback: true });
    // Scale > 1 can never fit in 10 attempts: always the fallback.
    const b = RandomResizedCrop.getParams(10, 100, [2, 3], RATIO, new Random(1));
    expect(b).toEqual(RandomResizedCrop.fallbackBox(10, 100, RATIO));
    // Python rounds half to even: 3 * 4/3 * ... use a case with an exact .5: h = 9, ratio max 1.5 -> 13.5 -> 14.
    expect(RandomResizedCrop.fallbackBox(9, 100, [0.5, 1.5]).width).toBe(14);
    expect(RandomResizedCrop.fallbackBox(5, 100, [0.5, 1.5]).width).toBe(8); // 7.5 -> 8
    expect(RandomResizedCrop.fallbackBox(3, 100, [0.5, 1.5]).width).toBe(4); // 4.5 -> 4
  });
});

/** torch's resized_crop (bilinear, align_corners=False, no antialias): crop, then resize, edges clamped. */
function referenceCrop(img: Float32Array, h: number, w: number, b: CropBox, size: number): Float32Array {
  const out = new Float32Array(size * size * 3);
  const src = (y: number, x: number, c: number) => img[((b.top + y) * w + (b.left + x)) * 3 + c]!;
  for (let oy = 0; oy < size; oy++) {
    const sy = Math.min(Math.max((oy + 0.5) * (b.height / size) - 0.5, 0), b.height - 1);
    const y0 = Math.floor(sy);
    const y1 = Math.min(y0 + 1, b.height - 1);
    const fy = sy - y0;
    for (let ox = 0; ox < size; ox++) {
      const sx = Math.min(Math.max((ox + 0.5) * (b.width / size) - 0.5, 0), b.width - 1);
      const x0 = Math.floor(sx);
      const x1 = Math.min(x0 + 1, b.width - 1);
      const fx = sx - x0;
      for (let c = 0; c < 3; c++) {
        const top = src(y0, x0, c) * (1 - fx) + src(y0, x1, c) * fx;
        const bot = src(y1, x0, c) * (1 - fx) + src(y1, x1, c) * fx;
        out[(oy * size + ox) * 3 + c] = top * (1 - fy) + bot * fy;
      }
    }
  }
  return out;
}

describe.each(BACKENDS)('RandomResizedCrop on %s', (backend) => {
  beforeAll(() => useBackend(backend));

  test('matches torch resized_crop where the rules coincide; a full-size box is a copy', async () => {
    const frames = await cifarFrames(3);
    await noLeak(async () => {
      const images = framesToTensor(frames);
      const img0 = await sliceData(images, [0, 0, 0, 0], [1, 32, 32, 3]);
      // [box, size, rows/cols at each edge to skip]. Identity; downscales anywhere; upscaling the whole image
      // (edge padding == torch's clamp). Upscaling an interior box differs from torch only in the outer
      // output ring, whose samples fall within half a pixel outside the box: torch repeats the box edge, we
      // read the true neighbour.
      const cases: [CropBox, number, number][] = [
        [{ top: 0, left: 0, height: 32, width: 32, fallback: false }, 32, 0],
        [{ top: 5, left: 3, height: 20, width: 24, fallback: false }, 16, 0],
        [{ top: 0, left: 0, height: 32, width: 32, fallback: false }, 48, 0],
        [{ top: 9, left: 8, height: 12, width: 10, fallback: false }, 24, 1],
      ];
      for (const [box, size, skip] of cases) {
        const crop = new RandomResizedCrop({ size });
        const out = crop.apply(images, [box, box, box]);
        expect(out.shape).toEqual([3, size, size, 3]);
        const inner = size - 2 * skip;
        const got = await sliceData(out, [0, skip, skip, 0], [1, inner, inner, 3]);
        const ref = tf.tidy(() => tf.tensor4d(referenceCrop(img0, 32, 32, box, size), [1, size, size, 3]).slice([0, skip, skip, 0], [1, inner, inner, 3]));
        expect(maxAbsDiff(got, await ref.data())).toBeLessThan(2e-6);
        tf.dispose([out, ref]);
      }
      tf.dispose(images);
    });
  });

  test('flip folded into the box (x1 > x2) gives the exact mirror of the unflipped crop', async () => {
    const frames = await cifarFrames(4);
    await noLeak(async () => {
      const images = framesToTensor(frames);
      const crop = new RandomResizedCrop({ size: 24, scale: [0.3, 1] });
      const boxes = crop.sample(4, 32, 32, new Random(3));
      const plain = crop.apply(images, boxes);
      const flipped = crop.apply(images, boxes, [1, 0, 1, 1]);
      const mirrored = tf.reverse(plain, 2);
      const [f, m, p] = await Promise.all([flipped.data(), mirrored.data(), plain.data()]);
      const per = 24 * 24 * 3;
      for (const i of [0, 2, 3]) expect(maxAbsDiff(f.subarray(i * per, (i + 1) * per), m.subarray(i * per, (i + 1) * per))).toBeLessThan(1e-5);
      expect(maxAbsDiff(f.subarray(per, 2 * per), p.subarray(per, 2 * per))).toBe(0);
      // A real image is not symmetric: the flip changed something.
      expect(maxAbsDiff(f.subarray(0, per), p.subarray(0, per))).toBeGreaterThan(0.05);
      // The stand-alone flip agrees with the folded one.
      const standalone = new RandomHorizontalFlip().apply(plain, [1, 0, 1, 1]);
      expect(maxAbsDiff(await standalone.data(), f)).toBeLessThan(1e-5);
      tf.dispose([images, plain, flipped, mirrored, standalone]);
    });
  });
});
