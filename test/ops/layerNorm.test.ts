import * as tf from '@tensorflow/tfjs';
import { layerNorm } from '../../src/ops/layerNorm';
import { setFusedKernelsEnabled } from '../../src/ops/kernels';
import { gradientMismatches, OP_PATHS, read, tensorsLeft, values, worstRatio } from './opHarness';
import * as ref from './reference';

const N = 5;
const D = 8;

describe.each(OP_PATHS)('layerNorm ($name)', ({ setUp }) => {
  beforeAll(setUp);
  afterAll(() => setFusedKernelsEnabled(true));

  test('normalises each row to zero mean and unit variance, then scales and shifts; a constant row gives beta', async () => {
    const x = values(N * D, 11, 3);
    x.fill(2.5, 0, D); // a constant row: variance 0, kept finite by eps
    const gamma = values(D, 12, 2);
    const beta = values(D, 13);
    const got = await read(() => layerNorm(tf.tensor2d(x, [N, D]), tf.tensor1d(gamma), tf.tensor1d(beta)));
    expect(worstRatio(got, ref.layerNorm(x, gamma, beta, N, D, 1e-6), 1e-5, 1e-4)).toBeLessThanOrEqual(1);
    expect(worstRatio(got.subarray(0, D), beta, 1e-6, 0)).toBeLessThanOrEqual(1);
  });

  test('its gradient (x, gamma, beta) equals central finite differences, element by element', async () => {
    const inputs = [tf.tensor2d(values(N * D, 21, 2), [N, D]), tf.tensor1d(values(D, 22, 2)), tf.tensor1d(values(D, 23))];
    expect(await gradientMismatches((x, g, b) => layerNorm(x as tf.Tensor2D, g as tf.Tensor1D, b as tf.Tensor1D), inputs)).toEqual([]);
    tf.dispose(inputs);
  });

  test('leaves no tensor behind, forward or backward', () => {
    const inputs = [tf.tensor2d(values(N * D, 31), [N, D]), tf.ones([D]), tf.zeros([D])] as [tf.Tensor2D, tf.Tensor1D, tf.Tensor1D];
    expect(tensorsLeft(() => tf.dispose(tf.grads((x, g, b) => tf.sum(layerNorm(x as tf.Tensor2D, g as tf.Tensor1D, b as tf.Tensor1D)))(inputs)))).toBe(0);
    expect(tensorsLeft(() => layerNorm(...inputs).dispose())).toBe(0);
    tf.dispose(inputs);
  });
});
