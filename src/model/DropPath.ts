import * as tf from '@tensorflow/tfjs';
import type { Random } from '../util/Random';

/** What a training forward passes down for stochastic depth; absent (teacher, evaluation) means no drop. */
export interface DropPathOptions {
  /** The last block's drop probability; block i of n gets rate * i / (n - 1), as the official linspace. */
  rate: number;
  rng: Random;
}

/**
 * Stochastic depth on a residual branch (official drop_path of vision_transformer.py): per image, the branch is
 * dropped with probability p, and kept ones are scaled by 1 / (1 - p) so the expectation is unchanged. All tokens of
 * an image share its draw. Activations are [B*T, D] (image-major), so the mask is one value per row, repeated T times.
 */
export class DropPath {
  constructor(readonly p: number) {
    if (!(p >= 0 && p < 1)) throw new Error(`drop path probability must be in [0, 1), got ${p}`);
  }

  /** The per-row multipliers [B*T, 1] of one draw: 0 for a dropped image, 1 / (1 - p) for a kept one. */
  mask(batch: number, tokens: number, rng: Random): Float32Array {
    const keep = 1 - this.p;
    const m = new Float32Array(batch * tokens);
    for (let b = 0; b < batch; b++) {
      if (rng.next() < keep) m.fill(1 / keep, b * tokens, (b + 1) * tokens);
    }
    return m;
  }

  apply(branch: tf.Tensor2D, batch: number, tokens: number, rng?: Random): tf.Tensor2D {
    if (this.p === 0 || !rng) return branch;
    return tf.tidy(() => tf.mul(branch, tf.tensor2d(this.mask(batch, tokens, rng), [batch * tokens, 1])) as tf.Tensor2D);
  }
}
