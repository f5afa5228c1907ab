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

/**
 * PyTorch's bicubic resize with antialias=True and an output size (F.interpolate(size=..., antialias=True), the
 * kernel of PIL): a = -0.5, and when shrinking the kernel is widened by the scale so every input pixel contributes;
 * each row's weights are normalised to sum to 1. As a matrix M [outSize, inSize].
 */
export function bicubicAntialiasMatrix(inSize: number, outSize: number): Float32Array {
  const a = -0.5;
  const cubic = (x: number) => {
    x = Math.abs(x);
    if (x < 1) return ((a + 2) * x - (a + 3)) * x * x + 1;
    if (x < 2) return ((a * x - 5 * a) * x + 8 * a) * x - 4 * a;
    return 0;
  };
  const scale = inSize / outSize;
  const support = scale >= 1 ? 2 * scale : 2;
  const invScale = scale >= 1 ? 1 / scale : 1;
  const m = new Float32Array(outSize * inSize);
  for (let o = 0; o < outSize; o++) {
    const center = scale * (o + 0.5);
    // C++ casts truncate toward zero, as PyTorch's kernel does
    const xmin = Math.max(Math.trunc(center - support + 0.5), 0);
    const xmax = Math.min(Math.trunc(center + support + 0.5), inSize);
    let total = 0;
    const w: number[] = [];
    for (let j = xmin; j < xmax; j++) {
      const v = cubic((j - center + 0.5) * invScale);
      w.push(v);
      total += v;
    }
    w.forEach((v, k) => (m[o * inSize + xmin + k] = total !== 0 ? v / total : v));
  }
  return m;
}
