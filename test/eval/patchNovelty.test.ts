/**
 * Patch-level novelty: the pixel patches' layout, the score against a hand computation (largest nearest-patch
 * cosine distance), and the teacher's patch features against the backbone's own patch tokens, without leaking tensors.
 */
import * as tf from '@tensorflow/tfjs';
import { useBackend } from '../helpers/backend';
import { VisionTransformer } from '../../src/model/VisionTransformer';
import { EvalInputError } from '../../src/eval/EvalInputError';
import { imagesToTensor, pixelFeatures } from '../../src/eval/featureExtraction';
import { patchFeatures, patchNoveltyScores, pixelPatchFeatures } from '../../src/eval/patchNovelty';
import { Random } from '../../src/util/Random';

describe('patch novelty', () => {
  beforeAll(() => useBackend('cpu'));

  test('pixelPatchFeatures cuts the normalised pixels in p x p x 3 patches row-major, each scaled to unit length', async () => {
    // 4x4 RGB image, value = 40*y + 10*x + 3*channel (distinct everywhere)
    const im = Uint8Array.from({ length: 48 }, (_, i) => {
      const px = Math.floor(i / 3);
      return 40 * Math.floor(px / 4) + 10 * (px % 4) + 3 * (i % 3);
    });
    const before = tf.memory().numTensors;
    const [norm] = await pixelFeatures([im], 4); // the normalised pixels, HWC
    const [p] = await pixelPatchFeatures([im], 4, 2);
    expect(tf.memory().numTensors).toBe(before);
    expect(p).toHaveLength(4 * 12);
    // patch 1 (top right): pixels (0,2), (0,3), (1,2), (1,3)
    const want = [[0, 2], [0, 3], [1, 2], [1, 3]].flatMap(([y, x]) => [0, 1, 2].map((c) => norm![(y! * 4 + x!) * 3 + c]!));
    const n = Math.hypot(...want);
    Array.from(p!.slice(12, 24)).forEach((v, i) => expect(v).toBeCloseTo(want[i]! / n, 5));
    for (let k = 0; k < 4; k++) expect(Math.hypot(...p!.slice(k * 12, (k + 1) * 12))).toBeCloseTo(1, 5);
    await expect(pixelPatchFeatures([im], 4, 3)).rejects.toThrow(/not a multiple of the patch size 3/);
  });

  test('an image scores the largest cosine distance of any of its patches to its nearest bank patch', () => {
    const s = Math.SQRT1_2;
    const bank = [Float32Array.from([1, 0, 0, 1])]; // one image, patches (1,0) and (0,1)
    const before = tf.memory().numTensors;
    const scores = patchNoveltyScores(bank, [Float32Array.from([1, 0, s, s]), Float32Array.from([-1, 0, 1, 0]), Float32Array.from([0, 1, 1, 0])], 2);
    expect(tf.memory().numTensors).toBe(before);
    expect(scores[0]).toBeCloseTo(1 - s, 6); // (s,s) is 45 degrees from both bank patches
    expect(scores[1]).toBeCloseTo(1, 6); // (-1,0) is orthogonal to (0,1), opposite (1,0)
    expect(scores[2]).toBeCloseTo(0, 6); // both patches are in the bank
    expect(() => patchNoveltyScores([], scores.map(() => new Float32Array(2)), 2)).toThrow(EvalInputError);
  });

  test("patchFeatures are the backbone's final-LayerNorm patch tokens, unit-length, the same in any batch", async () => {
    const vit = new VisionTransformer({ patchSize: 4, embedDim: 8, depth: 2, numHeads: 2, mlpRatio: 2, imgSize: 8 }, 3);
    const rng = new Random(5);
    const images = Array.from({ length: 3 }, () => Uint8Array.from({ length: 8 * 8 * 3 }, () => Math.floor(rng.uniform(0, 256))));
    const before = tf.memory().numTensors;
    const one = await patchFeatures(vit, images, 8, 1);
    const all = await patchFeatures(vit, images, 8, 64);
    const x = imagesToTensor(images, 8);
    const ref = tf.tidy(() => vit.apply(x, { patchRows: tf.range(0, 12, 1, 'int32') as tf.Tensor1D }).patches!);
    const tokens = (await ref.array()) as number[][];
    tf.dispose([x, ref]);
    expect(tf.memory().numTensors).toBe(before);
    expect(all).toHaveLength(3);
    all.forEach((f, b) => {
      expect(f).toHaveLength(4 * 8);
      for (let n = 0; n < 4; n++) {
        const t = tokens[b * 4 + n]!;
        const norm = Math.hypot(...t);
        for (let d = 0; d < 8; d++) {
          expect(f[n * 8 + d]).toBeCloseTo(t[d]! / norm, 4);
          expect(one[b]![n * 8 + d]).toBeCloseTo(f[n * 8 + d]!, 4);
        }
      }
    });
  });
});
