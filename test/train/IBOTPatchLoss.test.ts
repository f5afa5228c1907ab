/**
 * iBOT's masked-patch objective: the loss against a hand computation, the teacher targets, masking in the ViT, the
 * whole student's gradient with masked crops against finite differences, and a training step without leaks.
 */
import * as tf from '@tensorflow/tfjs';
import { useBackend } from '../helpers/backend';
import { gradientFailures } from '../helpers/finiteDifferences';
import { IBOTPatchLoss } from '../../src/train/IBOTPatchLoss';
import { sinkhornKnopp } from '../../src/train/DINOLoss';
import { MultiCropWrapper } from '../../src/model/MultiCropWrapper';
import { VisionTransformer } from '../../src/model/VisionTransformer';
import { modelSize } from '../../src/model/modelSizes';
import { Trainer } from '../../src/train/Trainer';
import { recipe } from '../../src/train/recipes';

describe('IBOTPatchLoss', () => {
  beforeAll(() => useBackend('cpu'));

  test('token weights: 1 / (masked count x images), none for an unmasked image', () => {
    expect(Array.from(IBOTPatchLoss.tokenWeights(Int32Array.from([2, 0, 1])))).toEqual([1 / 6, 1 / 6, 1 / 3].map(Math.fround));
  });

  test('loss: the weighted cross-entropy of the targets and the student softmax at temperature 0.1, by hand', () => {
    const n0 = tf.memory().numTensors;
    const loss = new IBOTPatchLoss({ outDim: 3, studentTemp: 0.1 });
    const s = [
      [0.1, 0.2, -0.1],
      [0.0, 0.3, 0.05],
      [-0.2, 0.1, 0.1],
    ];
    const q = [
      [0.7, 0.2, 0.1],
      [0.1, 0.1, 0.8],
      [1 / 3, 1 / 3, 1 / 3],
    ];
    const w = [1 / 6, 1 / 6, 1 / 3];
    let expected = 0;
    s.forEach((row, i) => {
      const z = row.map((v) => v / 0.1);
      const lse = Math.log(z.reduce((a, v) => a + Math.exp(v), 0));
      expected -= w[i]! * q[i]!.reduce((a, qk, k) => a + qk * (z[k]! - lse), 0);
    });
    const got = tf.tidy(() => loss.lossFromTargets(tf.tensor2d(s), tf.tensor2d(q), tf.tensor1d(w)).dataSync()[0]!);
    expect(got).toBeCloseTo(expected, 5);
    loss.dispose();
    expect(tf.memory().numTensors).toBe(n0);
  });

  test('targets: softmax of the centred logits, or Sinkhorn-Knopp; the centre follows the masked logits', () => {
    const n0 = tf.memory().numTensors;
    const centred = new IBOTPatchLoss({ outDim: 2, centerMomentum: 0.5 });
    const sk = new IBOTPatchLoss({ outDim: 2, centering: 'sinkhorn' });
    tf.tidy(() => {
      const t = tf.tensor2d([
        [0.2, 0.0],
        [0.0, 0.4],
      ]);
      centred.updateCenter(t); // centre = 0.5 * mean = [0.05, 0.1]
      expect(Array.from(centred.center.dataSync())).toEqual([0.05, 0.1].map(Math.fround));
      const p = centred.teacherTargets(t, 0.1).arraySync();
      const e = Math.exp((0.2 - 0.05) / 0.1) / (Math.exp((0.2 - 0.05) / 0.1) + Math.exp((0 - 0.1) / 0.1));
      expect(p[0]![0]).toBeCloseTo(e, 5);
      sk.updateCenter(t);
      expect(Array.from(sk.center.dataSync())).toEqual([0, 0]);
      const a = sk.teacherTargets(t, 0.1).dataSync();
      const b = sinkhornKnopp(t, 0.1, 3).dataSync();
      expect(Array.from(a)).toEqual(Array.from(b));
    });
    centred.dispose();
    sk.dispose();
    expect(tf.memory().numTensors).toBe(n0);
  });
});

describe('masked patches in the ViT and the student', () => {
  beforeAll(() => useBackend('cpu'));
  const micro = modelSize('micro'); // 16 px, patch 4: a 4 x 4 grid

  test('a masked patch is not seen: changing its pixels leaves every output unchanged, and unmasked it does not', () => {
    const n0 = tf.memory().numTensors;
    const vit = new VisionTransformer(micro.vit, 2);
    tf.tidy(() => {
      const img = tf.randomUniform([1, 16, 16, 3], -1, 1, 'float32', 4) as tf.Tensor4D;
      // patch (1, 2) covers rows 4..7, columns 8..11
      const bump = tf.pad(tf.ones([1, 4, 4, 3]), [[0, 0], [4, 8], [8, 4], [0, 0]]);
      const other = tf.add(img, bump) as tf.Tensor4D;
      const mask = tf.tensor2d([[0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0]]);
      const rows = tf.tensor1d([6, 0], 'int32');
      const a = vit.apply(img, { mask, patchRows: rows });
      const b = vit.apply(other, { mask, patchRows: rows });
      expect(tf.max(tf.abs(tf.sub(a.cls, b.cls))).dataSync()[0]).toBeLessThan(1e-6);
      expect(tf.max(tf.abs(tf.sub(a.patches!, b.patches!))).dataSync()[0]).toBeLessThan(1e-6);
      expect(a.patches!.shape).toEqual([2, 16]);
      const c = vit.apply(img).cls;
      const d = vit.apply(other).cls;
      expect(tf.max(tf.abs(tf.sub(c, d))).dataSync()[0]).toBeGreaterThan(1e-3);
    });
    vit.dispose();
    expect(tf.memory().numTensors).toBe(n0);
  });

  test('every parameter of the micro student, mask token included, under the masked-patch loss', () => {
    const n0 = tf.memory().numTensors;
    const B = 2;
    const model = new MultiCropWrapper(micro, 3);
    const loss = new IBOTPatchLoss({ outDim: micro.head.outDim });
    const crops = [
      ...[0, 1].map((i) => tf.randomUniform([B, 16, 16, 3], -2, 2, 'float32', 10 + i) as tf.Tensor4D),
      ...[0, 1].map((i) => tf.randomUniform([B, 8, 8, 3], -2, 2, 'float32', 20 + i) as tf.Tensor4D),
    ];
    // 2B = 4 global crop images of 16 tokens; images 0 and 3 masked (3 and 2 tokens)
    const m = new Float32Array(4 * 16);
    [1, 2, 5].forEach((n) => (m[n] = 1));
    [3 * 16 + 10, 3 * 16 + 11].forEach((n) => (m[n] = 1));
    const mask = tf.tensor2d(m, [4, 16]);
    const rows = tf.tensor1d([1, 2, 5, 58, 59], 'int32');
    const weights = tf.tensor1d(IBOTPatchLoss.tokenWeights(Int32Array.from([3, 0, 0, 2])));
    const targets = tf.tidy(() => tf.softmax(tf.randomNormal([5, micro.head.outDim], 0, 3, 'float32', 5))) as tf.Tensor2D;
    const f = () =>
      tf.tidy(() => {
        const out = model.apply(crops, undefined, { mask, rows });
        return loss.lossFromTargets(out.patchLogits!, targets, weights);
      });
    const params = model.namedParameters().filter(([, v]) => v.trainable);
    const { failures, total } = gradientFailures(params, f);
    expect(failures).toEqual([]);
    expect(total).toBeGreaterThan(1e-2);
    const tokenGrad = tf.tidy(() => {
      const { value, grads } = tf.variableGrads(f, [model.backbone.maskToken]);
      value.dispose();
      return tf.norm(Object.values(grads)[0]!).dataSync()[0]!;
    });
    expect(tokenGrad).toBeGreaterThan(1e-4);
    tf.dispose([...crops, mask, rows, weights, targets]);
    model.dispose();
    loss.dispose();
    expect(tf.memory().numTensors).toBe(n0);
  });
});

describe.each(['wasm', 'cpu'] as const)('a training step with the masked-patch loss (%s)', (backend) => {
  beforeAll(() => useBackend(backend));

  test('masks tokens, reports the term, changes the mask token, leaks nothing', () => {
    const model = modelSize('micro');
    const trainer = new Trainer({ ...recipe('stream', { model, batchSize: 4, horizonSteps: 20 }), ibotWeight: 1 });
    const crops = [
      ...[0, 1].map((i) => tf.randomUniform([4, 16, 16, 3], -2, 2, 'float32', 30 + i) as tf.Tensor4D),
      ...Array.from({ length: model.crops.nLocal }, (_, i) => tf.randomUniform([4, 8, 8, 3], -2, 2, 'float32', 40 + i) as tf.Tensor4D),
    ];
    const n0 = tf.memory().numTensors;
    let moved = 0;
    for (let i = 0; i < 3; i++) {
      const r = trainer.trainStep(crops);
      // 8 global crop images, 4 of them masked at 10-50% of 16 tokens: at least one token each
      expect(r.maskedTokens).toBeGreaterThanOrEqual(4);
      expect(r.maskedTokens).toBeLessThanOrEqual(4 * 8);
      expect(r.ibot).toBeGreaterThan(0);
      expect(Number.isFinite(r.loss)).toBe(true);
      moved = tf.tidy(() => tf.max(tf.abs(trainer.student.backbone.maskToken)).dataSync()[0]!);
      expect(tf.memory().numTensors).toBe(n0);
    }
    // past the warm-up step, the mask token has been trained
    expect(moved).toBeGreaterThan(0);
    tf.dispose(crops);
    trainer.dispose();
  });
});
