/**
 * A 2-D PCA of the most recent embeddings across streams, for the dashboard's scatter plot.
 * Subspace (block power) iteration on the centred data, never forming the d x d covariance: each iteration is
 * 2 passes over n x d values (n ~ 300, d ~ 384: well under a millisecond), and warm-starting from the previous
 * components makes the usual refresh converge in a few iterations. Component signs are kept pointing the same way
 * as the previous update's, so the picture does not mirror itself between refreshes.
 */
export interface PcaResult {
  /** Stream ids; points refer to them by index. */
  streams: string[];
  /** Per point, oldest first: stream index and the two coordinates. */
  s: number[];
  x: number[];
  y: number[];
  /** Fraction of the total variance along each component. */
  explained: [number, number];
  n: number;
  dim: number;
  iterations: number;
}

export interface Pca2dOptions {
  /** Embeddings kept (ring buffer across all streams). */
  capacity?: number;
  maxIterations?: number;
  /** Stop when 1 - |cos(v_old, v_new)| is below this for both components. */
  tolerance?: number;
}

export class Pca2d {
  private readonly capacity: number;
  private readonly maxIter: number;
  private readonly tol: number;
  private readonly ring: { streamId: string; v: Float32Array }[] = [];
  private next = 0;
  private added = 0;
  private dim = 0;
  private components: [Float64Array, Float64Array] | undefined;

  constructor(o: Pca2dOptions = {}) {
    this.capacity = Math.max(3, o.capacity ?? 300);
    this.maxIter = o.maxIterations ?? 100;
    this.tol = o.tolerance ?? 1e-10;
  }

  /** Total embeddings ever added (lets a caller skip recomputing when nothing changed). */
  get version(): number {
    return this.added;
  }

  get size(): number {
    return this.ring.length;
  }

  /** Keeps a reference to `v`: published messages are treated as immutable. */
  add(streamId: string, v: Float32Array): void {
    if (v.length !== this.dim) {
      // A new model size: old points live in another space.
      this.ring.length = 0;
      this.next = 0;
      this.dim = v.length;
      this.components = undefined;
    }
    if (this.ring.length < this.capacity) this.ring.push({ streamId, v });
    else this.ring[this.next] = { streamId, v };
    this.next = (this.next + 1) % this.capacity;
    this.added++;
  }

  compute(): PcaResult | undefined {
    const n = this.ring.length;
    const d = this.dim;
    if (n < 3 || d < 2) return undefined;
    // Oldest first: once full, the ring's oldest entry sits at `next`.
    const order = this.ring.length < this.capacity ? this.ring : [...this.ring.slice(this.next), ...this.ring.slice(0, this.next)];
    const X = new Float64Array(n * d);
    const mean = new Float64Array(d);
    order.forEach((e, i) => {
      X.set(e.v, i * d);
      for (let j = 0; j < d; j++) mean[j]! += e.v[j]!;
    });
    for (let j = 0; j < d; j++) mean[j]! /= n;
    let total = 0;
    for (let i = 0; i < n; i++) {
      for (let j = 0; j < d; j++) {
        const c = X[i * d + j]! - mean[j]!;
        X[i * d + j] = c;
        total += c * c;
      }
    }

    const prev = this.components;
    let V: [Float64Array, Float64Array] = prev ? [prev[0].slice(), prev[1].slice()] : initialBasis(d);
    let iterations = 0;
    const u = new Float64Array(n);
    for (; iterations < this.maxIter; iterations++) {
      const W: [Float64Array, Float64Array] = [covTimes(X, n, d, V[0], u), covTimes(X, n, d, V[1], u)];
      orthonormalise(W, d);
      const done = 1 - Math.abs(dot(W[0], V[0])) < this.tol && 1 - Math.abs(dot(W[1], V[1])) < this.tol;
      V = W;
      if (done) {
        iterations++;
        break;
      }
    }
    for (let k = 0; k < 2; k++) {
      const v = V[k]!;
      // Same direction as last time; on the first update, make the largest coordinate positive.
      const flip = prev ? dot(v, prev[k]!) < 0 : v[argMaxAbs(v)]! < 0;
      if (flip) for (let j = 0; j < d; j++) v[j] = -v[j]!;
    }
    this.components = V;

    const index = new Map<string, number>();
    const res: PcaResult = { streams: [], s: [], x: [], y: [], explained: [0, 0], n, dim: d, iterations };
    let var0 = 0;
    let var1 = 0;
    for (let i = 0; i < n; i++) {
      const id = order[i]!.streamId;
      let si = index.get(id);
      if (si === undefined) {
        si = res.streams.length;
        index.set(id, si);
        res.streams.push(id);
      }
      let a = 0;
      let b = 0;
      for (let j = 0; j < d; j++) {
        a += X[i * d + j]! * V[0][j]!;
        b += X[i * d + j]! * V[1][j]!;
      }
      var0 += a * a;
      var1 += b * b;
      res.s.push(si);
      res.x.push(a);
      res.y.push(b);
    }
    res.explained = total > 0 ? [var0 / total, var1 / total] : [0, 0];
    return res;
  }

  /** The current unit components (copies), e.g. for tests. */
  basis(): [Float64Array, Float64Array] | undefined {
    return this.components && [this.components[0].slice(), this.components[1].slice()];
  }
}

function dot(a: Float64Array, b: Float64Array): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i]! * b[i]!;
  return s;
}

function argMaxAbs(v: Float64Array): number {
  let k = 0;
  for (let i = 1; i < v.length; i++) if (Math.abs(v[i]!) > Math.abs(v[k]!)) k = i;
  return k;
}

/** X^T (X v): the covariance times v, up to the 1/(n-1) factor that does not change directions. */
function covTimes(X: Float64Array, n: number, d: number, v: Float64Array, u: Float64Array): Float64Array {
  for (let i = 0; i < n; i++) {
    let s = 0;
    for (let j = 0; j < d; j++) s += X[i * d + j]! * v[j]!;
    u[i] = s;
  }
  const w = new Float64Array(d);
  for (let i = 0; i < n; i++) {
    const ui = u[i]!;
    if (ui === 0) continue;
    for (let j = 0; j < d; j++) w[j]! += ui * X[i * d + j]!;
  }
  return w;
}

/** Gram-Schmidt on two vectors; a vector that vanishes (rank-deficient data) is replaced by a fixed fallback. */
function orthonormalise(W: [Float64Array, Float64Array], d: number): void {
  for (let k = 0; k < 2; k++) {
    const w = W[k]!;
    for (let m = 0; m < k; m++) {
      const p = dot(w, W[m]!);
      for (let j = 0; j < d; j++) w[j]! -= p * W[m]![j]!;
    }
    let norm = Math.sqrt(dot(w, w));
    if (norm < 1e-12) {
      w.set(initialBasis(d)[k]!);
      for (let m = 0; m < k; m++) {
        const p = dot(w, W[m]!);
        for (let j = 0; j < d; j++) w[j]! -= p * W[m]![j]!;
      }
      norm = Math.sqrt(dot(w, w)) || 1;
    }
    for (let j = 0; j < d; j++) w[j]! /= norm;
  }
}

/** A deterministic, generic starting basis (not aligned with any axis, so no component starts orthogonal to it). */
function initialBasis(d: number): [Float64Array, Float64Array] {
  const a = new Float64Array(d);
  const b = new Float64Array(d);
  let s = 0x9e3779b9;
  const rnd = () => {
    s = (Math.imul(s ^ (s >>> 15), 0x2c1b3c6d) + 0x6d2b79f5) | 0;
    return ((s >>> 0) / 0x100000000) * 2 - 1;
  };
  for (let j = 0; j < d; j++) {
    a[j] = rnd();
    b[j] = rnd();
  }
  const W: [Float64Array, Float64Array] = [a, b];
  const na = Math.sqrt(dot(a, a));
  for (let j = 0; j < d; j++) a[j]! /= na;
  const p = dot(b, a);
  for (let j = 0; j < d; j++) b[j]! -= p * a[j]!;
  const nb = Math.sqrt(dot(b, b));
  for (let j = 0; j < d; j++) b[j]! /= nb;
  return W;
}
