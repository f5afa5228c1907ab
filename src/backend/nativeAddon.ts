/**
 * Loads the optional N-API addon built from native/ at install time (scripts/build-native.js).
 * A missing or broken build is not an error: callers get `null` and a reason, and the wasm kernels stay.
 */
import * as fs from 'fs';
import * as path from 'path';

/** Offsets are byte offsets into `heap` (a Float32Array over the whole wasm memory); strides are in floats. */
export interface NativeAddon {
  gemm(
    heap: Float32Array, batch: number, M: number, N: number, K: number,
    aOff: number, lda: number, transA: number, strideA: number,
    bOff: number, ldb: number, transB: number, strideB: number,
    cOff: number, ldc: number, strideC: number,
    alpha: number, accumulate: number, biasOff: number, biasLen: number, act: number, maxThreads?: number,
  ): void;
  gelu(heap: Float32Array, xOff: number, yOff: number, n: number): void;
  geluGrad(heap: Float32Array, dyOff: number, xOff: number, dxOff: number, n: number): void;
  layerNorm(
    heap: Float32Array, xOff: number, gammaOff: number, betaOff: number,
    yOff: number, meanOff: number, rstdOff: number, N: number, D: number, eps: number,
  ): void;
  layerNormGrad(
    heap: Float32Array, dyOff: number, xOff: number, gammaOff: number, meanOff: number, rstdOff: number,
    dxOff: number, dgammaOff: number, dbetaOff: number, N: number, D: number,
  ): void;
  attention(
    heap: Float32Array, qkvOff: number, outOff: number, probsOff: number,
    B: number, T: number, H: number, hd: number, scale: number,
  ): void;
  attentionGrad(
    heap: Float32Array, doutOff: number, qkvOff: number, probsOff: number, dqkvOff: number,
    B: number, T: number, H: number, hd: number, scale: number,
  ): void;
  adamw(
    heap: Float32Array, pOff: number, gOff: number, mOff: number, vOff: number,
    pOutOff: number, mOutOff: number, vOutOff: number, n: number,
    lr: number, beta1: number, beta2: number, eps: number, weightDecay: number, step: number,
    clip?: number, teacherOff?: number, teacherOutOff?: number, momentum?: number,
  ): void;
  reduceSum(heap: Float32Array, xOff: number, yOff: number, outer: number, reduce: number, inner: number, scale: number): void;
  /** 0 fp32, 1 bf16 with VDPBF16PS, 2 bf16 emulated with fp32 FMAs; false when refused (1 without AVX512_BF16). */
  setPrecision(p: 0 | 1 | 2): boolean;
  getPrecision(): number;
  /** cpuid: the CPU has AVX512_BF16 (VDPBF16PS). */
  readonly hasAvx512Bf16: boolean;
  setThreads(n: number): number;
  getThreads(): number;
  readonly isa: string;
  readonly vectorWidth: number;
}

export interface AddonLoad {
  addon: NativeAddon | null;
  path: string | null;
  reason: string;
}

let cached: AddonLoad | undefined;

/** The package root: the nearest ancestor holding native/binding.gyp (works from src/ under ts-jest and from dist/). */
function findRoot(start: string): string | null {
  let dir = start;
  for (;;) {
    if (fs.existsSync(path.join(dir, 'native', 'binding.gyp'))) return dir;
    const up = path.dirname(dir);
    if (up === dir) return null;
    dir = up;
  }
}

/** Candidate locations of the built addon; DINO_NATIVE_PATH overrides. */
export function addonCandidates(): string[] {
  const out: string[] = [];
  if (process.env.DINO_NATIVE_PATH) out.push(path.resolve(process.env.DINO_NATIVE_PATH));
  const root = findRoot(__dirname);
  if (root) {
    out.push(path.join(root, 'native', 'build', 'Release', 'dino_native.node'));
    out.push(path.join(root, 'native', 'build', 'Debug', 'dino_native.node'));
  }
  return out;
}

/** Loads the addon once per module registry; never throws. */
export function loadNativeAddon(): AddonLoad {
  if (cached) return cached;
  const tried: string[] = [];
  for (const file of addonCandidates()) {
    if (!fs.existsSync(file)) {
      tried.push(`${file} (missing)`);
      continue;
    }
    try {
      // eslint-disable-next-line @typescript-eslint/no-var-requires
      const addon = require(file) as NativeAddon;
      if (typeof addon.gemm !== 'function') throw new Error('not the dino_native addon');
      cached = { addon, path: file, reason: `loaded ${file} (${addon.isa})` };
      return cached;
    } catch (e) {
      tried.push(`${file} (${(e as Error).message.split('\n')[0]})`);
    }
  }
  cached = {
    addon: null,
    path: null,
    reason: tried.length ? `native addon not usable: ${tried.join('; ')}` : 'native addon not built (no native/ directory found)',
  };
  return cached;
}
