import * as tf from '@tensorflow/tfjs';
import { matMul } from './matMul';
import { customOp } from './customOp';

/** x W + b as one fused kernel (bias added in the matmul's output pass). */
function matMulBias(x: tf.Tensor2D, w: tf.Tensor2D, b: tf.Tensor1D): tf.Tensor2D {
  return tf.fused.matMul({ a: x, b: w, bias: b }) as tf.Tensor2D;
}

/**
 * y = x W + b on 2-D activations x [N, in], W [in, out], b [out], with a hand-written gradient:
 * dx = dy W^T, dW = x^T dy, db = sum_rows(dy). Autodiff of matMul+add produces the same maths but through
 * broadcasting-gradient reshapes and (on wasm) transposed-operand matmuls that are an order of magnitude slower.
 */
const linearWithInputGrad = customOp<[tf.Tensor2D, tf.Tensor2D, tf.Tensor1D]>((x, w, b, save) => {
  save([x, w]);
  const value = matMulBias(x, w, b);
  return {
    value,
    gradFunc: (dy, saved) =>
      tf.tidy(() => {
        const [xs, ws] = saved as [tf.Tensor2D, tf.Tensor2D];
        return [matMul(dy as tf.Tensor2D, ws, false, true), matMul(xs, dy, true, false), tf.sum(dy, 0)];
      }),
  };
});

/** The same without dx: for the first layer (pixels need no gradient), saving one large matmul per step. */
const linearNoInputGrad = (x: tf.Tensor2D) =>
  customOp<[tf.Tensor2D, tf.Tensor1D]>((w, b, save) => {
    save([x]);
    return {
      value: matMulBias(x, w, b),
      gradFunc: (dy, saved) =>
        tf.tidy(() => [matMul(saved[0] as tf.Tensor2D, dy, true, false), tf.sum(dy, 0)]),
    };
  });

/** Bias-free variant (the weight-normalised last layer of the DINO head). */
const linearNoBias = customOp<[tf.Tensor2D, tf.Tensor2D]>((x, w, save) => {
  save([x, w]);
  return {
    value: matMul(x, w),
    gradFunc: (dy, saved) =>
      tf.tidy(() => {
        const [xs, ws] = saved as [tf.Tensor2D, tf.Tensor2D];
        return [matMul(dy as tf.Tensor2D, ws, false, true), matMul(xs, dy, true, false)];
      }),
  };
});

export function linear(x: tf.Tensor2D, w: tf.Tensor2D, b: tf.Tensor1D | null, opts: { inputGrad?: boolean } = {}): tf.Tensor2D {
  if (b === null) return linearNoBias(x, w) as tf.Tensor2D;
  if (opts.inputGrad === false) return linearNoInputGrad(x)(w, b) as tf.Tensor2D;
  return linearWithInputGrad(x, w, b) as tf.Tensor2D;
}
