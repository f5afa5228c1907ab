/**
 * Weighted k-NN classifier as in the official DINO eval_knn.py: features L2-normalised, cosine similarity,
 * the top-k training neighbours vote for their class with weight exp(sim / T) (k = 20, T = 0.07), and the
 * classes are ranked by total vote for top-1 / top-5 accuracy.
 * Differences from the script, on purpose: test images are processed in chunks of whatever size fits (the script
 * splits the test set into 100 chunks and crashes below 100 images); k is capped at the bank size; top-5 is capped at
 * the number of classes and counts only classes that got a vote (the script's order among zero-vote
 * classes is arbitrary); equal votes rank the lower class index first (deterministic).
 */
import * as tf from '@tensorflow/tfjs';
import { l2Normalized } from '../detect/vectorMath';

export interface KnnOptions {
  k?: number;
  temperature?: number;
}

export interface KnnPrediction {
  /** Classes by decreasing vote (classes with no vote follow in index order). */
  ranking: number[];
  /** Vote per class. */
  votes: Float64Array;
}

export interface KnnAccuracy {
  top1: number;
  top5: number;
  n: number;
}

export class KnnClassifier {
  readonly k: number;
  readonly temperature: number;
  readonly numClasses: number;
  private readonly dim: number;
  private readonly bank: Float32Array; // n x dim, rows unit-norm
  private readonly labels: Int32Array;

  constructor(trainFeatures: ArrayLike<number>[], trainLabels: ArrayLike<number>, numClasses: number, opts: KnnOptions = {}) {
    this.k = opts.k ?? 20;
    this.temperature = opts.temperature ?? 0.07;
    this.numClasses = numClasses;
    const n = trainFeatures.length;
    if (n === 0) throw new Error('KnnClassifier: empty training set');
    if (trainLabels.length !== n) throw new Error(`KnnClassifier: ${n} features but ${trainLabels.length} labels`);
    this.dim = trainFeatures[0]!.length;
    this.bank = new Float32Array(n * this.dim);
    this.labels = new Int32Array(n);
    for (let i = 0; i < n; i++) {
      const f = trainFeatures[i]!;
      if (f.length !== this.dim) throw new Error(`KnnClassifier: feature ${i} has dimension ${f.length}, expected ${this.dim}`);
      const label = trainLabels[i]!;
      if (!Number.isInteger(label) || label < 0 || label >= numClasses) throw new Error(`KnnClassifier: bad label ${label}`);
      this.bank.set(l2Normalized(f), i * this.dim);
      this.labels[i] = label;
    }
  }

  get size(): number {
    return this.labels.length;
  }

  /** `exclude`: a bank row that may not vote (leave-one-out: the query is that row itself). */
  predict(feature: ArrayLike<number>, exclude = -1): KnnPrediction {
    if (feature.length !== this.dim) throw new Error(`KnnClassifier: dimension ${feature.length}, expected ${this.dim}`);
    const q = l2Normalized(feature);
    const n = this.labels.length;
    const d = this.dim;
    const sims = new Float32Array(n);
    for (let i = 0; i < n; i++) {
      let s = 0;
      const off = i * d;
      for (let j = 0; j < d; j++) s += q[j]! * this.bank[off + j]!;
      sims[i] = s;
    }
    return this.vote(sims, exclude);
  }

  /** The weighted vote of the top-k bank rows by similarity `sims` (one per bank row), `exclude` left out. */
  private vote(sims: Float32Array, exclude: number): KnnPrediction {
    const n = this.labels.length;
    const k = Math.min(this.k, exclude >= 0 && exclude < n ? n - 1 : n);
    if (k === 0) throw new Error('KnnClassifier: leave-one-out needs at least two bank images');
    // Top-k similarities, descending, by insertion: k is small next to the bank.
    const topSim = new Float64Array(k).fill(-Infinity);
    const topIdx = new Int32Array(k).fill(-1);
    for (let i = 0; i < n; i++) {
      if (i === exclude) continue;
      const s = sims[i]!;
      if (s > topSim[k - 1]!) {
        let p = k - 1;
        while (p > 0 && topSim[p - 1]! < s) {
          topSim[p] = topSim[p - 1]!;
          topIdx[p] = topIdx[p - 1]!;
          p--;
        }
        topSim[p] = s;
        topIdx[p] = i;
      }
    }
    const votes = new Float64Array(this.numClasses);
    for (let r = 0; r < k; r++) votes[this.labels[topIdx[r]!]!]! += Math.exp(topSim[r]! / this.temperature);
    const ranking = Array.from({ length: this.numClasses }, (_, c) => c).sort((a, b) => votes[b]! - votes[a]! || a - b);
    return { ranking, votes };
  }

  /**
   * Predictions for many queries at once: their similarities to the bank as one matrix product per chunk of
   * queries on the tfjs backend (a whole evaluation is n_test x n_bank x dim multiply-adds, minutes as a JS loop for
   * 3072-dimensional raw pixels), then the same vote as `predict`. `exclude(i)` is the bank row query i may not use.
   */
  async predictMany(queries: (i: number) => ArrayLike<number>, m: number, exclude: (i: number) => number = () => -1): Promise<KnnPrediction[]> {
    const n = this.labels.length;
    const d = this.dim;
    const chunk = Math.max(1, Math.min(m, Math.floor(2 ** 22 / n))); // ~16 MB of similarities per product
    const out: KnnPrediction[] = [];
    const bank = tf.tensor2d(this.bank, [n, d]);
    try {
      for (let start = 0; start < m; start += chunk) {
        const rows = Math.min(chunk, m - start);
        const q = new Float32Array(rows * d);
        for (let r = 0; r < rows; r++) {
          const f = queries(start + r);
          if (f.length !== d) throw new Error(`KnnClassifier: dimension ${f.length}, expected ${d}`);
          q.set(l2Normalized(f), r * d);
        }
        const product = tf.tidy(() => tf.matMul(tf.tensor2d(q, [rows, d]), bank, false, true));
        let sims: Float32Array;
        try {
          sims = (await product.data()) as Float32Array; // a GPU backend reads back only asynchronously
        } finally {
          product.dispose();
        }
        for (let r = 0; r < rows; r++) out.push(this.vote(sims.subarray(r * n, (r + 1) * n), exclude(start + r)));
      }
    } finally {
      bank.dispose();
    }
    return out;
  }

  /** Top-1 and top-5 accuracy (fractions in [0, 1]) over any number of test features, even one. */
  async evaluate(testFeatures: ArrayLike<number>[], testLabels: ArrayLike<number>): Promise<KnnAccuracy> {
    const n = testFeatures.length;
    if (testLabels.length !== n) throw new Error(`KnnClassifier: ${n} test features but ${testLabels.length} labels`);
    return this.score(await this.predictMany((i) => testFeatures[i]!, n), (i) => testLabels[i]!);
  }

  /**
   * Each bank image classified by the rest of the bank. Beside `evaluate` on a test set it shows how much of the
   * features' k-NN accuracy holds only for the images they were trained on (a gap raw pixels do not have).
   */
  async leaveOneOut(): Promise<KnnAccuracy> {
    const d = this.dim;
    const n = this.labels.length;
    const predictions = await this.predictMany((i) => this.bank.subarray(i * d, (i + 1) * d), n, (i) => i);
    return this.score(predictions, (i) => this.labels[i]!);
  }

  private score(predictions: KnnPrediction[], label: (i: number) => number): KnnAccuracy {
    const n = predictions.length;
    if (n === 0) return { top1: NaN, top5: NaN, n: 0 };
    const top = Math.min(5, this.numClasses);
    let c1 = 0;
    let c5 = 0;
    for (let i = 0; i < n; i++) {
      const { ranking, votes } = predictions[i]!;
      const y = label(i);
      if (ranking[0] === y) c1++;
      for (let r = 0; r < top; r++) if (ranking[r] === y && votes[y]! > 0) c5++;
    }
    return { top1: c1 / n, top5: c5 / n, n };
  }
}
