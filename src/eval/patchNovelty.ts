import * as tf from '@tensorflow/tfjs';
import type { VisionTransformer } from '../model/VisionTransformer';
import { l2Normalize } from '../ops/l2';
import { imagesToTensor } from './featureExtraction';
import { EvalInputError } from './EvalInputError';

/**
 * Patch-level novelty (PatchCore's score, Roth et al. 2022, on DINO's patch tokens): an image is as novel as its most
 * novel patch, and a patch as novel as its cosine distance to the nearest patch of any bank image. It is made for an
 * object that fills a few patches of a known scene, which moves the image's CLS little; on a new class of whole images
 * it does worse than the CLS (docs/experiments.md, lever 22).
 */

/** Each image's final-LayerNorm patch tokens, L2-normalised per patch: [N*D] per image (N patches of D values). */
export async function patchFeatures(backbone: VisionTransformer, images: readonly Uint8Array[], size: number, batch = 64): Promise<Float32Array[]> {
  const out: Float32Array[] = [];
  for (let i = 0; i < images.length; i += batch) {
    const x = imagesToTensor(images.slice(i, i + batch), size);
    const B = x.shape[0];
    const n = (size / backbone.config.patchSize) ** 2;
    const rows = tf.range(0, B * n, 1, 'int32') as tf.Tensor1D;
    const patches = tf.tidy(() => l2Normalize(backbone.apply(x, { patchRows: rows }).patches!));
    try {
      const flat = (await patches.data()) as Float32Array;
      for (let b = 0; b < B; b++) out.push(flat.slice((b * flat.length) / B, ((b + 1) * flat.length) / B));
    } finally {
      tf.dispose([x, rows, patches]);
    }
  }
  return out;
}

/** Unit-length flattened pixel patches (p x p x 3 per patch), the raw-pixel counterpart of patchFeatures. */
export function pixelPatches(pixels: readonly ArrayLike<number>[], size: number, patch: number): Float32Array[] {
  if (size % patch !== 0) throw new EvalInputError(`image size ${size} is not a multiple of the patch size ${patch}`);
  const g = size / patch;
  const d = patch * patch * 3;
  return pixels.map((im) => {
    const out = new Float32Array(g * g * d);
    for (let py = 0; py < g; py++) {
      for (let px = 0; px < g; px++) {
        const o = (py * g + px) * d;
        let j = o;
        for (let y = 0; y < patch; y++) {
          for (let x = 0; x < patch; x++) {
            const s = ((py * patch + y) * size + px * patch + x) * 3;
            out[j++] = im[s]!;
            out[j++] = im[s + 1]!;
            out[j++] = im[s + 2]!;
          }
        }
        let norm = 0;
        for (let k = o; k < o + d; k++) norm += out[k]! * out[k]!;
        const inv = norm > 0 ? 1 / Math.sqrt(norm) : 0;
        for (let k = o; k < o + d; k++) out[k]! *= inv;
      }
    }
    return out;
  });
}

/**
 * Score of each query image: the largest, over its patches, cosine distance to the nearest bank patch. Features are
 * unit-length patches of `dim` values, concatenated per image (patchFeatures / pixelPatches).
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
