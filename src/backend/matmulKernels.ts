/**
 * Native replacements for the wasm backend's BatchMatMul and _FusedMatMul. Supported cases (float32, any rank
 * >= 2 with equal batch dims or one side broadcast, bias of N or 1 elements, activation linear/relu) run the
 * addon's SGEMM straight on the wasm heap; everything else calls the original wasm kernel.
 */
import type * as tf from '@tensorflow/tfjs';

import type { NativeAddon } from './nativeAddon';
import { heapF32, offsetOf, sizeOf, WasmBackendLike } from './wasmHeap';

export interface MatMulPlan {
  batch: number;
  M: number;
  N: number;
  K: number;
  strideA: number;
  strideB: number;
  outShape: number[];
}

/** Shapes -> GEMM plan, or null when the native path does not cover the case (the original kernel decides). */
export function planMatMul(
  aShape: readonly number[], bShape: readonly number[], transposeA: boolean, transposeB: boolean,
): MatMulPlan | null {
  const ra = aShape.length, rb = bShape.length;
  if (ra < 2 || rb < 2) return null;
  const M = transposeA ? aShape[ra - 1] : aShape[ra - 2];
  const Ka = transposeA ? aShape[ra - 2] : aShape[ra - 1];
  const Kb = transposeB ? bShape[rb - 1] : bShape[rb - 2];
  const N = transposeB ? bShape[rb - 2] : bShape[rb - 1];
  if (Ka !== Kb) return null;
  const outerA = aShape.slice(0, -2), outerB = bShape.slice(0, -2);
  const batchA = sizeOf(outerA), batchB = sizeOf(outerB);
  let outer: number[];
  if (batchA === batchB && sameShape(outerA, outerB)) outer = outerA.slice();
  else if (batchB === 1 && outerB.every((d) => d === 1) && outerA.length >= outerB.length) outer = outerA.slice();
  else if (batchA === 1 && outerA.every((d) => d === 1) && outerB.length >= outerA.length) outer = outerB.slice();
  else return null;
  const batch = sizeOf(outer);
  return {
    batch, M, N, K: Ka,
    strideA: batchA === 1 ? 0 : M * Ka,
    strideB: batchB === 1 ? 0 : Ka * N,
    outShape: [...outer, M, N],
  };
}

function sameShape(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

const ACT: Record<string, number | undefined> = { linear: 0, relu: 1 };

/** Runs C = act(op(A) op(B) + bias) for a plan; inputs and output are wasm tensors. */
function runGemm(
  addon: NativeAddon, backend: WasmBackendLike, plan: MatMulPlan, a: tf.TensorInfo, b: tf.TensorInfo,
  transposeA: boolean, transposeB: boolean, bias: tf.TensorInfo | null, act: number,
): tf.TensorInfo {
  // Input offsets first: looking one up can move a tensor from another backend into the heap (a malloc that
  // may grow the memory), so the heap view is taken only after that and after the output allocation.
  const aOff = offsetOf(backend, a), bOff = offsetOf(backend, b), biasOff = bias ? offsetOf(backend, bias) : -1;
  const out = backend.makeOutput(plan.outShape, 'float32');
  if (sizeOf(plan.outShape) === 0) return out;
  const { M, N, K } = plan;
  addon.gemm(
    heapF32(backend), plan.batch, M, N, K,
    aOff, transposeA ? M : K, transposeA ? 1 : 0, plan.strideA,
    bOff, transposeB ? K : N, transposeB ? 1 : 0, plan.strideB,
    offsetOf(backend, out), N, M * N,
    1, 0, biasOff, bias ? sizeOf(bias.shape) : 0, act,
  );
  return out;
}

export function makeBatchMatMul(addon: NativeAddon, original: tf.KernelFunc): tf.KernelFunc {
  return (args) => {
    const { a, b } = args.inputs as { a: tf.TensorInfo; b: tf.TensorInfo };
    const { transposeA, transposeB } = args.attrs as unknown as { transposeA: boolean; transposeB: boolean };
    const plan = a.dtype === 'float32' && b.dtype === 'float32'
      ? planMatMul(a.shape, b.shape, !!transposeA, !!transposeB) : null;
    if (plan === null) return original(args);
    return runGemm(addon, args.backend as unknown as WasmBackendLike, plan, a, b, !!transposeA, !!transposeB, null, 0);
  };
}

export function makeFusedMatMul(addon: NativeAddon, original: tf.KernelFunc): tf.KernelFunc {
  return (args) => {
    const { a, b, bias, preluActivationWeights } = args.inputs as {
      a: tf.TensorInfo; b: tf.TensorInfo; bias?: tf.TensorInfo; preluActivationWeights?: tf.TensorInfo;
    };
    const { transposeA, transposeB, activation } = args.attrs as unknown as {
      transposeA: boolean; transposeB: boolean; activation: string;
    };
    const act = ACT[activation ?? 'linear'];
    const plan = act !== undefined && preluActivationWeights == null && a.dtype === 'float32' && b.dtype === 'float32'
      ? planMatMul(a.shape, b.shape, !!transposeA, !!transposeB) : null;
    if (plan === null || act === undefined || (bias != null && !biasFits(bias, plan.N))) return original(args);
    return runGemm(addon, args.backend as unknown as WasmBackendLike, plan, a, b, !!transposeA, !!transposeB,
      bias ?? null, act);
  };
}

/** Bias the GEMM epilogue handles: float32, one value per output column ([N], [1, N], ...) or a scalar. */
function biasFits(bias: tf.TensorInfo, N: number): boolean {
  if (bias.dtype !== 'float32') return false;
  const size = sizeOf(bias.shape);
  if (size === 1) return true;
  return size === N && bias.shape[bias.shape.length - 1] === N;
}
