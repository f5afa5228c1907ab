/** Dino* native kernels against plain-tf composites on the cpu backend (values and gradients). */
import * as tf from '@tensorflow/tfjs';

import { selectBackend } from '../../src/backend/selectBackend';
import { describeNative, expectClose, onCpu, quiet, randArray, take, trackLeaks } from './helpers';

const run = (name: string, inputs: tf.NamedTensorMap, attrs: Record<string, unknown> = {}) =>
  tf.engine().runKernel(name, inputs, attrs as tf.NamedAttrMap) as tf.Tensor | tf.Tensor[];

const gelu = (x: tf.Tensor) => tf.mul(tf.mul(x, 0.5), tf.add(1, tf.erf(tf.div(x, Math.SQRT2))));

function layerNorm(x: tf.Tensor, g: tf.Tensor, b: tf.Tensor, eps: number) {
  const mean = tf.mean(x, -1, true);
  const xc = tf.sub(x, mean);
  const v = tf.mean(tf.square(xc), -1, true);
  const rstd = tf.rsqrt(tf.add(v, eps));
  return { y: tf.add(tf.mul(tf.mul(xc, rstd), g), b), mean: tf.squeeze(mean, [-1]), rstd: tf.squeeze(rstd, [-1]) };
}

/** Official DINO layout: qkv.reshape(B, T, 3, H, hd).permute(2, 0, 3, 1, 4). */
function attention(qkv: tf.Tensor, B: number, T: number, H: number, scale: number) {
  const D = qkv.shape[1]! / 3, hd = D / H;
  const r = tf.transpose(tf.reshape(qkv, [B, T, 3, H, hd]), [2, 0, 3, 1, 4]);
  const [q, k, v] = tf.unstack(r, 0);
  const probs = tf.softmax(tf.mul(tf.matMul(q, k, false, true), scale));
  const out = tf.reshape(tf.transpose(tf.matMul(probs, v), [0, 2, 1, 3]), [B * T, D]);
  return { out, probs };
}

beforeAll(async () => {
  await selectBackend({ backend: 'wasm', log: quiet });
});

trackLeaks();

describeNative('DinoGelu / DinoGeluGrad', () => {
  const shape = [7, 65];
  const xd = randArray(7 * 65, 11, 2.5);
  xd[0] = 0; xd[1] = -9; xd[2] = 9; xd[3] = 1e-4; // tails of erf and tiny values

  it('matches 0.5 x (1 + erf(x / sqrt 2)) and keeps the shape', async () => {
    const [ref] = await onCpu(() => gelu(tf.tensor(xd, shape)));
    const y = tf.tidy(() => run('DinoGelu', { x: tf.tensor(xd, shape) }) as tf.Tensor);
    expect(y.shape).toEqual(shape);
    const [got] = take(y);
    expectClose(got, ref, 2e-6, 1e-5);
  });

  it('gradient matches tf.grad of the composite', async () => {
    const dyd = randArray(xd.length, 12);
    const [ref] = await onCpu(() => tf.grad((x: tf.Tensor) => gelu(x))(tf.tensor(xd, shape), tf.tensor(dyd, shape)));
    const [got] = take(tf.tidy(() => run('DinoGeluGrad', { dy: tf.tensor(dyd, shape), x: tf.tensor(xd, shape) })));
    expectClose(got, ref, 2e-6, 1e-5);
  });

  it('gradient matches central finite differences of DinoGelu', () => {
    const xs = [-3, -1.3, -0.2, 0, 0.4, 1.7, 4];
    const h = 1e-2;
    const [g] = take(tf.tidy(() => run('DinoGeluGrad', { dy: tf.ones([xs.length]), x: tf.tensor1d(xs) })));
    const [yp] = take(tf.tidy(() => run('DinoGelu', { x: tf.tensor1d(xs.map((v) => v + h)) })));
    const [ym] = take(tf.tidy(() => run('DinoGelu', { x: tf.tensor1d(xs.map((v) => v - h)) })));
    expectClose(g, xs.map((_, i) => (yp[i] - ym[i]) / (2 * h)), 2e-3, 1e-3);
  });

  it('large input (multi-threaded path, vector tails)', async () => {
    const n = 100003;
    const big = randArray(n, 13, 3);
    const [ref] = await onCpu(() => gelu(tf.tensor1d(big)));
    const [got] = take(tf.tidy(() => run('DinoGelu', { x: tf.tensor1d(big) })));
    expectClose(got, ref, 2e-6, 1e-5);
  });
});

describeNative('DinoLayerNorm / DinoLayerNormGrad', () => {
  for (const [N, D] of [[65, 192], [7, 17], [1, 1], [257, 65]] as const) {
    const eps = 1e-6;
    const xd = randArray(N * D, N + D, 3).map((v, i) => v + (i % D) * 0.1);
    const gd = randArray(D, 2 * D).map((v) => 1 + 0.3 * v);
    const bd = randArray(D, 3 * D, 0.2);

    it(`forward [${N}, ${D}] (y, mean, rstd)`, async () => {
      const ref = await onCpu(() => {
        const r = layerNorm(tf.tensor(xd, [N, D]), tf.tensor1d(gd), tf.tensor1d(bd), eps);
        return [r.y, r.mean, r.rstd];
      });
      const outs = tf.tidy(() => run('DinoLayerNorm',
        { x: tf.tensor(xd, [N, D]), gamma: tf.tensor1d(gd), beta: tf.tensor1d(bd) }, { epsilon: eps })) as tf.Tensor[];
      expect(outs.map((t) => t.shape)).toEqual([[N, D], [N], [N]]);
      const [y, mean, rstd] = take(outs);
      expectClose(y, ref[0], 2e-5, 1e-4);
      expectClose(mean, ref[1], 1e-5, 1e-5);
      expectClose(rstd, ref[2], 1e-5, D === 1 ? 1e-2 : 1e-4);
    });

    it(`gradient [${N}, ${D}] matches tf.grads of the composite`, async () => {
      const dyd = randArray(N * D, 5 * D);
      const ref = await onCpu(() => tf.grads((x: tf.Tensor, g: tf.Tensor, b: tf.Tensor) => layerNorm(x, g, b, eps).y)(
        [tf.tensor(xd, [N, D]), tf.tensor1d(gd), tf.tensor1d(bd)], tf.tensor(dyd, [N, D])));
      const [dx, dgamma, dbeta] = take(tf.tidy(() => {
        const x = tf.tensor(xd, [N, D]), gamma = tf.tensor1d(gd);
        const [, mean, rstd] = run('DinoLayerNorm', { x, gamma, beta: tf.tensor1d(bd) }, { epsilon: eps }) as tf.Tensor[];
        return run('DinoLayerNormGrad', { dy: tf.tensor(dyd, [N, D]), x, gamma, mean, rstd }) as tf.Tensor[];
      }));
      expectClose(dx, ref[0], 1e-4, 1e-3);
      expectClose(dgamma, ref[1], 1e-4, 1e-4);
      expectClose(dbeta, ref[2], 1e-4, 1e-4);
    });
  }
});

describeNative('DinoAttention / DinoAttentionGrad', () => {
  const cases: Array<[number, number, number, number]> = [[2, 65, 3, 16], [3, 17, 3, 8], [1, 65, 3, 64], [2, 1, 1, 5]];
  for (const [B, T, H, hd] of cases) {
    const D = H * hd, scale = 1 / Math.sqrt(hd);
    const qkvd = randArray(B * T * 3 * D, B * T + H * hd, 1.5);
    const attrs = { batch: B, tokens: T, heads: H, scale };

    it(`forward B=${B} T=${T} H=${H} hd=${hd}: out [B*T, D] and probs [B, H, T, T]`, async () => {
      const ref = await onCpu(() => {
        const r = attention(tf.tensor(qkvd, [B * T, 3 * D]), B, T, H, scale);
        return [r.out, r.probs];
      });
      const outs = tf.tidy(() => run('DinoAttention', { qkv: tf.tensor(qkvd, [B * T, 3 * D]) }, attrs)) as tf.Tensor[];
      expect(outs.map((t) => t.shape)).toEqual([[B * T, D], [B, H, T, T]]);
      const [out, probs] = take(outs);
      expectClose(probs, ref[1], 1e-6, 1e-4);
      expectClose(out, ref[0], 1e-5, 1e-4);
    });

    it(`gradient B=${B} T=${T} H=${H} hd=${hd} matches tf.grad of the composite`, async () => {
      const doutd = randArray(B * T * D, 7 * T);
      const [ref] = await onCpu(() => tf.grad((q: tf.Tensor) => attention(q, B, T, H, scale).out)(
        tf.tensor(qkvd, [B * T, 3 * D]), tf.tensor(doutd, [B * T, D])));
      const [got] = take(tf.tidy(() => {
        const qkv = tf.tensor(qkvd, [B * T, 3 * D]);
        const [, probs] = run('DinoAttention', { qkv }, attrs) as tf.Tensor[];
        return run('DinoAttentionGrad', { dout: tf.tensor(doutd, [B * T, D]), qkv, probs }, attrs);
      }));
      expectClose(got, ref, 1e-5, 1e-3);
    });
  }

  it('rejects inconsistent attrs with a clear error', () => {
    expect(() => tf.tidy(() => run('DinoAttention', { qkv: tf.zeros([10, 9]) }, { batch: 2, tokens: 5, heads: 2, scale: 1 })))
      .toThrow(/DinoAttention/);
  });
});

describeNative('DinoAdamW', () => {
  const n = 1000 + 3; // vector tail
  const pd = randArray(n, 21), gd = randArray(n, 22), md = randArray(n, 23, 0.1), vd = randArray(n, 24, 0.1).map(Math.abs);
  for (const [wd, step] of [[0.04, 1], [0, 7]] as const) {
    it(`matches the torch.optim.AdamW formula (weightDecay ${wd}, step ${step})`, () => {
      const lr = 5e-4, b1 = 0.9, b2 = 0.999, eps = 1e-8;
      const outs = tf.tidy(() => run('DinoAdamW', {
        param: tf.tensor(pd, [n]), grad: tf.tensor(gd, [n]), m: tf.tensor(md, [n]), v: tf.tensor(vd, [n]),
      }, { lr, beta1: b1, beta2: b2, eps, weightDecay: wd, step })) as tf.Tensor[];
      expect(outs.map((t) => t.shape)).toEqual([[n], [n], [n]]);
      const [p2, m2, v2] = take(outs);
      const bc1 = 1 - b1 ** step, bc2 = Math.sqrt(1 - b2 ** step);
      const mr = Array.from(md, (m, i) => b1 * m + (1 - b1) * gd[i]);
      const vr = Array.from(vd, (v, i) => b2 * v + (1 - b2) * gd[i] * gd[i]);
      const pr = Array.from(pd, (p, i) => p * (1 - lr * wd) - (lr / bc1) * mr[i] / (Math.sqrt(vr[i]) / bc2 + eps));
      expectClose(m2, mr, 1e-7, 1e-5);
      expectClose(v2, vr, 1e-8, 1e-5);
      expectClose(p2, pr, 1e-7, 1e-5);
    });
  }

  // clipping and EMA folded in: the same as clip_gradients, then AdamW, then the EMA, written out; one clip bound
  // that scales the gradient (its norm is ~32) and one that leaves it alone
  for (const clip of [3, 100]) {
    it(`with clip ${clip} and the teacher's EMA: clip_gradients, AdamW, then teacher = m t + (1 - m) p'`, () => {
      const lr = 5e-4, b1 = 0.9, b2 = 0.999, eps = 1e-8, wd = 0.04, step = 3, momentum = 0.996;
      const td = randArray(n, 25);
      const outs = tf.tidy(() => run('DinoAdamW', {
        param: tf.tensor(pd, [n]), grad: tf.tensor(gd, [n]), m: tf.tensor(md, [n]), v: tf.tensor(vd, [n]), teacher: tf.tensor(td, [n]),
      }, { lr, beta1: b1, beta2: b2, eps, weightDecay: wd, step, clip, momentum })) as tf.Tensor[];
      expect(outs.map((t) => t.shape)).toEqual([[n], [n], [n], [n]]);
      const [p2, m2, , t2] = take(outs);
      const norm = Math.sqrt(gd.reduce((a, g) => a + g * g, 0));
      const coef = Math.min(clip / (norm + 1e-6), 1);
      expect(coef < 1).toBe(clip === 3);
      const g = Array.from(gd, (x) => x * coef);
      const bc1 = 1 - b1 ** step, bc2 = Math.sqrt(1 - b2 ** step);
      const mr = Array.from(md, (m, i) => b1 * m + (1 - b1) * g[i]!);
      const vr = Array.from(vd, (v, i) => b2 * v + (1 - b2) * g[i]! * g[i]!);
      const pr = Array.from(pd, (p, i) => p * (1 - lr * wd) - (lr / bc1) * mr[i]! / (Math.sqrt(vr[i]!) / bc2 + eps));
      expectClose(m2, mr, 1e-7, 1e-5);
      expectClose(p2, pr, 1e-7, 1e-5);
      expectClose(t2, Array.from(td, (t, i) => momentum * t + (1 - momentum) * pr[i]!), 1e-7, 1e-5);
    });
  }

  it('rejects a missing step', () => {
    expect(() => tf.tidy(() => run('DinoAdamW', { param: tf.ones([2]), grad: tf.ones([2]), m: tf.ones([2]), v: tf.ones([2]) }, { lr: 1 })))
      .toThrow(/step/);
  });
});
