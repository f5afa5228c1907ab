/**
 * Plain-loop vector helpers for embeddings. At d = 96-384 and banks of a few thousand, tight loops over
 * Float32Array are fast enough (a 1024 x 384 bank scan is ~0.3 ms) and avoid a tfjs dependency in detectors.
 */

export function dot(a: Float32Array, b: Float32Array, bOffset = 0, d = a.length): number {
  let s = 0;
  for (let i = 0; i < d; i++) s += a[i]! * b[bOffset + i]!;
  return s;
}

/** Returns a unit-norm copy (the detectors store copies, so callers may reuse their buffers). */
export function l2Normalized(x: ArrayLike<number>): Float32Array {
  const out = new Float32Array(x.length);
  let s = 0;
  for (let i = 0; i < x.length; i++) s += x[i]! * x[i]!;
  // A zero vector stays zero: its cosine distance to everything is 1, which reads as "novel", not NaN.
  const inv = s > 0 ? 1 / Math.sqrt(s) : 0;
  for (let i = 0; i < x.length; i++) out[i] = x[i]! * inv;
  return out;
}

export function squaredDistance(a: Float32Array, aOff: number, b: Float32Array, bOff: number, d: number): number {
  let s = 0;
  for (let i = 0; i < d; i++) {
    const t = a[aOff + i]! - b[bOff + i]!;
    s += t * t;
  }
  return s;
}
