/** The addon's raw interface: SharedArrayBuffer heaps (threaded wasm), strides/alpha/accumulate, bounds checks. */
import { loadNativeAddon } from '../../src/backend/nativeAddon';
import { describeNative, expectClose, randArray } from './helpers';

describeNative('dino_native addon', () => {
  const addon = loadNativeAddon().addon!;

  function refGemm(A: Float32Array, B: Float32Array, M: number, N: number, K: number, lda: number, ldb: number): Float64Array {
    const C = new Float64Array(M * N);
    for (let i = 0; i < M; i++) for (let j = 0; j < N; j++) {
      let s = 0;
      for (let k = 0; k < K; k++) s += A[i * lda + k] * B[k * ldb + j];
      C[i * N + j] = s;
    }
    return C;
  }

  it('computes on vectors one register of its ISA wide (wider ones ran in memory, ~30x slower on AVX2)', () => {
    const width: Record<string, number> = { avx512: 16, avx2: 8, generic: 4 };
    expect(addon.vectorWidth).toBe(width[addon.isa]);
  });

  for (const shared of [false, true]) {
    it(`gemm in place on a ${shared ? 'SharedArrayBuffer' : 'ArrayBuffer'} wasm memory, also after growth`, () => {
      const mem = new WebAssembly.Memory({ initial: 4, maximum: 64, shared });
      const M = 37, N = 29, K = 45, lda = 50, ldb = 31; // strided operands
      const A = randArray(M * lda, 1), B = randArray(K * ldb, 2);
      let heap = new Float32Array(mem.buffer);
      heap.set(A, 0);
      heap.set(B, 4096);
      const cOff = 4 * 16384;
      addon.gemm(heap, 1, M, N, K, 0, lda, 0, 0, 4 * 4096, ldb, 0, 0, cOff, N, 0, 1, 0, -1, 0, 0);
      expectClose(heap.subarray(16384, 16384 + M * N), refGemm(A, B, M, N, K, lda, ldb), 1e-4, 1e-4);
      // A view of the pre-growth buffer must not reach the new pages; a fresh view does.
      mem.grow(4);
      const grownOff = 4 * 65536 + 64;
      expect(() => addon.gemm(heap, 1, M, N, K, 0, lda, 0, 0, 4 * 4096, ldb, 0, 0, grownOff, N, 0, 1, 0, -1, 0, 0))
        .toThrow(/out of heap bounds/);
      heap = new Float32Array(mem.buffer);
      addon.gemm(heap, 1, M, N, K, 0, lda, 0, 0, 4 * 4096, ldb, 0, 0, grownOff, N, 0, 0.5, 0, -1, 0, 0);
      expectClose(heap.subarray(grownOff / 4, grownOff / 4 + M * N), refGemm(A, B, M, N, K, lda, ldb).map((v) => v / 2), 1e-4, 1e-4);
    });
  }

  it('accumulate adds to C', () => {
    const heap = new Float32Array(4096);
    heap.set([1, 2, 3, 4], 0); // A 2x2
    heap.set([1, 0, 0, 1], 16); // B = I
    heap.set([10, 20, 30, 40], 32); // C
    addon.gemm(heap, 1, 2, 2, 2, 0, 2, 0, 0, 64, 2, 0, 0, 128, 2, 0, 2, 1, -1, 0, 0);
    expect(Array.from(heap.subarray(32, 36))).toEqual([12, 24, 36, 48]);
  });

  it('rejects bad arguments instead of touching memory', () => {
    const heap = new Float32Array(64);
    expect(() => addon.gemm(heap, 1, 8, 8, 8, 0, 8, 0, 0, 0, 8, 0, 0, 4, 8, 0, 1, 0, -1, 0, 0)).toThrow(/bounds/);
    expect(() => addon.gemm(heap, 1, 2, 2, 2, 2, 2, 0, 0, 0, 2, 0, 0, 0, 2, 0, 1, 0, -1, 0, 0)).toThrow(/unaligned/);
    expect(() => addon.gelu(new Float64Array(4) as unknown as Float32Array, 0, 0, 4)).toThrow(/Float32Array/);
    expect(() => addon.gelu(heap, 0, 0, 65)).toThrow(/bounds/);
    expect(() => addon.gemm(heap, 1, 2, 2, 2, 0, 2, 0, 0, 16, 2, 0, 0, 32, 2, 0, 1, 0, -1, 0, 7)).toThrow(/activation/);
  });

  it('throws RangeError naming an overflow when a size product passes 2^63 (a wrapped extent would pass the bounds check)', () => {
    const heap = new Float32Array(64);
    const p20 = 2 ** 20, p12 = 2 ** 12, p31 = 2 ** 31 - 1;
    const cases: [string, () => void][] = [
      // B*T*3*H*hd = 3 * 2^64, B*T*D = 2^64, B*H*T*T = 2^72: all wrap to 0 and the kernel ran on the real sizes
      ['attention', () => addon.attention(heap, 0, 0, 0, p20, p20, p12, p12, 1)],
      ['attentionGrad', () => addon.attentionGrad(heap, 0, 0, 0, 0, p20, p20, p12, p12, 1)],
      // N*D = 2^34 * 2^30 = 2^64
      ['layerNorm', () => addon.layerNorm(heap, 0, 0, 0, 0, 0, 0, 2 ** 34, 2 ** 30, 1e-6)],
      ['layerNormGrad', () => addon.layerNormGrad(heap, 0, 0, 0, 0, 0, 0, 0, 0, 2 ** 34, 2 ** 30)],
      // outer*reduce*inner = 2^32 * 2^16 * 2^16 = 2^64
      ['reduceSum', () => addon.reduceSum(heap, 0, 0, 2 ** 32, 2 ** 16, 2 ** 16, 1)],
      // nothing to read (reduce 0), outer*inner = 2^64 to write
      ['reduceSum, empty reduction', () => addon.reduceSum(heap, 0, 0, 2 ** 32, 0, 2 ** 32, 1)],
      // (batch-1)*strideA = (2^31-2) * 2^33 > 2^63
      ['gemm batch stride', () => addon.gemm(heap, p31, 1, 1, 1, 0, 1, 0, 2 ** 33, 0, 1, 0, 0, 0, 1, 0, 1, 0, -1, 0, 0)],
      // (M-1)*lda = (2^31-2) * 2^33 > 2^63
      ['gemm row stride', () => addon.gemm(heap, 1, p31, 1, 1, 0, 2 ** 33, 0, 0, 0, 1, 0, 0, 0, 1, 0, 1, 0, -1, 0, 0)],
    ];
    for (const [name, call] of cases) {
      let err: unknown;
      try {
        call();
      } catch (e) {
        err = e;
      }
      // the addon's errors come from the main realm, not jest's sandbox: compare the class by name
      const e = err as Error | undefined;
      expect({ name, type: e?.name, message: e?.message }).toEqual({ name, type: 'RangeError', message: 'size overflow' });
    }
    // a large product that does not overflow is still a plain bounds error
    expect(() => addon.gelu(heap, 0, 0, 2 ** 52)).toThrow(/bounds/);
    expect(() => addon.layerNorm(heap, 0, 0, 0, 0, 0, 0, 2 ** 20, 2 ** 20, 1e-6)).toThrow(/bounds/);
  });

  it('a pool larger than the job sizes (idle workers) stays consistent over many mixed jobs', () => {
    const before = addon.getThreads();
    try {
      addon.setThreads(3);
      const heap = new Float32Array(1 << 20);
      const M = 400, N = 192, K = 150; // 23 MFLOP: enough for 3 threads
      const A = randArray(M * K, 5), B = randArray(K * N, 6);
      heap.set(A, 0);
      heap.set(B, M * K);
      const cOff = M * K + K * N;
      const ref = refGemm(A, B, M, N, K, K, N);
      for (let r = 0; r < 40; r++) {
        // alternate a multi-threaded GEMM with a capped one (maxThreads 2 of 3) and a tiny single-threaded one
        addon.gemm(heap, 1, M, N, K, 0, K, 0, 0, 4 * M * K, N, 0, 0, 4 * cOff, N, 0, 1, 0, -1, 0, 0, r % 2 ? 2 : 3);
        addon.gemm(heap, 1, 2, 2, 2, 0, K, 0, 0, 4 * M * K, N, 0, 0, 4 * (cOff + M * N), 2, 0, 1, 0, -1, 0, 0);
      }
      expectClose(heap.subarray(cOff, cOff + M * N), ref, 1e-4, 1e-4);
    } finally {
      addon.setThreads(before);
    }
  });

  it('thread pool can be resized and still computes', () => {
    const before = addon.getThreads();
    try {
      expect(addon.setThreads(1)).toBe(1);
      const heap = new Float32Array(1 << 20);
      const M = 300, N = 200, K = 100;
      const A = randArray(M * K, 3), B = randArray(K * N, 4);
      heap.set(A, 0);
      heap.set(B, M * K);
      addon.gemm(heap, 1, M, N, K, 0, K, 0, 0, 4 * M * K, N, 0, 0, 4 * (M * K + K * N), N, 0, 1, 0, -1, 0, 0);
      const one = heap.slice(M * K + K * N, M * K + K * N + M * N);
      expect(addon.setThreads(2)).toBe(2);
      addon.gemm(heap, 1, M, N, K, 0, K, 0, 0, 4 * M * K, N, 0, 0, 4 * (M * K + K * N), N, 0, 1, 0, -1, 0, 0);
      expectClose(heap.subarray(M * K + K * N, M * K + K * N + M * N), one, 1e-5, 1e-5);
      expectClose(one, refGemm(A, B, M, N, K, K, N), 1e-4, 1e-4);
    } finally {
      addon.setThreads(before);
    }
  });
});
