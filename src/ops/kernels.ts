import * as tf from '@tensorflow/tfjs';

/**
 * Fused kernels registered by the native addon (src/backend) for the active backend. The model is written once
 * against tf ops; where a fused kernel exists for the backend in use, the primitives in this folder call it instead
 * of the composite of tf ops (same numbers, far fewer passes over memory).
 */
export type FusedKernelName =
  | 'DinoGelu'
  | 'DinoGeluGrad'
  | 'DinoLayerNorm'
  | 'DinoLayerNormGrad'
  | 'DinoAttention'
  | 'DinoAttentionGrad'
  | 'DinoAdamW'
  | 'DinoMatMul';

/** When false, the composite path is forced (tests compare both paths). */
let fusedEnabled = true;

export function setFusedKernelsEnabled(on: boolean): void {
  fusedEnabled = on;
}

export function hasFusedKernel(name: FusedKernelName): boolean {
  return fusedEnabled && tf.getKernel(name, tf.getBackend()) !== undefined;
}

export function runKernel(
  name: FusedKernelName,
  inputs: Record<string, tf.Tensor>,
  attrs: Record<string, number | boolean | string> = {},
): tf.Tensor[] {
  const out = tf.engine().runKernel(name, inputs as unknown as tf.NamedTensorMap, attrs as unknown as tf.NamedAttrMap);
  return Array.isArray(out) ? (out as tf.Tensor[]) : [out as tf.Tensor];
}

/**
 * Whether the engine records a gradient tape here (inside variableGrads / tf.grad, outside any kernel): without
 * one, a fused forward need not compute what only the backward reads.
 */
export function recordingGradients(): boolean {
  return (tf.engine() as unknown as { isTapeOn(): boolean }).isTapeOn();
}

/**
 * Whether matMul with transposeA/transposeB runs at full speed. The stock wasm backend only hands untransposed 2-D
 * operands to XNNPACK (transposed ones take a loop ~12x slower), so there we transpose explicitly first; the native
 * matmul, tfjs-node and the cpu backend handle transposed operands directly.
 */
export function transposedMatMulIsFast(): boolean {
  if (tf.getBackend() !== 'wasm') return true;
  return tf.getKernel('DinoAttention', 'wasm') !== undefined;
}
