import * as tf from '@tensorflow/tfjs';
import { Random } from '../util/Random';
import { GRAY_WEIGHTS } from './ColorJitter';

/**
 * torchvision.transforms.RandomGrayscale(p) for a batch [B,H,W,3]: chosen images become
 * 0.299 R + 0.587 G + 0.114 B in all three channels.
 *
 * One batched matmul with a per-image 3x3 matrix (identity, or three equal luma columns) does the masked
 * choice: every output channel of a gray image is computed identically, so channels are exactly equal,
 * and identity rows leave other images bit-exact.
 */
export class RandomGrayscale {
  constructor(readonly p = 0.1) {}

  /** gray[i] = 1 when image i is converted. */
  sample(n: number, rng: Random): Uint8Array {
    const gray = new Uint8Array(n);
    for (let i = 0; i < n; i++) gray[i] = rng.bernoulli(this.p) ? 1 : 0;
    return gray;
  }

  /**
   * Per-image row-vector colour matrices (rgb' = rgb M), [B*9]: identity, or three equal luma columns.
   * ColorJitter can take them to fold the grayscale into its hue matmul.
   */
  static matrices(gray: ArrayLike<number | boolean>): Float32Array {
    const [wr, wg, wb] = GRAY_WEIGHTS;
    const m = new Float32Array(gray.length * 9);
    for (let i = 0; i < gray.length; i++) {
      m.set(gray[i] ? [wr, wr, wr, wg, wg, wg, wb, wb, wb] : [1, 0, 0, 0, 1, 0, 0, 0, 1], i * 9);
    }
    return m;
  }

  apply(x: tf.Tensor4D, gray: ArrayLike<number | boolean>): tf.Tensor4D {
    const [b, h, w, c] = x.shape;
    if (c !== 3) throw new Error(`RandomGrayscale: expected 3 channels, got ${c}`);
    if (gray.length !== b) throw new Error(`RandomGrayscale: ${gray.length} flags for a batch of ${b}`);
    if (!Array.from(gray).some((g) => g)) return tf.clone(x);
    const m = RandomGrayscale.matrices(gray);
    return tf.tidy(() => tf.matMul(x.reshape([b, h * w, 3]), tf.tensor3d(m, [b, 3, 3])).reshape([b, h, w, 3]) as tf.Tensor4D);
  }
}
