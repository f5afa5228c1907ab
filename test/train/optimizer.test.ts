import * as tf from '@tensorflow/tfjs';
import { useBackend, expectClose } from '../helpers/backend';
import { AdamW, clipGradients } from '../../src/train/AdamW';
import { variableFrom } from '../../src/util/variables';
import { Trainer } from '../../src/train/Trainer';
import { paperRecipe } from '../../src/train/TrainerOptions';
import { modelSize } from '../../src/model/modelSizes';

/** torch.optim.AdamW for one scalar, written out. */
function adamwScalar(p: number, grads: number[], lr: number, wd: number, b1 = 0.9, b2 = 0.999, eps = 1e-8): number {
  let m = 0;
  let v = 0;
  grads.forEach((g, i) => {
    const t = i + 1;
    p *= 1 - lr * wd;
    m = b1 * m + (1 - b1) * g;
    v = b2 * v + (1 - b2) * g * g;
    p -= (lr / (1 - b1 ** t)) * (m / (Math.sqrt(v) / Math.sqrt(1 - b2 ** t) + eps));
  });
  return p;
}

describe('optimiser, clipping and EMA against their formulas', () => {
  beforeAll(() => useBackend('cpu'));

  test('AdamW matches torch.optim.AdamW step by step, decay only where asked', () => {
    const n0 = tf.memory().numTensors;
    const opt = new AdamW();
    const w = variableFrom(tf.tensor1d([0.5, -1.5, 2.0]), true);
    const b = variableFrom(tf.tensor1d([0.1, 0.2, 0.3]), true);
    const gradsW = [
      [0.3, -0.2, 0.01],
      [0.1, 0.4, -0.02],
      [-0.5, 0.0, 0.03],
    ];
    const lr = 0.01;
    const wd = 0.3;
    for (const gw of gradsW) {
      const gW = tf.tensor1d(gw);
      const gB = tf.tensor1d(gw.map((x) => 2 * x));
      opt.step(
        [
          { name: 'w', param: w, grad: gW, decay: true },
          { name: 'b', param: b, grad: gB, decay: false },
        ],
        lr,
        wd,
      );
      tf.dispose([gW, gB]);
    }
    const wantW = [0, 1, 2].map((i) => adamwScalar([0.5, -1.5, 2.0][i]!, gradsW.map((g) => g[i]!), lr, wd));
    const wantB = [0, 1, 2].map((i) => adamwScalar([0.1, 0.2, 0.3][i]!, gradsW.map((g) => 2 * g[i]!), lr, 0));
    expectClose(w.dataSync(), wantW, 1e-7, 1e-6, 'decayed weight');
    expectClose(b.dataSync(), wantB, 1e-7, 1e-6, 'bias');
    expect(opt.slots.get('w')!.t).toBe(3);
    opt.dispose();
    tf.dispose([w, b]);
    expect(tf.memory().numTensors).toBe(n0);
  });

  test('clip_gradients scales a gradient by clip/(norm+1e-6) only when that is below 1', () => {
    const n0 = tf.memory().numTensors;
    const big = tf.tensor1d([3, 4]); // norm 5
    const small = tf.tensor1d([0.3, 0.4]); // norm 0.5
    const [a, c] = clipGradients([big, small], 1.0);
    expectClose(a!.dataSync(), [3 / (5 + 1e-6), 4 / (5 + 1e-6)], 1e-7, 1e-6, 'clipped');
    expectClose(c!.dataSync(), [0.3, 0.4], 1e-7, 0, 'unclipped');
    tf.dispose([big, small, a!, c!]);
    expect(tf.memory().numTensors).toBe(n0);
  });

  test('teacher EMA: teacher = m * teacher + (1 - m) * student for every parameter', () => {
    const trainer = new Trainer(paperRecipe(modelSize('micro'), 4, 100, 10));
    const n0 = tf.memory().numTensors;
    // make teacher and student differ
    for (const [, v] of trainer.teacher.namedParameters()) tf.tidy(() => v.assign(tf.add(v, tf.randomNormal(v.shape, 0, 0.1, 'float32', v.size))));
    const before = new Map(trainer.teacher.namedParameters().map(([n, v]) => [n, v.dataSync().slice()]));
    const student = new Map(trainer.student.namedParameters().map(([n, v]) => [n, v.dataSync()]));
    trainer.updateTeacher(0.9);
    for (const [n, v] of trainer.teacher.namedParameters()) {
      const t0 = before.get(n)!;
      const s = student.get(n)!;
      expectClose(v.dataSync(), Array.from(t0, (x, i) => 0.9 * x + 0.1 * s[i]!), 1e-7, 1e-6, n);
    }
    expect(tf.memory().numTensors).toBe(n0);
    trainer.dispose();
  });

  test('weight-decay groups follow the official get_params_groups', () => {
    const trainer = new Trainer(paperRecipe(modelSize('micro'), 4, 100, 10));
    const groups = new Map(trainer.student.namedParameters().map(([n, v]) => [n, Trainer.decays(n, v)]));
    expect(groups.get('backbone.blocks.0.attn.qkv.weight')).toBe(true);
    expect(groups.get('backbone.blocks.0.attn.qkv.bias')).toBe(false);
    expect(groups.get('backbone.blocks.0.norm1.weight')).toBe(false);
    expect(groups.get('backbone.pos_embed')).toBe(true); // 3-D, regularised in the official code
    expect(groups.get('backbone.cls_token')).toBe(true);
    expect(groups.get('head.last_layer.weight_v')).toBe(true);
    trainer.dispose();
  });
});
