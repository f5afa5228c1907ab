/**
 * DinoMatMul: the GEMM whose output pass adds the bias, applies GELU (writing its derivative beside it), adds a
 * residual, multiplies by a matrix, and sums the columns of B while packing it, against float64, on each driver
 * (one thread; the task driver with B packed or read in place; split-K for weight gradients) and with bf16
 * matmuls (whose extras run as a pass of their own).
 */
import * as tf from '@tensorflow/tfjs';

import { selectBackend } from '../../src/backend/selectBackend';
import { nativeAddon } from '../../src/backend/nativeKernels';
import { erf } from '../ops/reference';
import { describeNative, expectClose, quiet, randArray, take, trackLeaks } from './helpers';

const run = (inputs: tf.NamedTensorMap, attrs: Record<string, unknown> = {}) =>
  tf.engine().runKernel('DinoMatMul', inputs, attrs as tf.NamedAttrMap) as unknown as tf.Tensor[];

const phi = (x: number) => Math.exp(-0.5 * x * x) / Math.sqrt(2 * Math.PI);
const cdf = (x: number) => 0.5 * (1 + erf(x / Math.SQRT2));

interface Case {
  name: string;
  M: number;
  N: number;
  K: number;
  tA?: boolean;
  tB?: boolean;
  act?: 'linear' | 'relu' | 'gelu';
  bias?: boolean;
  geluGrad?: boolean;
  residual?: boolean;
  mul?: boolean;
  colSumB?: boolean;
}

/** x rounded to bfloat16 (nearest even), as the bf16 GEMM rounds its operands. */
function bf16(x: Float32Array): Float32Array {
  const u = new Uint32Array(x.buffer.slice(0));
  for (let i = 0; i < u.length; i++) u[i] = ((u[i]! + 0x7fff + ((u[i]! >>> 16) & 1)) & 0xffff0000) >>> 0;
  return new Float32Array(u.buffer);
}

/** Everything DinoMatMul outputs, in float64 (the products of bf16-rounded operands when `round`). */
function reference(c: Case, a0: Float32Array, b: Float32Array, bias: Float32Array, res: Float32Array, mul: Float32Array, round: boolean) {
  const { M, N, K } = c;
  const a = round ? bf16(a0) : a0, bp = round ? bf16(b) : b;
  const out = new Float64Array(M * N), grad = new Float64Array(M * N), colSum = new Float64Array(N);
  for (let i = 0; i < M; i++)
    for (let j = 0; j < N; j++) {
      let s = 0;
      for (let k = 0; k < K; k++) s += a[c.tA ? k * M + i : i * K + k]! * bp[c.tB ? j * K + k : k * N + j]!;
      if (c.bias) s += bias[j]!;
      grad[i * N + j] = cdf(s) + s * phi(s);
      if (c.act === 'relu') s = Math.max(s, 0);
      if (c.act === 'gelu') s = s * cdf(s);
      if (c.residual) s += res[i * N + j]!;
      if (c.mul) s *= mul[i * N + j]!;
      out[i * N + j] = s;
    }
  for (let j = 0; j < N; j++) for (let k = 0; k < K; k++) colSum[j] += b[c.tB ? j * K + k : k * N + j]!;
  return { out, grad, colSum };
}

const CASES: Case[] = [
  { name: 'fc1 forward: bias + GELU and its derivative (tasks, B packed)', M: 130, N: 192, K: 400, act: 'gelu', bias: true, geluGrad: true },
  { name: 'fc1 forward: bias + GELU and its derivative (one thread)', M: 30, N: 20, K: 40, act: 'gelu', bias: true, geluGrad: true },
  { name: 'inference fc1: bias + GELU alone, several k-blocks', M: 70, N: 40, K: 600, act: 'gelu', bias: true },
  { name: 'proj / fc2 forward: bias + residual (one thread)', M: 97, N: 48, K: 72, bias: true, residual: true },
  { name: 'proj / fc2 forward: bias + residual (tasks, B read in place)', M: 200, N: 64, K: 300, bias: true, residual: true },
  { name: 'gradient through fc2 and GELU: dy W^T times the derivative', M: 65, N: 56, K: 24, tB: true, mul: true },
  { name: 'weight gradient with the bias gradient, split-K (K >> M, N)', M: 24, N: 40, K: 2600, tA: true, colSumB: true },
  { name: 'weight gradient with the bias gradient, one thread (small)', M: 7, N: 9, K: 13, tA: true, colSumB: true },
  { name: 'weight gradient with the bias gradient, tasks (B read in place)', M: 300, N: 32, K: 400, tA: true, colSumB: true },
  { name: 'column sums of a transposed B', M: 33, N: 21, K: 50, tB: true, colSumB: true },
  { name: 'every extra at once, partial tiles', M: 13, N: 19, K: 11, act: 'gelu', bias: true, geluGrad: true, residual: true, mul: true, colSumB: true },
  { name: 'relu and a residual', M: 40, N: 24, K: 30, act: 'relu', bias: true, residual: true },
];

beforeAll(async () => {
  await selectBackend({ backend: 'wasm', log: quiet });
});

trackLeaks();

describeNative('DinoMatMul', () => {
  for (const precision of [0, 2] as const) {
    const label = precision === 0 ? 'fp32' : 'bf16 (emulated)';
    describe(label, () => {
      beforeAll(() => nativeAddon()!.setPrecision(precision));
      afterAll(() => nativeAddon()!.setPrecision(0));
      for (const c of CASES) {
        it(c.name, () => {
          const { M, N, K } = c;
          const a = randArray(M * K, M + K, 0.7), b = randArray(K * N, N + 3, 0.7);
          const bias = randArray(N, 5), res = randArray(M * N, 6), mul = randArray(M * N, 7);
          const want = reference(c, a, b, bias, res, mul, precision !== 0);
          const outs = tf.tidy(() => run(
            {
              a: tf.tensor2d(a, c.tA ? [K, M] : [M, K]), b: tf.tensor2d(b, c.tB ? [N, K] : [K, N]),
              ...(c.bias ? { bias: tf.tensor1d(bias) } : {}),
              ...(c.residual ? { residual: tf.tensor2d(res, [M, N]) } : {}),
              ...(c.mul ? { mul: tf.tensor2d(mul, [M, N]) } : {}),
            },
            { transposeA: !!c.tA, transposeB: !!c.tB, activation: c.act ?? 'linear', geluGrad: !!c.geluGrad, colSumB: !!c.colSumB },
          ));
          expect(outs.map((t) => t.shape)).toEqual([[M, N], ...(c.geluGrad ? [[M, N]] : []), ...(c.colSumB ? [[N]] : [])]);
          const got = take(outs);
          expectClose(got[0]!, want.out, 2e-5 * Math.sqrt(K), 1e-3);
          let k = 1;
          if (c.geluGrad) expectClose(got[k++]!, want.grad, 1e-5, 1e-3);
          if (c.colSumB) expectClose(got[k++]!, want.colSum, 1e-4 * Math.sqrt(K), 1e-5);
        });
      }
    });
  }

  it('refuses a derivative without GELU and operands that do not fit, naming the problem', () => {
    const tidyRun = (inputs: () => tf.NamedTensorMap, attrs: Record<string, unknown> = {}) => () => tf.tidy(() => run(inputs(), attrs));
    const ab = () => ({ a: tf.zeros([4, 3]), b: tf.zeros([3, 5]) });
    expect(tidyRun(ab, { geluGrad: true })).toThrow(/geluGrad needs activation gelu/);
    expect(tidyRun(() => ({ a: tf.zeros([4, 3]), b: tf.zeros([4, 5]) }))).toThrow(/inner dimensions/);
    expect(tidyRun(() => ({ ...ab(), residual: tf.zeros([5, 4]) }))).toThrow(/residual must be \[4, 5\]/);
    expect(tidyRun(ab, { activation: 'tanh' })).toThrow(/activation tanh/);
  });
});
