import * as tf from '@tensorflow/tfjs';
import { matMul } from '../../src/ops/matMul';
import { setFusedKernelsEnabled } from '../../src/ops/kernels';
import { gradientMismatches, OP_PATHS, read, tensorsLeft, values, worstRatio } from './opHarness';
import * as ref from './reference';

const [M, K, N] = [3, 4, 5];
const TRANSPOSES = [
  [false, false],
  [true, false],
  [false, true],
  [true, true],
] as const;

describe.each(OP_PATHS)('matMul ($name)', ({ setUp }) => {
  beforeAll(setUp);
  afterAll(() => setFusedKernelsEnabled(true));
  const av = values(M * K, 71);
  const bv = values(K * N, 72);
  const a = (ta: boolean) => tf.tensor2d(av, ta ? [K, M] : [M, K]);
  const b = (tb: boolean) => tf.tensor2d(bv, tb ? [N, K] : [K, N]);

  test.each(TRANSPOSES)('2-D, transposeA %p, transposeB %p: op(A) op(B)', async (ta, tb) => {
    const got = await read(() => matMul(a(ta), b(tb), ta, tb));
    expect(worstRatio(got, ref.matMul(av, bv, M, K, N, ta, tb), 1e-5, 1e-5)).toBeLessThanOrEqual(1);
  });

  test('batched 3-D with transposeB, as attention uses it: each batch its own product', async () => {
    const [x, y] = [values(2 * M * K, 73), values(2 * N * K, 74)];
    const got = await read(() => matMul(tf.tensor3d(x, [2, M, K]), tf.tensor3d(y, [2, N, K]), false, true));
    const want = [0, 1].flatMap((i) => Array.from(ref.matMul(x.subarray(i * M * K), y.subarray(i * N * K), M, K, N, false, true)));
    expect(worstRatio(got, want, 1e-5, 1e-5)).toBeLessThanOrEqual(1);
  });

  test.each(TRANSPOSES)('gradients for transposeA %p, transposeB %p equal central finite differences', async (ta, tb) => {
    const [A, Bt] = [a(ta), b(tb)];
    expect(await gradientMismatches((x, y) => matMul(x!, y!, ta, tb), [A, Bt])).toEqual([]);
    tf.dispose([A, Bt]);
  });

  test('leaves no tensor behind, forward or backward', () => {
    const [A, Bt] = [a(true), b(true)];
    expect(tensorsLeft(() => tf.dispose(tf.grads((x, y) => tf.sum(matMul(x!, y!, true, true)))([A, Bt])))).toBe(0);
    expect(tensorsLeft(() => matMul(A, Bt, true, true).dispose())).toBe(0);
    tf.dispose([A, Bt]);
  });
});
