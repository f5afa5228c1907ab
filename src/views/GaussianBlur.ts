import * as tf from '@tensorflow/tfjs';
import { Random } from '../util/Random';

/** DINO blurs 224-px crops with a radius (sigma) of 0.1..2 px. */
export const DINO_BLUR_SIGMA: readonly [number, number] = [0.1, 2.0];
export const DINO_REFERENCE_SIZE = 224;

export interface GaussianBlurOptions {
  /** Probability of blurring an image. */
  p: number;
  /** Sigma range in pixels of the images it will see, [min, max]. */
  sigma: [number, number];
}

/**
 * DINO's GaussianBlur(p, radius_min, radius_max) for a batch [B,H,W,C] with a sigma per image.
 *
 * How, batch-wise on wasm: batched Toeplitz matmuls take the slow (non-XNNPACK) path there (~24 ms for
 * 32 crops of 64 px), so instead the batch goes into the channel axis ([B,H,W,C] -> [1,H,W,B*C]) and ONE
 * depthwise convolution applies a different kernel to every image (~4 ms). Images that are not blurred get
 * a delta kernel. The kernel is an exact sampled Gaussian truncated at 3 sigma, as a full 2-D kernel up to
 * 5x5 (one conv beats two on wasm) and as two 1-D passes beyond that. Borders are half-sample symmetric
 * (scipy's 'reflect'), which equals PIL's edge clamping for the first ring; PIL itself approximates the
 * Gaussian with three box blurs.
 */
export class GaussianBlur {
  readonly p: number;
  readonly sigma: [number, number];

  constructor(opts: GaussianBlurOptions) {
    const { p, sigma } = opts;
    if (!(sigma[0] >= 0 && sigma[0] <= sigma[1])) throw new Error(`GaussianBlur: bad sigma range [${sigma}]`);
    this.p = p;
    this.sigma = [sigma[0], sigma[1]];
  }

  /** DINO's blur for crops of `size` px: sigma range scaled by size / 224 so the blur looks the same. */
  static forCropSize(size: number, p: number, base: readonly [number, number] = DINO_BLUR_SIGMA, referenceSize = DINO_REFERENCE_SIZE): GaussianBlur {
    const k = size / referenceSize;
    return new GaussianBlur({ p, sigma: [base[0] * k, base[1] * k] });
  }

  /** sigma[i] per image, 0 = not blurred. Draws the coin, then (if blurred) the sigma. */
  sample(n: number, rng: Random): Float32Array {
    const sigma = new Float32Array(n);
    for (let i = 0; i < n; i++) {
      // DINO: `random.random() <= prob`; for p = 1 always blurs.
      if (rng.next() <= this.p) sigma[i] = rng.uniform(this.sigma[0], this.sigma[1]);
    }
    return sigma;
  }

  /** Normalised 1-D Gaussian taps for offsets -radius..radius; a delta when sigma <= 0. */
  static kernel1d(sigma: number, radius: number): Float64Array {
    const k = new Float64Array(2 * radius + 1);
    if (!(sigma > 0)) {
      k[radius] = 1;
      return k;
    }
    let sum = 0;
    for (let i = -radius; i <= radius; i++) sum += k[i + radius] = Math.exp(-(i * i) / (2 * sigma * sigma));
    for (let i = 0; i < k.length; i++) k[i] /= sum;
    return k;
  }

  apply(x: tf.Tensor4D, sigma: ArrayLike<number>): tf.Tensor4D {
    const [b, h, w, c] = x.shape;
    if (sigma.length !== b) throw new Error(`GaussianBlur: ${sigma.length} sigmas for a batch of ${b}`);
    let maxSigma = 0;
    for (let i = 0; i < b; i++) maxSigma = Math.max(maxSigma, sigma[i]!);
    // Symmetric padding needs radius <= side; a 1-px image has nothing to blur.
    const radius = Math.min(Math.ceil(3 * maxSigma), h - 1, w - 1);
    if (radius < 1) return tf.clone(x);
    const k = 2 * radius + 1;
    const bc = b * c;
    const taps: Float64Array[] = Array.from({ length: b }, (_, i) => GaussianBlur.kernel1d(sigma[i]!, radius));
    return tf.tidy(() => {
      const stacked = tf.transpose(x, [1, 2, 0, 3]).reshape([1, h, w, bc]) as tf.Tensor4D;
      let y = tf.mirrorPad(stacked, [[0, 0], [radius, radius], [radius, radius], [0, 0]], 'symmetric');
      if (k <= 5) {
        // Filter layout [kh, kw, inChannels, multiplier]; channel index = image * c + channel.
        const f = new Float32Array(k * k * bc);
        for (let dy = 0; dy < k; dy++) {
          for (let dx = 0; dx < k; dx++) {
            for (let i = 0; i < b; i++) {
              const v = taps[i]![dy]! * taps[i]![dx]!;
              for (let ch = 0; ch < c; ch++) f[(dy * k + dx) * bc + i * c + ch] = v;
            }
          }
        }
        y = tf.depthwiseConv2d(y, tf.tensor4d(f, [k, k, bc, 1]), 1, 'valid');
      } else {
        const f = new Float32Array(k * bc);
        for (let d = 0; d < k; d++) for (let i = 0; i < b; i++) for (let ch = 0; ch < c; ch++) f[d * bc + i * c + ch] = taps[i]![d]!;
        y = tf.depthwiseConv2d(y, tf.tensor4d(f, [k, 1, bc, 1]), 1, 'valid');
        y = tf.depthwiseConv2d(y, tf.tensor4d(f, [1, k, bc, 1]), 1, 'valid');
      }
      return tf.transpose(y.reshape([h, w, b, c]), [2, 0, 1, 3]) as tf.Tensor4D;
    });
  }
}
