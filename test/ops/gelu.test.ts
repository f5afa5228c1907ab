import * as tf from '@tensorflow/tfjs';
import { gelu } from '../../src/ops/gelu';
import { setFusedKernelsEnabled } from '../../src/ops/kernels';
import { gradientMismatches, OP_PATHS, read, tensorsLeft, values, worstRatio } from './opHarness';
import * as ref from './reference';

const XS = [-9, -6, -3, -1, -0.5, -1e-4, 0, 1e-4, 0.5, 1, 2, 3, 6, 9, ...values(50, 3, 4)];

describe.each(OP_PATHS)('gelu ($name)', ({ setUp }) => {
  beforeAll(setUp);
  afterAll(() => setFusedKernelsEnabled(true));

  test('equals the exact GELU, 0.5 x (1 + erf(x / sqrt 2)) as torch.nn.GELU, into both tails', async () => {
    expect(ref.gelu(1)).toBeCloseTo(0.8413447460685429, 12); // Phi(1), the reference itself
    const got = await read(() => gelu(tf.tensor1d(XS)));
    expect(worstRatio(got, XS.map(ref.gelu), 2e-6, 1e-5)).toBeLessThanOrEqual(1);
  });

  test('its gradient equals central finite differences, element by element', async () => {
    const x = tf.tensor2d(values(24, 5, 3), [4, 6]);
    expect(await gradientMismatches((t) => gelu(t), [x])).toEqual([]);
    x.dispose();
  });

  test('leaves no tensor behind, forward or backward', () => {
    const x = tf.tensor2d(values(24, 7, 3), [4, 6]);
    expect(tensorsLeft(() => tf.dispose(tf.grads((t: tf.Tensor) => tf.sum(gelu(t)))([x])))).toBe(0);
    expect(tensorsLeft(() => gelu(x).dispose())).toBe(0);
    x.dispose();
  });
});
