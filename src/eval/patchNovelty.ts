import * as tf from '@tensorflow/tfjs';
import type { VisionTransformer } from '../model/VisionTransformer';
import { l2Normalize } from '../ops/l2';
import { patchify } from '../model/PatchEmbed';
import { perImage } from './featureExtraction';
import { EvalInputError } from './EvalInputError';

/**
 * Patch-level novelty (PatchCore's score, Roth et al. 2022, on DINO's patch tokens): an image is as novel as its most
 * novel patch, and a patch as novel as its cosine distance to the nearest patch of any bank image. It is made for an
 * object that fills a few patches of a known scene, which moves the image's CLS little; on a new class of whole images
 * it does worse than the CLS (docs/experiments.md, lever 22).
 */

/** Each image's final-LayerNorm patch tokens, L2-normalised per patch: [N*D] per image (N patches of D values). */
export async function patchFeatures(backbone: VisionTransformer, images: readonly Uint8Array[], size: number, batch = 64): Promise<Float32Array[]> {
  const n = (size / backbone.config.patchSize) ** 2;
  return perImage(images, size, batch, (x) => l2Normalize(backbone.apply(x, { patchRows: tf.range(0, x.shape[0] * n, 1, 'int32') as tf.Tensor1D }).patches!));
}

/** The raw-pixel counterpart: each image's normalised pixels cut as the patch embedding cuts them, L2-normalised per patch. */
export async function pixelPatchFeatures(images: readonly Uint8Array[], size: number, patch: number): Promise<Float32Array[]> {
  return perImage(images, size, 256, (x) => l2Normalize(patchify(x, patch)));
}

/**
 * Score of each query image: the largest, over its patches, cosine distance to the nearest bank patch. Features are
 * unit-length patches of `dim` values, concatenated per image (patchFeatures / pixelPatchFeatures).
 */
export function patchNoveltyScores(bank: readonly Float32Array[], queries: readonly Float32Array[], dim: number): number[] {
  if (bank.length === 0) throw new EvalInputError('patch novelty: the bank holds no images');
  const total = bank.reduce((s, b) => s + b.length, 0);
  const flat = new Float32Array(total);
  let o = 0;
  for (const b of bank) {
    flat.set(b, o);
    o += b.length;
  }
  const bankT = tf.tensor2d(flat, [total / dim, dim]);
  try {
    return queries.map((q) =>
      tf.tidy(() => {
        const nearest = tf.max(tf.matMul(tf.tensor2d(q, [q.length / dim, dim]), bankT, false, true), 1);
        return 1 - tf.min(nearest).dataSync()[0]!;
      }),
    );
  } finally {
    bankT.dispose();
  }
}
