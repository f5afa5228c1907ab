import * as tf from '@tensorflow/tfjs';
import { customOp } from './customOp';
import { gelu } from './gelu';
import { hasFusedKernel, recordingGradients, runKernel } from './kernels';
import { linear, weightAndBiasGrads } from './linear';

export interface MlpWeights {
  w1: tf.Tensor2D;
  b1: tf.Tensor1D;
  w2: tf.Tensor2D;
  b2: tf.Tensor1D;
}

/**
 * The forward and backward of fc2(GELU(fc1(x))) [+ residual] as four GEMMs whose output passes do the rest:
 * fc1's adds the bias and applies GELU, writing GELU's derivative beside it when a gradient is recorded (the
 * backward then needs no erf/exp pass); fc2's adds its bias and the residual; the gradient through fc2 and GELU is
 * one GEMM, dy W2^T times the saved derivative; each weight-gradient GEMM sums dy's columns (the bias gradient)
 * while packing it. Saved for the backward: x, GELU's output and its derivative (the unfused path saves x, the
 * pre-activation and GELU's output).
 */
function fusedMlpBody(
  x: tf.Tensor2D, w1: tf.Tensor2D, b1: tf.Tensor1D, w2: tf.Tensor2D, b2: tf.Tensor1D, residual: tf.Tensor2D | null,
  save: tf.GradSaveFunc,
) {
  const [h, dgelu] = runKernel('DinoMatMul', { a: x, b: w1, bias: b1 }, { activation: 'gelu', geluGrad: true }) as tf.Tensor2D[];
  save([x, h!, dgelu!, w1, w2]);
  dgelu!.dispose(); // the saved copy shares its buffer
  const value = runKernel('DinoMatMul', { a: h!, b: w2, bias: b2, ...(residual ? { residual } : {}) })[0]!;
  h!.dispose();
  return {
    value,
    gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) =>
      tf.tidy(() => {
        const [xs, hs, gs, w1s, w2s] = saved as [tf.Tensor2D, tf.Tensor2D, tf.Tensor2D, tf.Tensor2D, tf.Tensor2D];
        const du = runKernel('DinoMatMul', { a: dy, b: w2s, mul: gs }, { transposeB: true })[0] as tf.Tensor2D;
        const [dw2, db2] = weightAndBiasGrads(hs, dy as tf.Tensor2D);
        const dx = runKernel('DinoMatMul', { a: du, b: w1s }, { transposeB: true })[0]!;
        const [dw1, db1] = weightAndBiasGrads(xs, du);
        return [dx, dw1, db1, dw2, db2, ...(residual ? [tf.clone(dy)] : [])];
      }),
  };
}

const fusedMlp = customOp<[tf.Tensor2D, tf.Tensor2D, tf.Tensor1D, tf.Tensor2D, tf.Tensor1D]>(
  (x, w1, b1, w2, b2, save) => fusedMlpBody(x, w1, b1, w2, b2, null, save),
);
const fusedMlpResidual = customOp<[tf.Tensor2D, tf.Tensor2D, tf.Tensor1D, tf.Tensor2D, tf.Tensor1D, tf.Tensor2D]>(
  (x, w1, b1, w2, b2, residual, save) => fusedMlpBody(x, w1, b1, w2, b2, residual, save),
);

/**
 * fc2(GELU(fc1(x))) + residual (residual optional): the ViT block's MLP branch with its residual connection. Where
 * the fused kernel exists, the fused path above; without a recorded gradient (the teacher, inference) the same
 * two GEMMs without the derivative; else the composition of linear and gelu.
 */
export function mlp(x: tf.Tensor2D, w: MlpWeights, residual?: tf.Tensor2D): tf.Tensor2D {
  if (hasFusedKernel('DinoMatMul')) {
    if (recordingGradients()) {
      return (residual
        ? fusedMlpResidual(x, w.w1, w.b1, w.w2, w.b2, residual)
        : fusedMlp(x, w.w1, w.b1, w.w2, w.b2)) as tf.Tensor2D;
    }
    return tf.tidy(() => {
      const h = runKernel('DinoMatMul', { a: x, b: w.w1, bias: w.b1 }, { activation: 'gelu' })[0]!;
      return runKernel('DinoMatMul', { a: h, b: w.w2, bias: w.b2, ...(residual ? { residual } : {}) })[0] as tf.Tensor2D;
    });
  }
  return tf.tidy(() => linear(gelu(linear(x, w.w1, w.b1)), w.w2, w.b2, residual ? { residual } : {}));
}
