/**
 * Stochastic depth (official drop_path): the per-image mask, a block's output against a hand composition of its
 * branches, the linear rise of the rate over the blocks, and that only the student's training forward drops.
 * Gradients with drop path on are checked against finite differences in gradients.test.ts.
 */
import * as tf from '@tensorflow/tfjs';
import { expectClose, useBackend } from '../helpers/backend';
import { DropPath } from '../../src/model/DropPath';
import { Block } from '../../src/model/Block';
import { VisionTransformer } from '../../src/model/VisionTransformer';
import { SeedSequence } from '../../src/model/init';
import { attention } from '../../src/ops/attention';
import { gelu } from '../../src/ops/gelu';
import { Random } from '../../src/util/Random';
import { Trainer } from '../../src/train/Trainer';
import { paperRecipe } from '../../src/train/TrainerOptions';
import { modelSize } from '../../src/model/modelSizes';
import { batchFor } from '../train/resumeRun';

describe('DropPath', () => {
  beforeAll(() => useBackend('cpu'));

  test('the mask drops whole images with probability p and scales the kept ones by 1/(1-p)', () => {
    const p = 0.3;
    const B = 20000;
    const T = 3;
    const m = new DropPath(p).mask(B, T, new Random(5));
    const kept = Math.fround(1 / (1 - p));
    let dropped = 0;
    let bad = 0;
    for (let b = 0; b < B; b++) {
      const v = m[b * T]!;
      if (v !== 0 && v !== kept) bad++;
      for (let t = 1; t < T; t++) if (m[b * T + t] !== v) bad++; // every token of an image shares its draw
      if (v === 0) dropped++;
    }
    expect(bad).toBe(0);
    // binomial sd at n=20000, p=0.3 is 0.0032: 0.015 is > 4 sd
    expect(Math.abs(dropped / B - p)).toBeLessThan(0.015);
    expect(() => new DropPath(1)).toThrow(/\[0, 1\)/);
  });

  test('a block with drop path is x + m1*attn(x), then + m2*mlp(x1), with the masks drawn in that order', () => {
    const n0 = tf.memory().numTensors;
    const [B, T, D, H] = [12, 5, 8, 2];
    const block = new Block(D, H, 4, new SeedSequence(3));
    const x = tf.randomNormal([B * T, D], 0, 1, 'float32', 4) as tf.Tensor2D;
    const p = 0.5;
    const seed = 21;
    const out = tf.tidy(() => block.apply(x, B, T, false, { p, rng: new Random(seed) }).x);

    const rng = new Random(seed);
    const m1 = new DropPath(p).mask(B, T, rng);
    const m2 = new DropPath(p).mask(B, T, rng);
    const shape = { batch: B, tokens: T, heads: H, scale: (D / H) ** -0.5 };
    const expected = tf.tidy(() => {
      const a = block.proj.apply(attention(block.qkv.apply(block.norm1.apply(x)), shape));
      const x1 = tf.add(x, tf.mul(a, tf.tensor2d(m1, [B * T, 1]))) as tf.Tensor2D;
      const h = block.fc2.apply(gelu(block.fc1.apply(block.norm2.apply(x1))));
      return tf.add(x1, tf.mul(h, tf.tensor2d(m2, [B * T, 1])));
    });
    const got = out.dataSync();
    expectClose(got, expected.dataSync(), 1e-5, 1e-5, 'block output');

    // the draw of this seed has every case, so each path above was exercised: an image dropped in both branches
    // comes out as it went in
    const cases = new Set<string>();
    const xs = x.dataSync();
    for (let b = 0; b < B; b++) {
      cases.add(`${m1[b * T]! > 0}${m2[b * T]! > 0}`);
      if (m1[b * T] === 0 && m2[b * T] === 0) {
        expect(Array.from(got.slice(b * T * D, (b + 1) * T * D))).toEqual(Array.from(xs.slice(b * T * D, (b + 1) * T * D)));
      }
    }
    expect(cases.size).toBe(4);
    tf.dispose([x, out, expected]);
    block.dispose();
    expect(tf.memory().numTensors).toBe(n0);
  });

  test('the rate rises linearly from 0 at the first block to the given rate at the last', () => {
    const vit = new VisionTransformer({ patchSize: 4, embedDim: 8, depth: 3, numHeads: 2, mlpRatio: 2, imgSize: 8 }, 1);
    const spy = jest.spyOn(Block.prototype, 'apply');
    const images = tf.randomUniform([2, 8, 8, 3], -1, 1, 'float32', 2) as tf.Tensor4D;
    const n0 = tf.memory().numTensors;
    tf.tidy(() => {
      vit.apply(images, { dropPath: { rate: 0.2, rng: new Random(1) } });
      vit.apply(images); // the teacher's and the evaluation's forward: no drop anywhere
    });
    expect(tf.memory().numTensors).toBe(n0);
    const rates = spy.mock.calls.map((c) => c[4]?.p);
    spy.mockRestore();
    expect(rates[0]).toBe(0);
    expect(rates[1]).toBeCloseTo(0.1, 10);
    expect(rates[2]).toBeCloseTo(0.2, 10);
    expect(rates.slice(3)).toEqual([undefined, undefined, undefined]);
    images.dispose();
    vit.dispose();
  });

  test("the trainer's student draws fresh masks each step and its teacher never drops", () => {
    const opts = paperRecipe(modelSize('micro'), 4, 20, 2);
    const crops = batchFor(0);
    const n0 = tf.memory().numTensors;
    const targets = (t: Trainer) => tf.tidy(() => t.dinoLoss.teacherTargets(t.teacher.apply(crops.slice(0, 2)).logits, 0.04));
    const lossOf = (t: Trainer, tg: tf.Tensor2D) => tf.tidy(() => t.studentLoss(crops, tg, 0).dataSync()[0]!);

    const plain = new Trainer(opts);
    const dropping = new Trainer({ ...opts, dropPathRate: 0.9 });
    const [tp, td] = [targets(plain), targets(dropping)];
    // same seed, same weights: the teachers agree exactly (no drop in the teacher's forward)
    expect(Array.from(td.dataSync())).toEqual(Array.from(tp.dataSync()));
    // without drop path the student's loss repeats; with it, two forwards draw different masks
    expect(lossOf(plain, tp)).toBe(lossOf(plain, tp));
    const [d1, d2] = [lossOf(dropping, td), lossOf(dropping, td)];
    expect(d1).not.toBe(d2);
    expect(d1).not.toBe(lossOf(plain, tp));
    tf.dispose([tp, td]);
    plain.dispose();
    dropping.dispose();
    expect(tf.memory().numTensors).toBe(n0);
    tf.dispose(crops);
    expect(() => new Trainer({ ...opts, dropPathRate: 1 })).toThrow(/dropPathRate must be in \[0, 1\)/);
  });
});
