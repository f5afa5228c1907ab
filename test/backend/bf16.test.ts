/**
 * bf16 matmuls of the addon: operands rounded to bf16 (round to nearest even), products accumulated in fp32.
 * The emulation (fp32 FMAs, any CPU) is checked against a float64 product of the bf16-rounded operands, and shown
 * to differ from fp32 by what bf16 rounding predicts; VDPBF16PS is checked against the emulation where the CPU has
 * AVX512_BF16 (the same sums in the same order: equal but for subnormals) and skipped, saying so, elsewhere.
 */
import { loadNativeAddon } from '../../src/backend/nativeAddon';
import { describeNative, randArray } from './helpers';

/** fp32 -> bf16 -> fp32, round to nearest even, subnormals to zero (as VDPBF16PS reads them). */
const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

function roundBf16(x: number): number {
  const f = f32, u = u32;
  f[0] = x;
  if ((u[0]! & 0x7f800000) === 0) return 0 * Math.sign(x);
  if (Number.isNaN(x)) return NaN;
  u[0] = ((u[0]! + 0x7fff + ((u[0]! >>> 16) & 1)) >>> 16) << 16;
  return f[0]!;
}

interface Case { name: string; M: number; N: number; K: number; tA: boolean; tB: boolean; bias: boolean; relu: boolean; alpha: number }

const CASES: Case[] = [
  { name: 'forward Linear shape (rows x 192 -> 576), bias', M: 130, N: 576, K: 192, tA: false, tB: false, bias: true, relu: false, alpha: 1 },
  { name: 'weight gradient x^T dy (K = 1040 rows), odd tiles', M: 67, N: 45, K: 1040, tA: true, tB: false, bias: false, relu: false, alpha: 1 },
  { name: 'input gradient dy W^T, odd K, relu and alpha', M: 33, N: 70, K: 193, tA: false, tB: true, bias: true, relu: true, alpha: 0.5 },
  { name: 'attention-sized q k^T (T = 65, hd = 64)', M: 65, N: 65, K: 64, tA: false, tB: true, bias: false, relu: false, alpha: 0.125 },
];

describeNative('bf16 GEMM (native addon)', () => {
  const addon = loadNativeAddon().addon!;
  const hw = addon.hasAvx512Bf16;

  afterEach(() => addon.setPrecision(0));

  /** Runs one GEMM of a case at a precision; returns C and the operands. */
  function run(c: Case, precision: 0 | 1 | 2) {
    const A = randArray(c.M * c.K, 11), B = randArray(c.K * c.N, 12, 0.3), bias = randArray(c.N, 13);
    const heap = new Float32Array(A.length + B.length + bias.length + c.M * c.N);
    heap.set(A, 0);
    heap.set(B, A.length);
    heap.set(bias, A.length + B.length);
    const cOff = A.length + B.length + bias.length;
    expect(addon.setPrecision(precision)).toBe(true);
    addon.gemm(heap, 1, c.M, c.N, c.K, 0, c.tA ? c.M : c.K, c.tA ? 1 : 0, 0, 4 * A.length, c.tB ? c.K : c.N, c.tB ? 1 : 0, 0,
      4 * cOff, c.N, 0, c.alpha, 0, c.bias ? 4 * (A.length + B.length) : -1, c.bias ? c.N : 0, c.relu ? 1 : 0);
    addon.setPrecision(0);
    return { C: heap.slice(cOff), A, B, bias };
  }

  /** float64 C of the case from operands mapped by `round`, with |a||b| sums for the tolerance. */
  function reference(c: Case, A: Float32Array, B: Float32Array, bias: Float32Array, round: (x: number) => number) {
    // op(A) as [M, K] and op(B) as [N, K] rows, mapped once
    const a = new Float64Array(c.M * c.K), b = new Float64Array(c.N * c.K);
    for (let i = 0; i < c.M; i++) for (let k = 0; k < c.K; k++) a[i * c.K + k] = round(c.tA ? A[k * c.M + i]! : A[i * c.K + k]!);
    for (let j = 0; j < c.N; j++) for (let k = 0; k < c.K; k++) b[j * c.K + k] = round(c.tB ? B[j * c.K + k]! : B[k * c.N + j]!);
    const C = new Float64Array(c.M * c.N), mag = new Float64Array(c.M * c.N);
    for (let i = 0; i < c.M; i++) for (let j = 0; j < c.N; j++) {
      let s = 0, m = 0;
      for (let k = 0; k < c.K; k++) {
        const p = a[i * c.K + k]! * b[j * c.K + k]!;
        s += p;
        m += Math.abs(p);
      }
      let r = s * c.alpha + (c.bias ? bias[j]! : 0);
      if (c.relu) r = Math.max(r, 0);
      C[i * c.N + j] = r;
      mag[i * c.N + j] = m * c.alpha;
    }
    return { C, mag };
  }

  /** Largest |x - ref| / (sum |a b| + 1e-3) over C. */
  function worst(x: Float32Array, ref: { C: Float64Array; mag: Float64Array }): number {
    let w = 0;
    for (let i = 0; i < x.length; i++) w = Math.max(w, Math.abs(x[i]! - ref.C[i]!) / (ref.mag[i]! + 1e-3));
    return w;
  }

  test('rounding to bf16: nearest, ties to even, subnormals to zero', () => {
    expect(roundBf16(1 + 2 ** -8)).toBe(1); // a tie: 1 is even
    expect(roundBf16(1 + 3 * 2 ** -8)).toBe(1 + 2 ** -6); // a tie rounds up to even
    expect(roundBf16(1 + 2 ** -8 + 2 ** -20)).toBe(1 + 2 ** -7); // just above the tie
    expect(roundBf16(1e-39)).toBe(0);
  });

  test.each(CASES)('emulated bf16 = the float64 product of bf16-rounded operands, not fp32: $name', (c) => {
    const { C, A, B, bias } = run(c, 2);
    // fp32 accumulation of K exact products: error within ~K * 2^-24 of sum |a b|
    expect(worst(C, reference(c, A, B, bias, roundBf16))).toBeLessThan(c.K * 6e-8);
    // against unrounded operands the error is bf16's (2^-9 relative per operand), far above fp32's
    const vsFp32 = worst(C, reference(c, A, B, bias, (x) => x));
    expect(vsFp32).toBeGreaterThan(1e-4);
    expect(vsFp32).toBeLessThan(2 * 2 ** -8);
    const fp32 = run(c, 0).C;
    expect(worst(fp32, reference(c, A, B, bias, (x) => x))).toBeLessThan(c.K * 6e-8);
  });

  test('setPrecision refuses VDPBF16PS exactly when the CPU lacks AVX512_BF16, and unknown modes', () => {
    expect(addon.setPrecision(1)).toBe(hw);
    expect(addon.setPrecision(3 as 0)).toBe(false);
    addon.setPrecision(0);
    expect(addon.getPrecision()).toBe(0);
  });

  if (!hw) {
    test.skip('VDPBF16PS kernel = emulation (skipped: this CPU lacks avx512_bf16; run on an AVX512_BF16 CPU, e.g. Sapphire Rapids)', () => undefined);
  } else {
    test.each(CASES)('VDPBF16PS kernel = emulation, same sums in the same order: $name', (c) => {
      const hwC = run(c, 1).C, emC = run(c, 2).C;
      let w = 0;
      for (let i = 0; i < hwC.length; i++) w = Math.max(w, Math.abs(hwC[i]! - emC[i]!) / (Math.abs(emC[i]!) + 1e-30));
      expect(w).toBeLessThan(1e-6);
    });
  }
});
