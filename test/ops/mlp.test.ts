import * as tf from '@tensorflow/tfjs';
import { linear } from '../../src/ops/linear';
import { mlp, type MlpWeights } from '../../src/ops/mlp';
import { setFusedKernelsEnabled } from '../../src/ops/kernels';
import { gradientMismatches, OP_PATHS, tensorsLeft, values, worstRatio } from './opHarness';
import * as ref from './reference';

const [N, IN, HID, OUT] = [5, 4, 6, 4];

/** fc2(GELU(fc1(x))) + r in float64. */
function mlpRef(x: Float32Array, w1: Float32Array, b1: Float32Array, w2: Float32Array, b2: Float32Array, r?: Float32Array): number[] {
  const h = Array.from(ref.matMul(x, w1, N, IN, HID), (v, i) => ref.gelu(v + b1[i % HID]!));
  return Array.from(ref.matMul(h, w2, N, HID, OUT), (v, i) => v + b2[i % OUT]! + (r ? r[i]! : 0));
}

describe.each(OP_PATHS)('mlp and linear with a residual ($name)', ({ setUp }) => {
  beforeAll(setUp);
  afterAll(() => setFusedKernelsEnabled(true));
  const data = { x: values(N * IN, 51, 2), w1: values(IN * HID, 52), b1: values(HID, 53), w2: values(HID * OUT, 54), b2: values(OUT, 55), r: values(N * OUT, 56) };
  const tensors = () => [
    tf.tensor2d(data.x, [N, IN]), tf.tensor2d(data.w1, [IN, HID]), tf.tensor1d(data.b1), tf.tensor2d(data.w2, [HID, OUT]),
    tf.tensor1d(data.b2), tf.tensor2d(data.r, [N, OUT]),
  ] as [tf.Tensor2D, tf.Tensor2D, tf.Tensor1D, tf.Tensor2D, tf.Tensor1D, tf.Tensor2D];
  const weights = (w1: tf.Tensor, b1: tf.Tensor, w2: tf.Tensor, b2: tf.Tensor): MlpWeights =>
    ({ w1: w1 as tf.Tensor2D, b1: b1 as tf.Tensor1D, w2: w2 as tf.Tensor2D, b2: b2 as tf.Tensor1D });

  /** Values read asynchronously (a GPU backend cannot read synchronously), the tensor disposed. */
  const read = async (f: () => tf.Tensor): Promise<Float32Array> => {
    const t = tf.tidy(f);
    try {
      return (await t.data()) as Float32Array;
    } finally {
      t.dispose();
    }
  };

  test('mlp is fc2(GELU(fc1(x))) (+ r), inference and recorded forward alike; linear adds r', async () => {
    const [x, w1, b1, w2, b2, r] = tensors();
    const w = weights(w1, b1, w2, b2);
    const plain = await read(() => mlp(x, w));
    const withR = await read(() => mlp(x, w, r));
    // under a gradient tape the forward takes the path that also saves GELU's derivative: the same values
    const recorded = await read(() => {
      let out: tf.Tensor | undefined;
      tf.grad((t: tf.Tensor) => {
        const y = mlp(t as tf.Tensor2D, w, r);
        out = tf.keep(y.clone());
        return tf.sum(y);
      })(x);
      return out!;
    });
    expect(worstRatio(plain, mlpRef(data.x, data.w1, data.b1, data.w2, data.b2), 1e-5, 1e-5)).toBeLessThanOrEqual(1);
    expect(worstRatio(withR, mlpRef(data.x, data.w1, data.b1, data.w2, data.b2, data.r), 1e-5, 1e-5)).toBeLessThanOrEqual(1);
    expect(worstRatio(recorded, withR, 0, 0)).toBeLessThanOrEqual(1);
    const lin = await read(() => linear(x, w1, b1, { residual: tf.tensor2d(values(N * HID, 57), [N, HID]) }));
    const linRef = Array.from(ref.matMul(data.x, data.w1, N, IN, HID), (v, i) => v + data.b1[i % HID]! + values(N * HID, 57)[i]!);
    expect(worstRatio(lin, linRef, 1e-5, 1e-5)).toBeLessThanOrEqual(1);
    tf.dispose([x, w1, b1, w2, b2, r]);
  });

  test('its gradients equal central finite differences for every input, with and without the residual', async () => {
    const [x, w1, b1, w2, b2, r] = tensors();
    expect(await gradientMismatches((a, c, d, e, f, g) => mlp(a as tf.Tensor2D, weights(c!, d!, e!, f!), g as tf.Tensor2D), [x, w1, b1, w2, b2, r])).toEqual([]);
    expect(await gradientMismatches((a, c, d, e, f) => mlp(a as tf.Tensor2D, weights(c!, d!, e!, f!)), [x, w1, b1, w2, b2])).toEqual([]);
    const rh = tf.tensor2d(values(N * HID, 57), [N, HID]);
    expect(await gradientMismatches((a, c, d, g) => linear(a as tf.Tensor2D, c as tf.Tensor2D, d as tf.Tensor1D, { residual: g as tf.Tensor2D }), [x, w1, b1, rh])).toEqual([]);
    tf.dispose([x, w1, b1, w2, b2, r, rh]);
  });

  test('leaves no tensor behind, forward or backward', () => {
    const [x, w1, b1, w2, b2, r] = tensors();
    const all = [x, w1, b1, w2, b2, r];
    expect(tensorsLeft(() => tf.dispose(tf.grads((...t: tf.Tensor[]) => tf.sum(mlp(t[0] as tf.Tensor2D, weights(t[1]!, t[2]!, t[3]!, t[4]!), t[5] as tf.Tensor2D)))(all)))).toBe(0);
    expect(tensorsLeft(() => tf.dispose(tf.grads((...t: tf.Tensor[]) => tf.sum(mlp(t[0] as tf.Tensor2D, weights(t[1]!, t[2]!, t[3]!, t[4]!))))(all.slice(0, 5))))).toBe(0);
    expect(tensorsLeft(() => mlp(x, weights(w1, b1, w2, b2), r).dispose())).toBe(0);
    tf.dispose(all);
  });
});
