/**
 * Two-sample MMD test with a permutation p-value, as Alibi Detect's MMDDrift does it:
 * - Gaussian RBF kernel k(a, b) = exp(-|a - b|^2 / (2 sigma^2)), sigma by the median heuristic (sigma^2 = median
 *   of the squared distances / 2, as Alibi's `sigma_median`), over the pooled sample's pairs by default or over
 *   the x-y pairs only (`bandwidth: 'cross'`, what the drift detector uses), or a given sigma;
 * - MMD^2 is the UNBIASED estimate (within-sample sums exclude the diagonal, like Alibi's
 *   `mmd2_from_kernel_matrix` with zero_diag): 1/(n(n-1)) sum_xx + 1/(m(m-1)) sum_yy - 2/(nm) sum_xy,
 *   so it can be slightly negative under no drift; with the median heuristic two well-separated clusters
 *   give about 2 (1 - 1/e) = 1.26;
 * - the pooled kernel matrix is computed once per test; each permutation only reshuffles indices;
 * - p = (1 + #{permuted >= observed}) / (1 + nPermutations). Alibi uses the plain fraction; the +1 keeps
 *   the test valid (p never 0), so alpha must exceed 1 / (1 + nPermutations).
 */
import { Random } from '../util/Random';
import { squaredDistance } from './vectorMath';

export interface MMDTestResult {
  /** Unbiased MMD^2 of the observed split. */
  statistic: number;
  pValue: number;
  /** Kernel bandwidth used. */
  sigma: number;
}

export interface MMDTestOptions {
  nPermutations?: number;
  /** Seeded generator for the permutations (reproducible p-values). */
  rng?: Random;
  /**
   * Lower bound on the bandwidth, in the units of the samples (default 0: pure median heuristic). On a
   * near-static scene the median distance is sensor noise, and the heuristic blows noise up into a
   * full-size statistic; the floor says "distances below this are noise". For L2-normalised embeddings
   * |a - b|^2 = 2 (1 - cos), so sigma 0.2 damps differences below a cosine distance of ~0.02.
   */
  minSigma?: number;
  /**
   * Permute blocks of this many consecutive samples instead of single samples (default 1 = Alibi).
   * x and y must each be in time order. Keeps short-range dependence of consecutive frames under the
   * null; it cannot help against slow within-scene change (measured on video: it did not stop false
   * alarms, an effect-size floor on the statistic did).
   */
  blockSize?: number;
  /**
   * A fixed bandwidth instead of the median heuristic (minSigma still applies). Two statistics are only
   * comparable when computed with the same kernel: the drift detector scores the reference's own blocks with
   * the bandwidth of the test it compares them with.
   */
  sigma?: number;
  /**
   * Which squared distances the median heuristic takes the median of (default 'pooled': all pairs of x and y).
   * 'cross': only x-y pairs, as Alibi's MMDDrift does with configure_kernel_from_x_ref=False (its default fixes
   * sigma from the reference alone, which has the limitation below). With a large
   * reference the pooled median is mostly reference pairs, so it stays at the reference's own scale however
   * far the test sample moves; the cross median follows the separation.
   */
  bandwidth?: 'pooled' | 'cross';
  /** x's pairwise squared distances (n x n, from pairwiseSquaredDistances), when the caller keeps them across tests. */
  xDistances?: Float64Array;
}

export function mmdPermutationTest(x: ArrayLike<number>[], y: ArrayLike<number>[], opts: MMDTestOptions = {}): MMDTestResult {
  const n = x.length;
  const m = y.length;
  if (n < 2 || m < 2) throw new Error('mmdPermutationTest: each sample needs at least 2 points');
  const nPerm = opts.nPermutations ?? 100;
  const rng = opts.rng ?? new Random(0);
  const N = n + m;
  const d = x[0]!.length;

  // Pooled sample packed into one buffer so the distance loop runs over contiguous memory.
  const z = new Float32Array(N * d);
  for (let i = 0; i < N; i++) {
    const row = i < n ? x[i]! : y[i - n]!;
    if (row.length !== d) throw new Error(`mmdPermutationTest: dimension ${row.length}, expected ${d}`);
    z.set(row, i * d);
  }

  if (opts.xDistances && opts.xDistances.length !== n * n) {
    throw new Error(`mmdPermutationTest: xDistances holds ${opts.xDistances.length} values, expected ${n} x ${n}`);
  }
  const K = new Float64Array(N * N); // symmetric; first holds squared distances, then kernel values
  const cross = opts.bandwidth === 'cross';
  const upper = new Float64Array(cross ? n * m : (N * (N - 1)) / 2);
  let u = 0;
  for (let i = 0; i < N; i++) {
    for (let j = i + 1; j < N; j++) {
      const d2 = j < n && opts.xDistances ? opts.xDistances[i * n + j]! : squaredDistance(z, i * d, z, j * d, d);
      K[i * N + j] = d2;
      if (!cross || (i < n && j >= n)) upper[u++] = d2;
    }
  }
  let median: number;
  if (opts.sigma !== undefined) {
    median = 2 * opts.sigma * opts.sigma;
  } else {
    upper.sort();
    const half = upper.length >> 1;
    median = upper.length % 2 === 1 ? upper[half]! : 0.5 * (upper[half - 1]! + upper[half]!);
  }
  // All points identical: any bandwidth gives a constant kernel, MMD 0, p 1.
  const minSigma = opts.minSigma ?? 0;
  const twoSigma2 = Math.max(median, 2 * minSigma * minSigma) || 1;
  let total = 0; // sum of kernel values over all unordered pairs, fixed under permutation
  for (let i = 0; i < N; i++) {
    for (let j = i + 1; j < N; j++) {
      const kv = Math.exp(-K[i * N + j]! / twoSigma2);
      K[i * N + j] = kv;
      K[j * N + i] = kv;
      total += kv;
    }
  }

  // Blocks of consecutive indices, never straddling x and y; with blockSize 1 this is Alibi's permutation.
  const bs = Math.max(1, Math.floor(opts.blockSize ?? 1));
  const starts: number[] = [];
  const ends: number[] = [];
  for (let s = 0; s < n; s += bs) (starts.push(s), ends.push(Math.min(n, s + bs)));
  const nxBlocks = starts.length;
  for (let s = n; s < N; s += bs) (starts.push(s), ends.push(Math.min(N, s + bs)));

  // Only within-group sums are needed: the cross sum is total - within, which halves the work per permutation.
  const idx = new Int32Array(N);
  const stat = (order: Int32Array): number => {
    let nx = 0;
    for (let i = 0; i < nxBlocks; i++) for (let v = starts[order[i]!]!, e = ends[order[i]!]!; v < e; v++) idx[nx++] = v;
    let w = nx;
    for (let i = nxBlocks; i < order.length; i++) for (let v = starts[order[i]!]!, e = ends[order[i]!]!; v < e; v++) idx[w++] = v;
    const my = N - nx;
    if (nx < 2 || my < 2) return -Infinity; // only with ragged tiny blocks: such a split cannot be scored
    let sxx = 0;
    for (let a = 0; a < nx; a++) {
      const rowOff = idx[a]! * N;
      for (let b = a + 1; b < nx; b++) sxx += K[rowOff + idx[b]!]!;
    }
    let syy = 0;
    for (let a = nx; a < N; a++) {
      const rowOff = idx[a]! * N;
      for (let b = a + 1; b < N; b++) syy += K[rowOff + idx[b]!]!;
    }
    return (2 * sxx) / (nx * (nx - 1)) + (2 * syy) / (my * (my - 1)) - (2 * (total - sxx - syy)) / (nx * my);
  };

  const order = new Int32Array(starts.length);
  for (let i = 0; i < order.length; i++) order[i] = i;
  const observed = stat(order);
  let atLeast = 0;
  for (let p = 0; p < nPerm; p++) {
    // Fisher-Yates over blocks; costs O(N), negligible next to stat().
    for (let i = order.length - 1; i > 0; i--) {
      const j = rng.int(i + 1);
      const t = order[i]!;
      order[i] = order[j]!;
      order[j] = t;
    }
    if (stat(order) >= observed) atLeast++;
  }
  return { statistic: observed, pValue: (1 + atLeast) / (1 + nPerm), sigma: Math.sqrt(twoSigma2 / 2) };
}

/** All pairwise squared distances of x as an n x n matrix (the diagonal is 0). */
export function pairwiseSquaredDistances(x: readonly Float32Array[]): Float64Array {
  const n = x.length;
  const d = x[0]?.length ?? 0;
  const out = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    for (let j = i + 1; j < n; j++) {
      const d2 = squaredDistance(x[i]!, 0, x[j]!, 0, d);
      out[i * n + j] = d2;
      out[j * n + i] = d2;
    }
  }
  return out;
}

/**
 * The largest unbiased MMD^2 between a contiguous block (blockSize long, starts stepped by stride) of a sample
 * and the rest of it, with the RBF kernel of bandwidth sigma; from the sample's pairwise squared distances
 * (n x n), so that a detector can rescore its reference under a new bandwidth without recomputing them. Equals
 * max over blocks of mmdPermutationTest(rest, block, { sigma }).statistic.
 */
export function maxBlockStatistic(d2: Float64Array, n: number, blockSize: number, stride: number, sigma: number): number {
  const m = blockSize;
  const nx = n - m;
  if (m < 2 || nx < 2) throw new Error(`maxBlockStatistic: a block of ${m} and a rest of ${nx} both need >= 2 points`);
  const twoSigma2 = 2 * sigma * sigma || 1;
  const K = new Float64Array(n * n);
  const rowSum = new Float64Array(n);
  let total = 0; // over unordered pairs
  for (let i = 0; i < n; i++) {
    for (let j = i + 1; j < n; j++) {
      const kv = Math.exp(-d2[i * n + j]! / twoSigma2);
      K[i * n + j] = kv;
      K[j * n + i] = kv;
      rowSum[i] += kv;
      rowSum[j] += kv;
      total += kv;
    }
  }
  let worst = -Infinity;
  for (let start = 0; start + m <= n; start += Math.max(1, stride)) {
    let inBlock = 0; // unordered pairs inside the block
    let rows = 0;
    for (let i = start; i < start + m; i++) {
      rows += rowSum[i]!;
      for (let j = i + 1; j < start + m; j++) inBlock += K[i * n + j]!;
    }
    const crossSum = rows - 2 * inBlock;
    const restSum = total - inBlock - crossSum;
    worst = Math.max(worst, (2 * restSum) / (nx * (nx - 1)) + (2 * inBlock) / (m * (m - 1)) - (2 * crossSum) / (nx * m));
  }
  return worst;
}
