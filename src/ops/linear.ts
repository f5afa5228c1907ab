import * as tf from '@tensorflow/tfjs';
import { matMul } from './matMul';
import { customOp } from './customOp';
import { hasFusedKernel, runKernel } from './kernels';

/** x W + b as one fused kernel (bias added in the matmul's output pass), plus `residual` when given. */
function matMulBias(x: tf.Tensor2D, w: tf.Tensor2D, b: tf.Tensor1D, residual?: tf.Tensor2D): tf.Tensor2D {
  if (residual && hasFusedKernel('DinoMatMul')) return runKernel('DinoMatMul', { a: x, b: w, bias: b, residual })[0] as tf.Tensor2D;
  const y = tf.fused.matMul({ a: x, b: w, bias: b }) as tf.Tensor2D;
  if (!residual) return y;
  const r = tf.add(y, residual) as tf.Tensor2D;
  y.dispose();
  return r;
}

/**
 * dW = x^T dy and db = sum_rows(dy): one GEMM whose packing of dy also sums its columns where the fused kernel
 * exists (dy is read once instead of twice).
 */
export function weightAndBiasGrads(x: tf.Tensor2D, dy: tf.Tensor2D): [tf.Tensor2D, tf.Tensor1D] {
  if (hasFusedKernel('DinoMatMul')) {
    const [dw, db] = runKernel('DinoMatMul', { a: x, b: dy }, { transposeA: true, colSumB: true });
    return [dw as tf.Tensor2D, db as tf.Tensor1D];
  }
  return [matMul(x, dy, true, false), tf.sum(dy, 0) as tf.Tensor1D];
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
        return [matMul(dy as tf.Tensor2D, ws, false, true), ...weightAndBiasGrads(xs, dy as tf.Tensor2D)];
      }),
  };
});

/** x W + b + residual (a residual connection added in the matmul's output pass); d residual = dy. */
const linearResidual = customOp<[tf.Tensor2D, tf.Tensor2D, tf.Tensor1D, tf.Tensor2D]>((x, w, b, residual, save) => {
  save([x, w]);
  const value = matMulBias(x, w, b, residual);
  return {
    value,
    gradFunc: (dy, saved) =>
      tf.tidy(() => {
        const [xs, ws] = saved as [tf.Tensor2D, tf.Tensor2D];
        return [matMul(dy as tf.Tensor2D, ws, false, true), ...weightAndBiasGrads(xs, dy as tf.Tensor2D), tf.clone(dy)];
      }),
  };
});

/** The same without dx: for the first layer (pixels need no gradient), saving one large matmul per step. */
const linearNoInputGrad = (x: tf.Tensor2D) =>
  customOp<[tf.Tensor2D, tf.Tensor1D]>((w, b, save) => {
    save([x]);
    return {
      value: matMulBias(x, w, b),
      gradFunc: (dy, saved) => tf.tidy(() => weightAndBiasGrads(saved[0] as tf.Tensor2D, dy as tf.Tensor2D)),
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

export interface LinearOptions {
  /** false: no gradient with respect to x (the first layer). */
  inputGrad?: boolean;
  /** Added to the output ([N, out]): a residual connection, fused into the matmul where the kernel exists. */
  residual?: tf.Tensor2D;
}

export function linear(x: tf.Tensor2D, w: tf.Tensor2D, b: tf.Tensor1D | null, opts: LinearOptions = {}): tf.Tensor2D {
  if (opts.residual) {
    if (b === null || opts.inputGrad === false) throw new Error('linear: a residual needs a bias and the input gradient');
    return linearResidual(x, w, b, opts.residual) as tf.Tensor2D;
  }
  if (b === null) return linearNoBias(x, w) as tf.Tensor2D;
  if (opts.inputGrad === false) return linearNoInputGrad(x)(w, b) as tf.Tensor2D;
  return linearWithInputGrad(x, w, b) as tf.Tensor2D;
}
