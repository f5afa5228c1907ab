import * as tf from '@tensorflow/tfjs';
import { customOp } from './customOp';

/**
 * rows = x[indices] for x [N, D] and distinct int32 row indices [M], with a hand-written gradient that scatters dy
 * back (scatterND). tfjs's own gradient of gather goes through UnsortedSegmentSum, which the wasm backend lacks.
 */
export function gatherRows(x: tf.Tensor2D, indices: tf.Tensor1D): tf.Tensor2D {
  const op = customOp<[tf.Tensor2D]>((xs, save) => {
    void save;
    return {
      value: tf.gather(xs, indices),
      gradFunc: (dy) => tf.tidy(() => tf.scatterND(tf.reshape(indices, [-1, 1]), dy, xs.shape)),
    };
  });
  return op(x) as tf.Tensor2D;
}
