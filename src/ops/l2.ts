import * as tf from '@tensorflow/tfjs';

/**
 * Euclidean norm as sqrt(sum(x^2)). tf.norm computes pow(abs(x), 2), two extra passes that are slow paths on
 * wasm; the gradient of this form is also simpler.
 */
export function l2Norm(x: tf.Tensor, axis?: number, keepDims = false): tf.Tensor {
  return tf.tidy(() => tf.sqrt(tf.sum(tf.square(x), axis, keepDims)));
}

/** F.normalize(x, dim=-1) for 2-D x: x / max(||x||_2, 1e-12) per row. */
export function l2Normalize(x: tf.Tensor2D): tf.Tensor2D {
  return tf.tidy(() => tf.div(x, tf.maximum(l2Norm(x, 1, true), 1e-12)) as tf.Tensor2D);
}
