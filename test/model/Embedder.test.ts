/**
 * The Embedder's readouts: the CLS (the DINO feature) and cls+avgpool, checked against a hand composition from the
 * backbone's own outputs (the final-LayerNorm CLS and every patch token), without leaking tensors.
 */
import * as tf from '@tensorflow/tfjs';
import { expectClose, useBackend } from '../helpers/backend';
import { Embedder } from '../../src/model/Embedder';
import { VisionTransformer } from '../../src/model/VisionTransformer';
import { Random } from '../../src/util/Random';

const l2 = (v: number[]) => {
  const n = Math.sqrt(v.reduce((s, x) => s + x * x, 0));
  return v.map((x) => x / n);
};

describe('Embedder readouts', () => {
  beforeAll(() => useBackend('cpu'));

  const B = 3;
  const N = 4; // (8 / 4)^2 patches
  const D = 8;
  const rng = new Random(7);
  const pixels = Float32Array.from({ length: B * 8 * 8 * 3 }, () => rng.normal());

  test('cls+avgpool is the L2-normalised CLS beside the L2-normalised mean of the normed patch tokens', async () => {
    const vit = new VisionTransformer({ patchSize: 4, embedDim: 8, depth: 2, numHeads: 2, mlpRatio: 2, imgSize: 8 }, 3);
    const before = tf.memory().numTensors;
    const images = tf.tensor4d(pixels, [B, 8, 8, 3]);
    const out = tf.tidy(() => {
      const o = vit.apply(images, { patchRows: tf.range(0, B * N, 1, 'int32') as tf.Tensor1D });
      return [o.cls, o.patches!];
    });
    const cls = (await out[0]!.array()) as number[][];
    const patches = (await out[1]!.array()) as number[][];
    tf.dispose(out);

    const embedder = new Embedder(vit);
    const pooled = await embedder.embedToArrays(images, { readout: 'cls+avgpool' });
    const plain = await embedder.embedToArrays(images);
    images.dispose();

    for (let b = 0; b < B; b++) {
      const mean = Array.from({ length: D }, (_, d) => patches.slice(b * N, (b + 1) * N).reduce((s, p) => s + p[d]!, 0) / N);
      // each half has norm 1, so the concatenation has norm sqrt(2) before the last normalisation
      const expected = [...l2(cls[b]!), ...l2(mean)].map((x) => x / Math.SQRT2);
      expect(pooled.normalized[b]!.length).toBe(2 * D);
      expectClose(pooled.normalized[b]!, expected, 1e-5, 0, `image ${b} cls+avgpool`);
      expectClose(plain.normalized[b]!, l2(cls[b]!), 1e-5, 0, `image ${b} cls`);
      expectClose(pooled.raw[b]!, cls[b]!, 1e-5, 0, `image ${b} raw CLS`);
    }
    // the mean patch token is not the CLS: the second half differs from the first
    const half = pooled.normalized[0]!;
    expect(Math.abs(half[0]! - half[D]!) + Math.abs(half[1]! - half[D + 1]!)).toBeGreaterThan(1e-3);
    expect(tf.memory().numTensors).toBe(before);
  });
});
