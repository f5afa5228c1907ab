import { Frame } from './Frame';

/**
 * A cheap image descriptor for redundancy checks: an s x s grey thumbnail (box average over a grid of cells),
 * minus its mean, scaled to unit length, so the dot product of two features is their cosine similarity and
 * overall brightness does not count. A flat image gives the zero vector (similarity 0 with everything).
 */
export function thumbnailFeature(frame: Frame, side = 8): Float32Array {
  const { width: w, height: h, rgb } = frame;
  const out = new Float32Array(side * side);
  for (let gy = 0; gy < side; gy++) {
    const y0 = Math.floor((gy * h) / side);
    const y1 = Math.max(y0 + 1, Math.floor(((gy + 1) * h) / side));
    for (let gx = 0; gx < side; gx++) {
      const x0 = Math.floor((gx * w) / side);
      const x1 = Math.max(x0 + 1, Math.floor(((gx + 1) * w) / side));
      let sum = 0;
      for (let y = y0; y < y1; y++) {
        let p = (y * w + x0) * 3;
        for (let x = x0; x < x1; x++, p += 3) sum += 0.299 * rgb[p]! + 0.587 * rgb[p + 1]! + 0.114 * rgb[p + 2]!;
      }
      out[gy * side + gx] = sum / ((y1 - y0) * (x1 - x0));
    }
  }
  let mean = 0;
  for (const v of out) mean += v;
  mean /= out.length;
  let norm = 0;
  for (let i = 0; i < out.length; i++) {
    out[i] = out[i]! - mean;
    norm += out[i]! * out[i]!;
  }
  norm = Math.sqrt(norm);
  if (norm > 1e-6) for (let i = 0; i < out.length; i++) out[i] = out[i]! / norm;
  else out.fill(0);
  return out;
}

/** Dot product: cosine similarity for unit-length features. */
export function dot(a: Float32Array, b: Float32Array): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i]! * b[i]!;
  return s;
}
