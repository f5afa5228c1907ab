import * as tf from '@tensorflow/tfjs';
import { hasFusedKernel, runKernel } from './kernels';
import { customOp } from './customOp';

/** Forward of LayerNorm over the last axis of x [N, D]: y, and the per-row mean and 1/sqrt(var+eps) for backward. */
export function layerNormForward(
  x: tf.Tensor2D,
  gamma: tf.Tensor1D,
  beta: tf.Tensor1D,
  epsilon: number,
): { y: tf.Tensor2D; mean: tf.Tensor1D; rstd: tf.Tensor1D } {
  if (hasFusedKernel('DinoLayerNorm')) {
    const [y, mean, rstd] = runKernel('DinoLayerNorm', { x, gamma, beta }, { epsilon });
    return { y: y as tf.Tensor2D, mean: mean as tf.Tensor1D, rstd: rstd as tf.Tensor1D };
  }
  return tf.tidy(() => {
    const { mean, variance } = tf.moments(x, 1, true);
    const rstd = tf.rsqrt(tf.add(variance, epsilon));
    const y = tf.add(tf.mul(tf.mul(tf.sub(x, mean), rstd), gamma), beta) as tf.Tensor2D;
    return { y, mean: tf.reshape(mean, [-1]) as tf.Tensor1D, rstd: tf.reshape(rstd, [-1]) as tf.Tensor1D };
  });
}

/**
 * Backward of LayerNorm: with xhat = (x - mean) * rstd and g = dy * gamma,
 * dx = rstd * (g - mean(g) - xhat * mean(g * xhat)), dgamma = sum_rows(dy * xhat), dbeta = sum_rows(dy).
 */
export function layerNormBackward(
  dy: tf.Tensor2D,
  x: tf.Tensor2D,
  gamma: tf.Tensor1D,
  mean: tf.Tensor1D,
  rstd: tf.Tensor1D,
): [tf.Tensor2D, tf.Tensor1D, tf.Tensor1D] {
  if (hasFusedKernel('DinoLayerNormGrad')) {
    const [dx, dg, db] = runKernel('DinoLayerNormGrad', { dy, x, gamma, mean, rstd });
    return [dx as tf.Tensor2D, dg as tf.Tensor1D, db as tf.Tensor1D];
  }
  return tf.tidy(() => {
    const r = tf.reshape(rstd, [-1, 1]);
    const xhat = tf.mul(tf.sub(x, tf.reshape(mean, [-1, 1])), r);
    const g = tf.mul(dy, gamma);
    const meanG = tf.mean(g, 1, true);
    const meanGX = tf.mean(tf.mul(g, xhat), 1, true);
    const dx = tf.mul(r, tf.sub(tf.sub(g, meanG), tf.mul(xhat, meanGX))) as tf.Tensor2D;
    return [dx, tf.sum(tf.mul(dy, xhat), 0) as tf.Tensor1D, tf.sum(dy, 0) as tf.Tensor1D];
  });
}

const layerNormOp = (epsilon: number) =>
  customOp<[tf.Tensor2D, tf.Tensor1D, tf.Tensor1D]>((x, gamma, beta, save) => {
    const { y, mean, rstd } = layerNormForward(x, gamma, beta, epsilon);
    save([x, gamma, mean, rstd]);
    return {
      value: y,
      gradFunc: (dy, saved) => {
        const [xs, gs, ms, rs] = saved as [tf.Tensor2D, tf.Tensor1D, tf.Tensor1D, tf.Tensor1D];
        return layerNormBackward(dy as tf.Tensor2D, xs, gs, ms, rs);
      },
    };
  });

/** LayerNorm over the last axis of 2-D activations (eps 1e-6 as the official ViT), hand-written gradient. */
export function layerNorm(x: tf.Tensor2D, gamma: tf.Tensor1D, beta: tf.Tensor1D, epsilon = 1e-6): tf.Tensor2D {
  return layerNormOp(epsilon)(x, gamma, beta) as tf.Tensor2D;
}
