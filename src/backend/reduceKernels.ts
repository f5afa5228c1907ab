/**
 * Native Sum / Mean for the wasm backend. tfjs-backend-wasm reduces only innermost axes, so reducing axis 0
 * (bias gradients: sum of dY over the rows) first transposes the whole input; here any contiguous block of axes
 * is reduced in place as [outer, reduce, inner]. Other cases (non-contiguous axes, non-float32) use the original.
 */
import * as tf from '@tensorflow/tfjs';

import type { NativeAddon } from './nativeAddon';
import { heapF32, offsetOf, sizeOf, WasmBackendLike } from './wasmHeap';

export interface ReducePlan {
  outer: number;
  reduce: number;
  inner: number;
  outShape: number[];
}

/** [outer, reduce, inner] view of a reduction over `axis`, or null if the axes are not one contiguous block. */
export function planReduce(shape: readonly number[], axis: number | number[] | null | undefined, keepDims: boolean): ReducePlan | null {
  if (shape.length === 0) return null;
  const axes = tf.util.parseAxisParam(axis ?? shape.map((_, i) => i), shape as number[]).slice().sort((a, b) => a - b);
  if (axes.length === 0) return null;
  for (let i = 1; i < axes.length; i++) if (axes[i] !== axes[i - 1] + 1) return null;
  const a0 = axes[0], a1 = axes[axes.length - 1];
  const outShape = keepDims
    ? shape.map((d, i) => (i >= a0 && i <= a1 ? 1 : d))
    : shape.filter((_, i) => i < a0 || i > a1);
  return {
    outer: sizeOf(shape.slice(0, a0)),
    reduce: sizeOf(shape.slice(a0, a1 + 1)),
    inner: sizeOf(shape.slice(a1 + 1)),
    outShape,
  };
}

function makeReduce(addon: NativeAddon, original: tf.KernelFunc, mean: boolean): tf.KernelFunc {
  return (args) => {
    const { x } = args.inputs as { x: tf.TensorInfo };
    const { axis, keepDims } = args.attrs as unknown as { axis: number | number[]; keepDims: boolean };
    const plan = x.dtype === 'float32' ? planReduce(x.shape, axis, !!keepDims) : null;
    if (plan === null) return original(args);
    const backend = args.backend as unknown as WasmBackendLike;
    const xOff = offsetOf(backend, x); // before any allocation (see matmulKernels.ts)
    const out = backend.makeOutput(plan.outShape, 'float32');
    if (plan.outer * plan.inner === 0) return out;
    const scale = mean ? 1 / plan.reduce : 1; // mean over nothing is NaN, as in tf
    addon.reduceSum(heapF32(backend), xOff, offsetOf(backend, out), plan.outer, plan.reduce, plan.inner, scale);
    return out;
  };
}

export const makeSum = (addon: NativeAddon, original: tf.KernelFunc) => makeReduce(addon, original, false);
export const makeMean = (addon: NativeAddon, original: tf.KernelFunc) => makeReduce(addon, original, true);
