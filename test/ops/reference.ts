/** Plain float64 computations the ops are checked against. */

/** erf to ~1e-12: its Maclaurin series below 3, the continued fraction of erfc above. */
export function erf(x: number): number {
  const ax = Math.abs(x);
  if (ax < 3) {
    let term = ax;
    let sum = ax;
    for (let n = 1; n < 200 && Math.abs(term) > 1e-17 * Math.abs(sum); n++) {
      term *= (-ax * ax) / n;
      sum += term / (2 * n + 1);
    }
    return Math.sign(x) * ((2 / Math.sqrt(Math.PI)) * sum);
  }
  let t = 0;
  for (let n = 80; n >= 1; n--) t = n / 2 / (ax + t);
  const erfc = Math.exp(-ax * ax) / Math.sqrt(Math.PI) / (ax + t);
  return Math.sign(x) * (1 - erfc);
}

export const gelu = (x: number): number => 0.5 * x * (1 + erf(x / Math.SQRT2));

/** C = op(A) op(B) for row-major A [m, k] (or [k, m] with ta) and B [k, n] (or [n, k] with tb). */
export function matMul(a: ArrayLike<number>, b: ArrayLike<number>, m: number, k: number, n: number, ta = false, tb = false): Float64Array {
  const c = new Float64Array(m * n);
  for (let i = 0; i < m; i++)
    for (let j = 0; j < n; j++) {
      let s = 0;
      for (let p = 0; p < k; p++) s += (ta ? a[p * m + i]! : a[i * k + p]!) * (tb ? b[j * k + p]! : b[p * n + j]!);
      c[i * n + j] = s;
    }
  return c;
}

/** LayerNorm over the rows of x [n, d]. */
export function layerNorm(x: ArrayLike<number>, gamma: ArrayLike<number>, beta: ArrayLike<number>, n: number, d: number, eps: number): Float64Array {
  const y = new Float64Array(n * d);
  for (let i = 0; i < n; i++) {
    let mean = 0;
    for (let j = 0; j < d; j++) mean += x[i * d + j]! / d;
    let v = 0;
    for (let j = 0; j < d; j++) v += (x[i * d + j]! - mean) ** 2 / d;
    for (let j = 0; j < d; j++) y[i * d + j] = ((x[i * d + j]! - mean) / Math.sqrt(v + eps)) * gamma[j]! + beta[j]!;
  }
  return y;
}

/**
 * Multi-head self-attention from packed qkv [B*T, 3D] (per token: q heads, k heads, v heads, the official
 * reshape(B, T, 3, H, hd) layout): out [B*T, D] and probs [B, H, T, T].
 */
export function attention(qkv: ArrayLike<number>, B: number, T: number, H: number, hd: number, scale: number): { out: Float64Array; probs: Float64Array } {
  const D = H * hd;
  const at = (b: number, t: number, part: number, h: number, c: number) => qkv[(b * T + t) * 3 * D + part * D + h * hd + c]!;
  const out = new Float64Array(B * T * D);
  const probs = new Float64Array(B * H * T * T);
  for (let b = 0; b < B; b++)
    for (let h = 0; h < H; h++)
      for (let t = 0; t < T; t++) {
        const logits = Array.from({ length: T }, (_, s) => {
          let dot = 0;
          for (let c = 0; c < hd; c++) dot += at(b, t, 0, h, c) * at(b, s, 1, h, c);
          return dot * scale;
        });
        const mx = Math.max(...logits);
        const e = logits.map((l) => Math.exp(l - mx));
        const z = e.reduce((a, v) => a + v, 0);
        for (let s = 0; s < T; s++) {
          const p = e[s]! / z;
          probs[((b * H + h) * T + t) * T + s] = p;
          for (let c = 0; c < hd; c++) out[(b * T + t) * D + h * hd + c] += p * at(b, s, 2, h, c);
        }
      }
  return { out, probs };
}
