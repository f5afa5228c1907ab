import * as tf from '@tensorflow/tfjs';
import { Random } from '../util/Random';

/**
 * DINO's Solarization(p) (PIL ImageOps.solarize) for a batch [B,H,W,C] in [0,1]: in chosen images every
 * value >= threshold becomes 1 - value. PIL's threshold is 128 of 255; on [0,1] we use 0.5.
 */
export class Solarize {
  constructor(
    readonly p = 0.2,
    readonly threshold = 0.5,
  ) {}

  /** apply[i] = 1 when image i is solarised. */
  sample(n: number, rng: Random): Uint8Array {
    const on = new Uint8Array(n);
    for (let i = 0; i < n; i++) on[i] = rng.bernoulli(this.p) ? 1 : 0;
    return on;
  }

  apply(x: tf.Tensor4D, on: ArrayLike<number | boolean>): tf.Tensor4D {
    const b = x.shape[0];
    if (on.length !== b) throw new Error(`Solarize: ${on.length} flags for a batch of ${b}`);
    if (!Array.from(on).some((v) => v)) return tf.clone(x);
    // Per-image gate without a broadcast comparison (wasm runs those ~20x slower than a same-shape one):
    // shift untouched images by -Infinity (Sub broadcasts fast), then compare with the scalar threshold.
    const shift = Float32Array.from(on, (v) => (v ? 0 : Infinity));
    return tf.tidy(() => {
      const gate = tf.greaterEqual(tf.sub(x, tf.tensor4d(shift, [b, 1, 1, 1])), this.threshold);
      return tf.where(gate, tf.sub(1, x), x) as tf.Tensor4D;
    });
  }
}
