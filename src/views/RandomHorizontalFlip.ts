import * as tf from '@tensorflow/tfjs';
import { Random } from '../util/Random';

/**
 * torchvision.transforms.RandomHorizontalFlip(p) for a batch: one coin per image.
 *
 * In the DINO pipeline the flip costs nothing: `RandomResizedCrop.cropPadded(..., flip)` folds it into the
 * crop box (x1/x2 swapped). `apply` is the stand-alone version for tensors that are already cropped.
 */
export class RandomHorizontalFlip {
  constructor(readonly p = 0.5) {}

  /** flip[i] = 1 when image i is mirrored. */
  sample(n: number, rng: Random): Uint8Array {
    const flip = new Uint8Array(n);
    for (let i = 0; i < n; i++) flip[i] = rng.bernoulli(this.p) ? 1 : 0;
    return flip;
  }

  /** Mirrors the images of `x` [B,H,W,C] whose flag is set. */
  apply(x: tf.Tensor4D, flip: ArrayLike<number | boolean>): tf.Tensor4D {
    const b = x.shape[0];
    if (flip.length !== b) throw new Error(`RandomHorizontalFlip: ${flip.length} flags for a batch of ${b}`);
    const flags = Array.from(flip, (f) => (f ? 1 : 0));
    if (!flags.some((f) => f)) return tf.clone(x);
    return tf.tidy(() => {
      const mask = tf.tensor1d(flags, 'bool').reshape([b, 1, 1, 1]);
      return tf.where(mask, tf.reverse(x, 2), x) as tf.Tensor4D;
    });
  }
}
