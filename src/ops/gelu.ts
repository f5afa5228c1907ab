import * as tf from '@tensorflow/tfjs';
import { hasFusedKernel, runKernel } from './kernels';
import { customOp } from './customOp';

const INV_SQRT2 = Math.SQRT1_2;
const INV_SQRT_2PI = 1 / Math.sqrt(2 * Math.PI);

/** Exact GELU (erf form, as torch.nn.GELU defaults to), composite of tf ops. */
export function geluComposite(x: tf.Tensor): tf.Tensor {
  return tf.tidy(() => tf.mul(tf.mul(x, 0.5), tf.add(1, tf.erf(tf.mul(x, INV_SQRT2)))));
}

/** d/dx GELU(x) * dy = dy * (Phi(x) + x phi(x)). */
export function geluGradComposite(dy: tf.Tensor, x: tf.Tensor): tf.Tensor {
  return tf.tidy(() => {
    const cdf = tf.mul(0.5, tf.add(1, tf.erf(tf.mul(x, INV_SQRT2))));
    const pdf = tf.mul(INV_SQRT_2PI, tf.exp(tf.mul(tf.square(x), -0.5)));
    return tf.mul(dy, tf.add(cdf, tf.mul(x, pdf)));
  });
}

/** Exact GELU with a closed-form gradient (autodiff of erf would keep extra intermediates alive). */
const geluOp = customOp<[tf.Tensor]>((x, save) => {
  save([x]);
  const value = hasFusedKernel('DinoGelu') ? runKernel('DinoGelu', { x })[0]! : geluComposite(x);
  return {
    value,
    gradFunc: (dy, saved) =>
      hasFusedKernel('DinoGeluGrad')
        ? runKernel('DinoGeluGrad', { dy, x: saved[0]! })[0]!
        : geluGradComposite(dy, saved[0]!),
  };
});

export function gelu<T extends tf.Tensor>(x: T): T {
  return geluOp(x) as T;
}
