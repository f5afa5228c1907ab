import * as tf from '@tensorflow/tfjs';

/**
 * The deterministic test images of scripts/reference/pretrained_reference.py (the same formula, in float64, rounded
 * to float32), as our NHWC batch [B, S, S, 3].
 */
export function fixtureImages(B: number, S: number): tf.Tensor4D {
  const v = new Float32Array(B * S * S * 3);
  for (let b = 0; b < B; b++) {
    for (let h = 0; h < S; h++) {
      for (let w = 0; w < S; w++) {
        for (let c = 0; c < 3; c++) {
          v[((b * S + h) * S + w) * 3 + c] = Math.sin(0.7 * h + 1.3 * w + 2.1 * c + 0.5 * b) + 0.5 * Math.cos((0.31 * h * w) / S + c - b);
        }
      }
    }
  }
  return tf.tensor4d(v, [B, S, S, 3]);
}

export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new Error(`length ${a.length} vs ${b.length}`);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}
