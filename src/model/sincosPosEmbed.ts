/**
 * The fixed 2-D sine-cosine position embedding of MoCo v3 and MAE (build_2d_sincos_position_embedding,
 * temperature 10000), [1 + g*g, D] flattened row-major, for a g x g patch grid in our token order (patch n = row *
 * g + column) behind a zero row for the CLS token. A quarter of the channels each: sin and cos of the column, then
 * sin and cos of the row, at D/4 frequencies 1 / 10000^(i / (D/4)).
 */
export function sincosPosEmbed(g: number, D: number): Float32Array {
  if (!Number.isInteger(g) || g < 1) throw new Error(`sincosPosEmbed: grid must be a positive integer, got ${g}`);
  if (!Number.isInteger(D) || D % 4 !== 0 || D < 4) {
    throw new Error(`a sincos position embedding needs embedDim divisible by 4 (sin and cos of row and column), got ${D}`);
  }
  const q = D / 4;
  const out = new Float32Array((1 + g * g) * D);
  for (let r = 0; r < g; r++) {
    for (let c = 0; c < g; c++) {
      const row = out.subarray((1 + r * g + c) * D, (2 + r * g + c) * D);
      for (let i = 0; i < q; i++) {
        const omega = 1 / 10000 ** (i / q);
        row[i] = Math.sin(c * omega);
        row[q + i] = Math.cos(c * omega);
        row[2 * q + i] = Math.sin(r * omega);
        row[3 * q + i] = Math.cos(r * omega);
      }
    }
  }
  return out;
}
