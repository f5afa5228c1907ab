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
