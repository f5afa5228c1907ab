import * as tf from '@tensorflow/tfjs';
import { l2Norm, l2Normalize } from '../../src/ops/l2';
import { setFusedKernelsEnabled } from '../../src/ops/kernels';
import { gradientMismatches, OP_PATHS, read, tensorsLeft, values, worstRatio } from './opHarness';

const [N, D] = [4, 6];

describe.each(OP_PATHS)('l2Norm and l2Normalize ($name)', ({ setUp }) => {
  beforeAll(setUp);
  afterAll(() => setFusedKernelsEnabled(true));
  const xs = values(N * D, 61, 2);
  const rowNorms = Array.from({ length: N }, (_, i) => Math.hypot(...xs.subarray(i * D, (i + 1) * D)));

  test('the norm of each row (kept as a column on request) and of everything; rows scaled to unit length, a zero row stays 0', async () => {
    const x = () => tf.tensor2d(xs, [N, D]);
    expect(worstRatio(await read(() => l2Norm(x(), 1)), rowNorms, 1e-6, 1e-6)).toBeLessThanOrEqual(1);
    expect(tf.tidy(() => l2Norm(x(), 1, true).shape)).toEqual([N, 1]);
    expect((await read(() => l2Norm(x())))[0]).toBeCloseTo(Math.hypot(...xs), 4);
    const withZero = xs.slice();
    withZero.fill(0, 0, D);
    const unit = await read(() => l2Normalize(tf.tensor2d(withZero, [N, D])));
    expect(Array.from(unit.subarray(0, D))).toEqual(new Array(D).fill(0));
    const want = Array.from(withZero, (v, i) => (i < D ? 0 : v / rowNorms[Math.floor(i / D)]!));
    expect(worstRatio(unit, want, 1e-6, 1e-5)).toBeLessThanOrEqual(1);
  });

  test('their gradients equal central finite differences, element by element', async () => {
    const x = tf.tensor2d(xs, [N, D]);
    expect(await gradientMismatches((t) => l2Norm(t, 1), [x])).toEqual([]);
    expect(await gradientMismatches((t) => l2Normalize(t as tf.Tensor2D), [x])).toEqual([]);
    x.dispose();
  });

  test('leave no tensor behind, forward or backward', () => {
    const x = tf.tensor2d(xs, [N, D]);
    expect(tensorsLeft(() => tf.dispose(tf.grads((t: tf.Tensor) => tf.sum(l2Normalize(t as tf.Tensor2D)))([x])))).toBe(0);
    expect(tensorsLeft(() => tf.dispose(tf.grads((t: tf.Tensor) => tf.sum(l2Norm(t, 1, true)))([x])))).toBe(0);
    x.dispose();
  });
});
