/** Native BatchMatMul / _FusedMatMul on the wasm backend against a float64 reference, and the fallbacks. */
import * as tf from '@tensorflow/tfjs';

import { selectBackend } from '../../src/backend/selectBackend';
import { nativeKernelsActive, registerNativeKernels, unregisterNativeKernels } from '../../src/backend/nativeKernels';
import { planMatMul } from '../../src/backend/matmulKernels';
import { describeNative, expectClose, nativeAvailable, quiet, randArray, take, trackLeaks, useCpu } from './helpers';

/** C = op(A) op(B) (+ bias, relu) in float64 with batch broadcasting of a size-1 batch. */
function refMatMul(
  a: Float32Array, aShape: number[], b: Float32Array, bShape: number[], tA: boolean, tB: boolean,
  bias?: Float32Array, relu = false,
): Float64Array {
  const ra = aShape.length, rb = bShape.length;
  const M = tA ? aShape[ra - 1] : aShape[ra - 2], K = tA ? aShape[ra - 2] : aShape[ra - 1];
  const N = tB ? bShape[rb - 2] : bShape[rb - 1];
  const batchA = a.length / (M * K), batchB = b.length / (K * N), batch = Math.max(batchA, batchB);
  const out = new Float64Array(batch * M * N);
  for (let p = 0; p < batch; p++) {
    const ao = (batchA === 1 ? 0 : p) * M * K, bo = (batchB === 1 ? 0 : p) * K * N;
    for (let i = 0; i < M; i++) {
      for (let j = 0; j < N; j++) {
        let s = 0;
        for (let k = 0; k < K; k++) {
          s += a[ao + (tA ? k * M + i : i * K + k)] * b[bo + (tB ? j * K + k : k * N + j)];
        }
        if (bias) s += bias.length === 1 ? bias[0] : bias[j];
        if (relu && s < 0) s = 0;
        out[p * M * N + i * N + j] = s;
      }
    }
  }
  return out;
}

function shapes(batchA: number[], batchB: number[], M: number, N: number, K: number, tA: boolean, tB: boolean) {
  return {
    aShape: [...batchA, ...(tA ? [K, M] : [M, K])],
    bShape: [...batchB, ...(tB ? [N, K] : [K, N])],
  };
}

const SIZES: Array<[number, number, number]> = [
  [1, 1, 1], [7, 65, 257], [65, 7, 1], [257, 65, 7], [1, 257, 65], [33, 48, 300],
];
const TRANSPOSES: Array<[boolean, boolean]> = [[false, false], [true, false], [false, true], [true, true]];

function checkMatMul(batchA: number[], batchB: number[], M: number, N: number, K: number, tA: boolean, tB: boolean) {
  const { aShape, bShape } = shapes(batchA, batchB, M, N, K, tA, tB);
  const ad = randArray(aShape.reduce((x, y) => x * y, 1), M * 31 + K);
  const bd = randArray(bShape.reduce((x, y) => x * y, 1), N * 17 + K + 1);
  const [got] = take(tf.tidy(() => tf.matMul(tf.tensor(ad, aShape), tf.tensor(bd, bShape), tA, tB)));
  expectClose(got, refMatMul(ad, aShape, bd, bShape, tA, tB), 1e-4, 1e-4);
}

beforeAll(async () => {
  await selectBackend({ backend: 'wasm', log: quiet });
});

trackLeaks();

describe('planMatMul', () => {
  it('covers equal batches and one-sided broadcast, rejects the rest', () => {
    expect(planMatMul([5, 3, 4], [5, 4, 2], false, false)).toMatchObject({ batch: 5, M: 3, N: 2, K: 4, strideA: 12, strideB: 8 });
    expect(planMatMul([5, 3, 4], [4, 2], false, false)).toMatchObject({ batch: 5, strideB: 0, outShape: [5, 3, 2] });
    expect(planMatMul([1, 4, 3], [6, 4, 2], true, false)).toMatchObject({ batch: 6, M: 3, strideA: 0, outShape: [6, 3, 2] });
    expect(planMatMul([2, 3, 4], [3, 4, 2], false, false)).toBeNull();
    expect(planMatMul([3, 4], [5, 2], false, false)).toBeNull();
  });
});

describeNative('native BatchMatMul', () => {
  it('is registered for wasm', () => {
    expect(nativeKernelsActive()).toBe(true);
  });

  for (const [M, N, K] of SIZES) {
    for (const [tA, tB] of TRANSPOSES) {
      it(`2-D ${M}x${K} . ${K}x${N} tA=${tA} tB=${tB}`, () => checkMatMul([], [], M, N, K, tA, tB));
    }
  }

  for (const [tA, tB] of TRANSPOSES) {
    it(`3-D batched tA=${tA} tB=${tB}`, () => checkMatMul([3], [3], 17, 65, 33, tA, tB));
    it(`3-D broadcast of b tA=${tA} tB=${tB}`, () => checkMatMul([4], [1], 65, 7, 19, tA, tB));
    it(`3-D broadcast of a tA=${tA} tB=${tB}`, () => checkMatMul([1], [4], 9, 31, 65, tA, tB));
  }

  it('rank-4 operands and a 2-D b broadcast over a 3-D a', () => {
    checkMatMul([2, 3], [2, 3], 5, 6, 7, false, true);
    checkMatMul([3], [], 65, 192, 48, false, false);
  });

  it('bench-sized shape (multi-threaded path, several k blocks)', () => {
    checkMatMul([], [], 300, 200, 600, true, false);
  });

  it('weight-gradient shape, K >> M, N (split-K path), all transposes', () => {
    for (const [tA, tB] of TRANSPOSES) checkMatMul([], [], 40, 48, 2100, tA, tB);
  });

  it('inputs living on the cpu backend are moved into the wasm heap (growing it) before the heap is read', async () => {
    const heapBytes = () => (tf.backend() as unknown as { wasm: { HEAPU8: Uint8Array } }).wasm.HEAPU8.buffer.byteLength;
    const before = heapBytes();
    const K = 8, N = 3, M = Math.ceil(before / 4 / K) + 4096; // a alone is larger than the whole heap
    const ad = new Float32Array(M * K);
    for (let i = 0; i < ad.length; i++) ad[i] = ((i * 7919) % 1999) / 1999 - 0.5; // cheap, non-trivial pattern
    const bd = randArray(K * N, 42);
    await useCpu();
    const a = tf.tensor(ad, [M, K]), b = tf.tensor(bd, [K, N]);
    await tf.setBackend('wasm');
    const [c] = take(tf.tidy(() => tf.matMul(a, b)));
    tf.dispose([a, b]);
    expect(heapBytes()).toBeGreaterThan(before);
    for (const i of [0, 1, M >> 1, M - 1]) {
      for (let j = 0; j < N; j++) {
        let ref = 0;
        for (let k = 0; k < K; k++) ref += ad[i * K + k] * bd[k * N + j];
        expect(c[i * N + j]).toBeCloseTo(ref, 4);
      }
    }
  });

  it('zero-sized outputs', () => {
    const out = tf.tidy(() => tf.matMul(tf.zeros([0, 4]), tf.zeros([4, 3])));
    expect(out.shape).toEqual([0, 3]);
    out.dispose();
  });

  it('falls back to the wasm kernel for an unsupported broadcast (and agrees with the error)', () => {
    expect(() => tf.tidy(() => tf.matMul(tf.ones([2, 3, 4]), tf.ones([3, 4, 2])))).toThrow();
  });
});

describeNative('native _FusedMatMul', () => {
  const M = 65, N = 48, K = 37;
  const ad = randArray(M * K, 1), bd = randArray(K * N, 2), biasd = randArray(N, 3);

  for (const [tA, tB] of TRANSPOSES) {
    it(`bias + relu tA=${tA} tB=${tB}`, () => {
      const { aShape, bShape } = shapes([], [], M, N, K, tA, tB);
      const a = tA ? transpose2d(ad, M, K) : ad, b = tB ? transpose2d(bd, K, N) : bd;
      const [got] = take(tf.tidy(() => tf.fused.matMul({
        a: tf.tensor(a, aShape), b: tf.tensor(b, bShape), transposeA: tA, transposeB: tB,
        bias: tf.tensor1d(biasd), activation: 'relu',
      })));
      expectClose(got, refMatMul(a, aShape, b, bShape, tA, tB, biasd, true), 1e-4, 1e-4);
    });
  }

  it('bias + relu on the split-K path (K >> M, N)', () => {
    const m = 40, n = 48, k = 2100;
    const a = randArray(k * m, 31), b = randArray(k * n, 32), bias = randArray(n, 33);
    const [got] = take(tf.tidy(() => tf.fused.matMul({
      a: tf.tensor(a, [k, m]), b: tf.tensor(b, [k, n]), transposeA: true, bias: tf.tensor1d(bias), activation: 'relu',
    })));
    expectClose(got, refMatMul(a, [k, m], b, [k, n], true, false, bias, true), 1e-3, 1e-4);
  });

  it('linear without bias and with a scalar bias', () => {
    const [plain, scalar] = take(tf.tidy(() => [
      tf.fused.matMul({ a: tf.tensor(ad, [M, K]), b: tf.tensor(bd, [K, N]) }),
      tf.fused.matMul({ a: tf.tensor(ad, [M, K]), b: tf.tensor(bd, [K, N]), bias: tf.scalar(0.5) }),
    ]));
    expectClose(plain, refMatMul(ad, [M, K], bd, [K, N], false, false));
    expectClose(scalar, refMatMul(ad, [M, K], bd, [K, N], false, false, new Float32Array([0.5])));
  });

  it('falls back to the wasm kernel for prelu and leakyrelu', () => {
    const ref = refMatMul(ad, [M, K], bd, [K, N], false, false, biasd);
    const [prelu, leaky] = take(tf.tidy(() => [
      tf.fused.matMul({
        a: tf.tensor(ad, [M, K]), b: tf.tensor(bd, [K, N]), bias: tf.tensor1d(biasd),
        activation: 'prelu', preluActivationWeights: tf.scalar(0.25),
      }),
      tf.fused.matMul({
        a: tf.tensor(ad, [M, K]), b: tf.tensor(bd, [K, N]), bias: tf.tensor1d(biasd),
        activation: 'leakyrelu', leakyreluAlpha: 0.1,
      }),
    ]));
    expectClose(prelu, ref.map((v) => (v < 0 ? 0.25 * v : v)), 1e-4, 1e-4);
    expectClose(leaky, ref.map((v) => (v < 0 ? 0.1 * v : v)), 1e-4, 1e-4);
  });

  it('gradients of a fused matMul (transposed matMuls in the backward) match the reference', () => {
    const dy = randArray(M * N, 4);
    const [da, db] = take(tf.tidy(() => tf.grads((x: tf.Tensor, y: tf.Tensor) =>
      tf.fused.matMul({ a: x as tf.Tensor2D, b: y as tf.Tensor2D }))(
      [tf.tensor(ad, [M, K]), tf.tensor(bd, [K, N])], tf.tensor(dy, [M, N]))));
    expectClose(da, refMatMul(dy, [M, N], bd, [K, N], false, true), 1e-4, 1e-4);
    expectClose(db, refMatMul(ad, [M, K], dy, [M, N], true, false), 1e-4, 1e-4);
  });
});

function transpose2d(x: Float32Array, rows: number, cols: number): Float32Array {
  const out = new Float32Array(x.length);
  for (let i = 0; i < rows; i++) for (let j = 0; j < cols; j++) out[j * rows + i] = x[i * cols + j];
  return out;
}

describe('wasm kernels without the native path (fallback)', () => {
  beforeAll(() => unregisterNativeKernels());
  afterAll(() => {
    if (nativeAvailable) registerNativeKernels();
  });

  it('uses the original kernels', () => {
    expect(nativeKernelsActive()).toBe(false);
    expect(tf.getKernel('DinoGelu', 'wasm')).toBeUndefined();
  });

  for (const [tA, tB] of TRANSPOSES) {
    it(`matMul 3-D broadcast tA=${tA} tB=${tB}`, () => checkMatMul([3], [1], 7, 65, 17, tA, tB));
  }

  it('fused matMul with bias + relu', () => {
    const ad = randArray(7 * 9, 5), bd = randArray(9 * 5, 6), biasd = randArray(5, 7);
    const [got] = take(tf.tidy(() => tf.fused.matMul({
      a: tf.tensor(ad, [7, 9]), b: tf.tensor(bd, [9, 5]), bias: tf.tensor1d(biasd), activation: 'relu',
    })));
    expectClose(got, refMatMul(ad, [7, 9], bd, [9, 5], false, false, biasd, true), 1e-4, 1e-4);
  });
});

describeNative('copy-free Identity on wasm', () => {
  it('clone shares the buffer, survives disposing the original, and keeps gradients', () => {
    const x = tf.tensor1d([1, 2, 3]);
    const y = tf.clone(x);
    x.dispose();
    expect(Array.from(y.dataSync())).toEqual([1, 2, 3]);
    y.dispose();
    const [g] = take(tf.tidy(() => tf.grad((v: tf.Tensor) => tf.sum(tf.mul(tf.clone(v), v)))(tf.tensor1d([1, -2]))));
    expect(Array.from(g)).toEqual([2, -4]);
    const s = tf.tensor(['a', 'b']); // strings keep the original kernel
    const sc = tf.clone(s);
    s.dispose();
    expect(sc.dataSync()).toEqual(['a', 'b']);
    sc.dispose();
  });

  it('a variable assigned from a clone is independent of later disposals', () => {
    const z = tf.zeros([4]);
    const v = tf.variable(z);
    z.dispose();
    const src = tf.tensor1d([5, 6, 7, 8]);
    const c = tf.clone(src);
    v.assign(c);
    c.dispose();
    src.dispose();
    expect(Array.from(v.dataSync())).toEqual([5, 6, 7, 8]);
    v.dispose();
  });
});
