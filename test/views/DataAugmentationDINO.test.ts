import * as tf from '@tensorflow/tfjs';
import type { Frame } from '../../streams/Frame';
import { DataAugmentationDINO } from '../../src/views/DataAugmentationDINO';
import { framesToTensor } from '../../src/views/framesToTensor';
import { BACKENDS, cifarFrames, maxAbsDiff, noLeak, useBackend } from './helpers';

const OPTS = { globalSize: 24, localSize: 12, nLocal: 3 };

async function viewsData(seed: number, frames: Frame[]): Promise<Float32Array[]> {
  const aug = new DataAugmentationDINO({ ...OPTS, seed });
  const images = framesToTensor(frames);
  const views = aug.apply(images);
  const out = await Promise.all(views.map(async (v) => (await v.data()) as Float32Array));
  tf.dispose([images, ...views]);
  return out;
}

let frames: Frame[];
beforeAll(async () => {
  frames = await cifarFrames(6);
});

describe('framesToTensor', () => {
  beforeAll(() => useBackend('cpu'));

  test('[B,H,W,3] in [0,1] (value / 255)', async () => {
    await noLeak(async () => {
      const t = framesToTensor(frames.slice(0, 2));
      expect(t.shape).toEqual([2, 32, 32, 3]);
      const d = await t.data();
      expect(d[5]).toBeCloseTo(frames[0]!.rgb[5]! / 255, 7);
      expect(d[32 * 32 * 3 + 7]).toBeCloseTo(frames[1]!.rgb[7]! / 255, 7);
      t.dispose();
    });
  });

  test('clear errors: empty batch, mixed sizes, wrong buffer length', () => {
    expect(() => framesToTensor([])).toThrow(/no frames/);
    const small: Frame = { streamId: 'cam2', t: 0, index: 4, width: 2, height: 2, rgb: new Uint8Array(12) };
    expect(() => framesToTensor([frames[0]!, small])).toThrow(/frame 1 \(stream "cam2", index 4\) is 2x2.*32x32.*same size/);
    expect(() => framesToTensor([{ ...small, rgb: new Uint8Array(5) }])).toThrow(/expected 12 RGB bytes/);
  });
});

describe.each(BACKENDS)('DataAugmentationDINO on %s', (backend) => {
  beforeAll(() => useBackend(backend));

  test('2 + nLocal normalised batches, globals first, values within the normalised [0,1] range', async () => {
    await noLeak(async () => {
      const aug = new DataAugmentationDINO({ ...OPTS, seed: 3 });
      expect(aug.nViews).toBe(5);
      const images = framesToTensor(frames);
      const views = aug.apply(images);
      expect(views.map((v) => v.shape)).toEqual([
        [6, 24, 24, 3],
        [6, 24, 24, 3],
        [6, 12, 12, 3],
        [6, 12, 12, 3],
        [6, 12, 12, 3],
      ]);
      const { min, max } = aug.normalize.range();
      for (const v of views) {
        const d = await v.data();
        let lo = 0;
        let hi = 0;
        for (let j = 0; j < d.length; j++) {
          const c = j % 3;
          if (d[j]! < min[c]! - 1e-5) lo++;
          if (d[j]! > max[c]! + 1e-5) hi++;
        }
        expect([lo, hi]).toEqual([0, 0]);
      }
      tf.dispose([images, ...views]);
    });
  });

  test('same seed -> identical views; other seed differs; setState replays', async () => {
    await noLeak(async () => {
      const a = await viewsData(11, frames);
      const b = await viewsData(11, frames);
      const c = await viewsData(12, frames);
      a.forEach((v, i) => expect(maxAbsDiff(v, b[i]!)).toBe(0));
      expect(maxAbsDiff(a[0]!, c[0]!)).toBeGreaterThan(0.1);
      expect(maxAbsDiff(a[0]!, a[1]!)).toBeGreaterThan(0.1); // two globals of a batch differ too

      const aug = new DataAugmentationDINO({ ...OPTS, seed: 11 });
      const images = framesToTensor(frames);
      const state = aug.getState();
      tf.dispose(aug.apply(images));
      aug.setState(state);
      const replay = aug.apply(images);
      expect(maxAbsDiff(await replay[2]!.data(), a[2]!)).toBe(0);
      tf.dispose([images, ...replay]);
    });
  });
});

test('cpu and wasm give the same views', async () => {
  await useBackend('cpu');
  const onCpu = await viewsData(21, frames);
  await useBackend('wasm');
  const onWasm = await noLeak(() => viewsData(21, frames));
  onCpu.forEach((v, i) => expect(maxAbsDiff(v, onWasm[i]!)).toBeLessThan(1e-4));
});

describe('colour strength settings', () => {
  const maxDev = (a: Float32Array, centre: number) => a.reduce((m, v) => Math.max(m, Math.abs(v - centre)), 0);

  test('jitterStrength scales every jitter range; 0 leaves colours alone', () => {
    const draw = (s: number) => new DataAugmentationDINO({ ...OPTS, jitterStrength: s, seed: 5 }).sample(512, 32, 32);
    for (const v of draw(0)) {
      expect([maxDev(v.jitter.brightness, 1), maxDev(v.jitter.contrast, 1), maxDev(v.jitter.saturation, 1), maxDev(v.jitter.hue, 0)]).toEqual([0, 0, 0, 0]);
    }
    // DINO's ranges times 0.5: brightness/contrast 1 +- .2, saturation 1 +- .1, hue +- .05; 512 draws come near each end.
    const half = draw(0.5)[0]!.jitter;
    const devs = [maxDev(half.brightness, 1), maxDev(half.contrast, 1), maxDev(half.saturation, 1), maxDev(half.hue, 0)];
    [0.2, 0.2, 0.1, 0.05].forEach((limit, i) => {
      expect(devs[i]).toBeLessThanOrEqual(limit + 1e-6);
      expect(devs[i]).toBeGreaterThan(0.9 * limit);
    });
  });

  test('grayscaleP sets the share of grayscale views', () => {
    const share = (p: number) => {
      const gray = new DataAugmentationDINO({ ...OPTS, grayscaleP: p, seed: 6 }).sample(2000, 32, 32)[0]!.gray;
      return gray.reduce((n, g) => n + g, 0) / gray.length;
    };
    expect(share(0)).toBe(0);
    expect(share(1)).toBe(1);
    expect(share(0.2)).toBeGreaterThan(0.17);
    expect(share(0.2)).toBeLessThan(0.23);
  });

  test('out-of-range settings are refused with the field named', () => {
    expect(() => new DataAugmentationDINO({ ...OPTS, jitterStrength: -1 })).toThrow(/jitterStrength must be in \[0, 2.5\]/);
    expect(() => new DataAugmentationDINO({ ...OPTS, grayscaleP: 1.5 })).toThrow(/grayscaleP must be a probability/);
  });
});
