import * as tf from '@tensorflow/tfjs';
import type { VisionTransformer } from './VisionTransformer';
import { l2Normalize } from '../ops/l2';

/**
 * Which backbone output is the feature: the CLS token (the DINO feature, what the agent publishes), or the CLS and
 * the mean of the patch tokens side by side, each L2-normalised so that both weigh the same (eval_linear.py's
 * --avgpool_patchtokens, for evaluations).
 */
export type Readout = 'cls' | 'cls+avgpool';
export const READOUTS: readonly Readout[] = ['cls', 'cls+avgpool'];

export interface EmbedResult {
  /** L2-normalised features [B, D] (or [B, 2D] with the cls+avgpool readout): what subscribers and detectors get. */
  normalized: tf.Tensor2D;
  /** The CLS features as they leave the final LayerNorm [B, D]. */
  raw: tf.Tensor2D;
  /** Last block's CLS-to-patch attention [B, H, g*g] (each row sums to 1 minus the CLS and register weights). */
  attention?: tf.Tensor3D;
}

/**
 * Teacher inference: the backbone's CLS feature of whole frames (already resized to the global crop size and
 * normalised), as the official eval_knn.py uses it, optionally with DINO's CLS attention maps.
 */
export class Embedder {
  constructor(private readonly backbone: VisionTransformer) {}

  get dim(): number {
    return this.backbone.config.embedDim;
  }

  embed(images: tf.Tensor4D, opts: { attention?: boolean; readout?: Readout } = {}): EmbedResult {
    return tf.tidy(() => {
      const pool = opts.readout === 'cls+avgpool';
      const out = this.backbone.apply(images, { withAttention: !!opts.attention, poolPatches: pool });
      const normalized = pool ? l2Normalize(tf.concat([l2Normalize(out.cls), l2Normalize(out.pooledPatches!)], 1) as tf.Tensor2D) : l2Normalize(out.cls);
      let attention: tf.Tensor3D | undefined;
      if (out.lastAttention) {
        const [B, H, T] = out.lastAttention.shape;
        const p = this.backbone.prefixTokens;
        attention = tf.reshape(tf.slice(out.lastAttention, [0, 0, 0, p], [B, H, 1, T - p]), [B, H, T - p]) as tf.Tensor3D;
      }
      return { normalized, raw: out.cls, attention };
    });
  }

  /** embed() read back to plain arrays, one per image; no tensors outlive the call. */
  async embedToArrays(images: tf.Tensor4D, opts: { attention?: boolean; readout?: Readout } = {}): Promise<{ normalized: Float32Array[]; raw: Float32Array[]; attention?: Float32Array[] }> {
    const r = this.embed(images, opts);
    try {
      const B = images.shape[0];
      const split = (flat: Float32Array, n: number) => Array.from({ length: n }, (_, i) => flat.slice((i * flat.length) / n, ((i + 1) * flat.length) / n));
      const normalized = split((await r.normalized.data()) as Float32Array, B);
      const raw = split((await r.raw.data()) as Float32Array, B);
      const attention = r.attention ? split((await r.attention.data()) as Float32Array, B) : undefined;
      return { normalized, raw, attention };
    } finally {
      tf.dispose([r.normalized, r.raw, ...(r.attention ? [r.attention] : [])]);
    }
  }
}
