import * as tf from '@tensorflow/tfjs';
import { linear } from '../../src/ops/linear';
import { gradientMismatches, OP_PATHS, read, tensorsLeft, values, worstRatio } from './opHarness';
import * as ref from './reference';
import { setFusedKernelsEnabled } from '../../src/ops/kernels';

const [N, IN, OUT] = [4, 5, 3];

describe.each(OP_PATHS)('linear ($name)', ({ setUp }) => {
  beforeAll(setUp);
  afterAll(() => setFusedKernelsEnabled(true));
  const x = () => tf.tensor2d(values(N * IN, 41, 2), [N, IN]);
  const w = () => tf.tensor2d(values(IN * OUT, 42), [IN, OUT]);
  const b = () => tf.tensor1d(values(OUT, 43));

  test('is x W + b, and x W without a bias', async () => {
    const xw = ref.matMul(values(N * IN, 41, 2), values(IN * OUT, 42), N, IN, OUT);
    const bias = values(OUT, 43);
    const withBias = await read(() => linear(x(), w(), b()));
    const noBias = await read(() => linear(x(), w(), null));
    const noInputGrad = await read(() => linear(x(), w(), b(), { inputGrad: false }));
    expect(worstRatio(withBias!, xw.map((v, i) => v + bias[i % OUT]!), 1e-5, 1e-5)).toBeLessThanOrEqual(1);
    expect(worstRatio(noBias!, xw, 1e-5, 1e-5)).toBeLessThanOrEqual(1);
    expect(worstRatio(noInputGrad!, withBias!, 0, 0)).toBeLessThanOrEqual(1);
  });

  test('its gradients equal central finite differences: (x, W, b), (x, W) without bias, (W, b) without dx', async () => {
    const [X, W, B] = [x(), w(), b()];
    expect(await gradientMismatches((a, c, d) => linear(a as tf.Tensor2D, c as tf.Tensor2D, d as tf.Tensor1D), [X, W, B])).toEqual([]);
    expect(await gradientMismatches((a, c) => linear(a as tf.Tensor2D, c as tf.Tensor2D, null), [X, W])).toEqual([]);
    expect(await gradientMismatches((c, d) => linear(X, c as tf.Tensor2D, d as tf.Tensor1D, { inputGrad: false }), [W, B])).toEqual([]);
    tf.dispose([X, W, B]);
  });

  test('leaves no tensor behind, forward or backward', () => {
    const [X, W, B] = [x(), w(), b()];
    expect(tensorsLeft(() => tf.dispose(tf.grads((a, c, d) => tf.sum(linear(a as tf.Tensor2D, c as tf.Tensor2D, d as tf.Tensor1D)))([X, W, B])))).toBe(0);
    expect(tensorsLeft(() => tf.dispose(tf.grads((c, d) => tf.sum(linear(X, c as tf.Tensor2D, d as tf.Tensor1D, { inputGrad: false })))([W, B])))).toBe(0);
    expect(tensorsLeft(() => tf.dispose(tf.grads((a, c) => tf.sum(linear(a as tf.Tensor2D, c as tf.Tensor2D, null)))([X, W])))).toBe(0);
    tf.dispose([X, W, B]);
  });
});
