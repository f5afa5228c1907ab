import * as tf from '@tensorflow/tfjs';
import { l2Normalize } from '../ops/l2';

/**
 * DINOv2's KoLeo regulariser (Kozachenko-Leonenko differential-entropy estimator): for L2-normalised features
 * x_1..x_n, loss = -1/n sum_i log(||x_i - x_nn(i)|| + eps), where nn(i) is x_i's nearest other row. Minimising it
 * pushes every feature away from its closest neighbour, spreading the batch over the sphere; DINOv2 applies it to
 * the student's backbone CLS of each global crop batch, which is the space k-NN and novelty read.
 * The neighbour is gathered by a one-hot matmul, whose gradient every backend has.
 */
export class KoLeoLoss {
  constructor(readonly eps = 1e-8) {}

  /** Nearest other row of each row of unit vectors (max cosine off the diagonal). */
  static nearest(xn: tf.Tensor2D): tf.Tensor1D {
    return tf.tidy(() => {
      const n = xn.shape[0];
      const dots = tf.matMul(xn, xn, false, true);
      const masked = tf.sub(dots, tf.mul(tf.eye(n), 4)); // cosines are in [-1, 1]: -4 removes self
      return tf.argMax(masked, 1) as tf.Tensor1D;
    });
  }

  /** features [n, D] (n >= 2), not yet normalised. */
  apply(features: tf.Tensor2D): tf.Scalar {
    const n = features.shape[0];
    if (n < 2) throw new Error(`KoLeoLoss: needs at least 2 rows, got ${n}`);
    return tf.tidy(() => {
      const xn = l2Normalize(features);
      // argMax and oneHot pass no gradient, so the choice of neighbour is constant, as under no_grad
      const pick = tf.oneHot(tf.cast(KoLeoLoss.nearest(xn), 'int32'), n).toFloat();
      const neighbour = tf.matMul(pick, xn);
      // pairwise_distance(x, y, eps) of PyTorch: ||x - y + eps||
      const dist = tf.sqrt(tf.sum(tf.square(tf.add(tf.sub(xn, neighbour), this.eps)), 1));
      return tf.neg(tf.mean(tf.log(tf.add(dist, this.eps)))) as tf.Scalar;
    });
  }
}
