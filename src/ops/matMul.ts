import * as tf from '@tensorflow/tfjs';
import { transposedMatMulIsFast } from './kernels';

function swapLast2(rank: number): number[] {
  const perm = Array.from({ length: rank }, (_, i) => i);
  perm[rank - 1] = rank - 2;
  perm[rank - 2] = rank - 1;
  return perm;
}

/**
 * matMul(a, b) with optional transposes, taking the backend's fast path: on stock wasm the transpose is done as a
 * separate (cheap, memory-bound) op so the multiply itself reaches XNNPACK.
 */
export function matMul<T extends tf.Tensor>(a: T, b: tf.Tensor, transposeA = false, transposeB = false): T {
  if ((transposeA || transposeB) && !transposedMatMulIsFast()) {
    return tf.tidy(() => {
      const at = transposeA ? tf.transpose(a, swapLast2(a.rank)) : a;
      const bt = transposeB ? tf.transpose(b, swapLast2(b.rank)) : b;
      return tf.matMul(at as tf.Tensor2D, bt as tf.Tensor2D) as tf.Tensor as T;
    });
  }
  return tf.matMul(a as tf.Tensor as tf.Tensor2D, b as tf.Tensor2D, transposeA, transposeB) as tf.Tensor as T;
}
