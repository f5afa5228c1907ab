/**
 * 1-D bicubic interpolation as a matrix M [outSize, inSize], exactly PyTorch's upsample_bicubic2d
 * (A = -0.75, align_corners=False, border indices clamped), so that resizing a grid is two matmuls and gradients
 * flow through it. `scale` is the scale_factor passed to F.interpolate (the official DINO passes (g+0.1)/g0
 * to dodge floating-point error in the output size; PyTorch then maps coordinates with 1/scale, not in/out).
 */
export function bicubicMatrix(inSize: number, outSize: number, scale: number): Float32Array {
  const A = -0.75;
  const cc1 = (x: number) => ((A + 2) * x - (A + 3)) * x * x + 1;
  const cc2 = (x: number) => ((A * x - 5 * A) * x + 8 * A) * x - 4 * A;
  const m = new Float32Array(outSize * inSize);
  for (let o = 0; o < outSize; o++) {
    const real = (o + 0.5) / scale - 0.5;
    const i0 = Math.floor(real);
    const t = real - i0;
    const w = [cc2(t + 1), cc1(t), cc1(1 - t), cc2(2 - t)];
    for (let k = 0; k < 4; k++) {
      const idx = Math.min(Math.max(i0 - 1 + k, 0), inSize - 1);
      m[o * inSize + idx] += w[k] as number;
    }
  }
  return m;
}
