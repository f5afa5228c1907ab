/**
 * Per-frame novelty for one stream: score = cosine distance from the embedding to its k-th nearest neighbour
 * in a bounded memory bank of recent embeddings of the same stream (k-th rather than 1st so that a few
 * near-duplicates, e.g. a frame seen twice, do not make an outlier look familiar).
 *
 * Calibration: the raw distance depends on the scene (a busy street spreads embeddings more than an empty
 * corridor), so the score is mapped through the empirical CDF of the last `calibrationWindow` scores
 * (mid-rank: fraction below plus half the ties). `threshold` 0.99 then means "above 99% of recent scores"
 * in every scene. Scores enter the window after use, novel or not, so a scene that stays new becomes the
 * new normal (the drift detectors are the ones that report a sustained change).
 *
 * Staleness policy (the teacher moves during training, so old embeddings live in a different space):
 * - every bank entry and every calibration score carries the teacher step (the training step of the teacher) it was
 *   computed with; `update(x, { teacherStep })` drops entries and scores whose step lags the current
 *   one by more than `maxTeacherStepLag`, so comparisons stay within a window of teacher steps;
 * - a caller that keeps the frames (pass them as `payload`, read them back with `bankPayloads()`) can instead
 *   re-embed them with the new teacher and call `rebuild()`, which replaces the bank and resets the
 *   calibration window (old scores are not comparable any more); with `calibrateFromBank` the window is
 *   refilled at once with the bank's leave-one-out scores (each entry's distance to its k-th nearest other
 *   entry): how far a familiar frame lies from the rest under the new teacher, so the detector stays warm;
 * - a teacher step lower than one already seen (a checkpoint was reloaded) resets bank and calibration.
 * While the bank holds fewer than k entries or the window fewer than `minCalibration` scores the detector
 * is warming up: it still returns scores but never flags novelty.
 *
 * The embedding is inserted after it is scored (never matched against itself). `score()` scores without
 * inserting, for evaluation.
 */
import { Random } from '../util/Random';
import { oldestSlot, reservoirSlot } from '../util/eviction';
import type { NoveltyEvent } from './DetectorEvent';
import { l2Normalized } from './vectorMath';

export type BankPolicy = 'fifo' | 'reservoir';

export interface NoveltyDetectorOptions {
  /** Which neighbour's distance is the score (default 5). */
  k?: number;
  /** Bank capacity in embeddings (default 1024). */
  capacity?: number;
  /** fifo keeps the most recent embeddings; reservoir a uniform sample of the stream so far (default fifo). */
  policy?: BankPolicy;
  /** Number of recent scores that define the CDF (default 512). */
  calibrationWindow?: number;
  /** Scores needed in the window before novelty can be flagged (default 64). */
  minCalibration?: number;
  /** Calibrated score at or above which a frame is novel (default 0.99). */
  threshold?: number;
  /** Entries computed more than this many teacher steps ago are dropped (default Infinity = never). */
  maxTeacherStepLag?: number;
  /** Seed for reservoir sampling. */
  seed?: number;
  streamId?: string;
}

export interface NoveltyUpdateOptions {
  /** Teacher step (the training step of the teacher) the embedding was computed with. */
  teacherStep?: number;
  /** Caller's timestamp for the event (default: the update index). */
  t?: number;
}

export interface NoveltyScore {
  /** Cosine distance to the k-th nearest neighbour, NaN while the bank holds fewer than k entries. */
  score: number;
  /** Empirical CDF of the score among recent scores, NaN while the window is empty. */
  calibrated: number;
}

export interface NoveltyResult extends NoveltyScore {
  isNovel: boolean;
  threshold: number;
  /**
   * When isNovel: the raw score at the threshold's percentile of the calibration window, so a caller can ask how far
   * above the scene's own tail of scores the frame lies (NoveltyEventRules' margin is a fraction of it).
   */
  thresholdScore?: number;
  /** False while warming up (bank < k or window < minCalibration). */
  warm: boolean;
  bankSize: number;
  /** Set when isNovel, ready to publish. */
  event?: NoveltyEvent;
}

export class NoveltyDetector<P = unknown> {
  readonly k: number;
  readonly capacity: number;
  readonly policy: BankPolicy;
  readonly calibrationWindow: number;
  readonly minCalibration: number;
  readonly threshold: number;
  readonly maxTeacherStepLag: number;
  readonly streamId?: string;

  private dim = 0;
  private bank = new Float32Array(0); // capacity x dim, rows 0..count-1 live (dense)
  private bankStep: Float64Array;
  private bankSeq: Float64Array; // insertion order, for FIFO replacement
  private bankPayload: (P | undefined)[] = [];
  private count = 0;
  private seq = 0;
  private seen = 0; // stream length seen by the reservoir
  private readonly rng: Random;

  // Calibration window: ring buffer in insertion order; teacher steps never decrease within it.
  private calScore: Float64Array;
  private calStep: Float64Array;
  private calHead = 0;
  private calCount = 0;

  private teacherStep = -Infinity;
  private updates = 0;

  constructor(opts: NoveltyDetectorOptions = {}) {
    this.k = opts.k ?? 5;
    this.capacity = opts.capacity ?? 1024;
    this.policy = opts.policy ?? 'fifo';
    this.calibrationWindow = opts.calibrationWindow ?? 512;
    this.minCalibration = opts.minCalibration ?? 64;
    this.threshold = opts.threshold ?? 0.99;
    this.maxTeacherStepLag = opts.maxTeacherStepLag ?? Infinity;
    this.streamId = opts.streamId;
    if (!(this.k >= 1) || !(this.capacity >= this.k)) throw new Error('NoveltyDetector: need 1 <= k <= capacity');
    if (!(this.calibrationWindow >= 1) || this.minCalibration > this.calibrationWindow) {
      throw new Error('NoveltyDetector: need 1 <= minCalibration <= calibrationWindow');
    }
    this.rng = new Random(opts.seed ?? 0x5eed);
    this.bankStep = new Float64Array(this.capacity);
    this.bankSeq = new Float64Array(this.capacity);
    this.calScore = new Float64Array(this.calibrationWindow);
    this.calStep = new Float64Array(this.calibrationWindow);
  }

  get bankSize(): number {
    return this.count;
  }

  get calibrationSize(): number {
    return this.calCount;
  }

  /** Scores, flags, then inserts the embedding into the bank and its score into the calibration window. */
  update(embedding: ArrayLike<number>, opts: NoveltyUpdateOptions & { payload?: P } = {}): NoveltyResult {
    const index = this.updates++;
    const v = this.advanceTeacher(opts.teacherStep);
    const x = this.prepare(embedding);
    const { score, calibrated } = this.scoreNormalized(x);
    const warm = this.count >= this.k && this.calCount >= this.minCalibration;
    const isNovel = warm && calibrated >= this.threshold;
    const result: NoveltyResult = { score, calibrated, isNovel, threshold: this.threshold, warm, bankSize: this.count };
    if (isNovel) {
      result.thresholdScore = this.quantile(this.threshold);
      result.event = {
        type: 'novelty',
        streamId: this.streamId,
        t: opts.t ?? index,
        score,
        calibrated,
        threshold: this.threshold,
        teacherStep: opts.teacherStep,
        index,
      };
    }
    if (!Number.isNaN(score)) this.pushScore(score, v);
    this.insert(x, v, opts.payload);
    return result;
  }

  /** Scores against the current bank and window without changing any state. */
  score(embedding: ArrayLike<number>): NoveltyScore {
    return this.scoreNormalized(this.prepare(embedding));
  }

  /**
   * Replaces the bank with embeddings the caller recomputed with the current teacher (keeps the last
   * `capacity`), and resets the calibration window: scores from the old teacher are not comparable.
   */
  rebuild(embeddings: ArrayLike<number>[], teacherStep: number, opts: { payloads?: (P | undefined)[]; calibrateFromBank?: boolean } = {}): void {
    if (opts.payloads && opts.payloads.length !== embeddings.length) {
      throw new Error(`rebuild: ${embeddings.length} embeddings but ${opts.payloads.length} payloads`);
    }
    this.clear();
    this.teacherStep = teacherStep;
    const start = Math.max(0, embeddings.length - this.capacity);
    for (let i = start; i < embeddings.length; i++) this.insert(this.prepare(embeddings[i]!), teacherStep, opts.payloads?.[i]);
    if (opts.calibrateFromBank) {
      const d = this.dim;
      for (let r = 0; r < this.count; r++) {
        const s = this.kthDistance(this.bank.subarray(r * d, r * d + d), r);
        if (!Number.isNaN(s)) this.pushScore(s, teacherStep);
      }
    }
  }

  /** The payloads stored with the bank entries, in bank order (undefined where none was given). */
  bankPayloads(): (P | undefined)[] {
    return this.bankPayload.slice(0, this.count);
  }

  /** Forgets everything (bank, calibration, teacher step). */
  reset(): void {
    this.clear();
    this.teacherStep = -Infinity;
  }

  private clear(): void {
    this.count = 0;
    this.bankPayload = [];
    this.seen = 0;
    this.calHead = 0;
    this.calCount = 0;
  }

  private advanceTeacher(v: number | undefined): number {
    if (v === undefined) return Number.isFinite(this.teacherStep) ? this.teacherStep : 0;
    if (v < this.teacherStep) this.reset(); // checkpoint reloaded: nothing in memory matches this teacher
    if (v !== this.teacherStep) {
      this.teacherStep = v;
      if (Number.isFinite(this.maxTeacherStepLag)) this.dropStale(v - this.maxTeacherStepLag);
    }
    return v;
  }

  /** Drops bank entries and calibration scores computed before teacher step `minStep`. */
  private dropStale(minStep: number): void {
    const d = this.dim;
    for (let i = 0; i < this.count; ) {
      if (this.bankStep[i]! < minStep) {
        const last = this.count - 1; // swap-remove keeps rows dense; order is kept by bankSeq
        if (i !== last) {
          this.bank.copyWithin(i * d, last * d, last * d + d);
          this.bankStep[i] = this.bankStep[last]!;
          this.bankSeq[i] = this.bankSeq[last]!;
          this.bankPayload[i] = this.bankPayload[last];
        }
        this.bankPayload[last] = undefined;
        this.count--;
      } else i++;
    }
    // The reservoir restarts from what is left so new embeddings refill it at once.
    this.seen = Math.min(this.seen, this.count);
    while (this.calCount > 0 && this.calStep[this.calHead]! < minStep) {
      this.calHead = (this.calHead + 1) % this.calibrationWindow;
      this.calCount--;
    }
  }

  private prepare(embedding: ArrayLike<number>): Float32Array {
    if (this.dim === 0) {
      if (embedding.length === 0) throw new Error('NoveltyDetector: empty embedding');
      this.dim = embedding.length;
      this.bank = new Float32Array(this.capacity * this.dim);
    } else if (embedding.length !== this.dim) {
      throw new Error(`NoveltyDetector: embedding dimension ${embedding.length}, expected ${this.dim}`);
    }
    return l2Normalized(embedding);
  }

  private scoreNormalized(x: Float32Array): NoveltyScore {
    const score = this.kthDistance(x);
    return { score, calibrated: Number.isNaN(score) ? NaN : this.cdf(score) };
  }

  /** Distance to the k-th nearest bank entry, skipping row `exclude` (leave-one-out for bank members). */
  private kthDistance(x: Float32Array, exclude = -1): number {
    const k = this.k;
    if (this.count - (exclude >= 0 ? 1 : 0) < k) return NaN;
    const d = this.dim;
    const bank = this.bank;
    // k smallest distances so far, ascending; k is small so insertion into a sorted array is cheapest.
    const best = new Float64Array(k).fill(Infinity);
    for (let r = 0; r < this.count; r++) {
      if (r === exclude) continue;
      const off = r * d;
      let s = 0;
      for (let j = 0; j < d; j++) s += x[j]! * bank[off + j]!;
      const dist = 1 - s;
      if (dist < best[k - 1]!) {
        let p = k - 1;
        while (p > 0 && best[p - 1]! > dist) {
          best[p] = best[p - 1]!;
          p--;
        }
        best[p] = dist;
      }
    }
    // Clamp float error: identical unit vectors can give 1 - dot slightly below 0.
    return Math.max(0, best[k - 1]!);
  }

  private cdf(score: number): number {
    if (this.calCount === 0) return NaN;
    let below = 0;
    let equal = 0;
    for (let i = 0; i < this.calCount; i++) {
      const s = this.calScore[(this.calHead + i) % this.calibrationWindow]!;
      if (s < score) below++;
      else if (s === score) equal++;
    }
    return (below + 0.5 * equal) / this.calCount;
  }

  /** The score at fraction p of the calibration window (nearest rank; NaN when empty). */
  quantile(p: number): number {
    if (this.calCount === 0) return NaN;
    const sorted = Float64Array.from({ length: this.calCount }, (_, i) => this.calScore[(this.calHead + i) % this.calibrationWindow]!).sort();
    return sorted[Math.min(this.calCount - 1, Math.max(0, Math.ceil(p * this.calCount) - 1))]!;
  }

  private pushScore(score: number, teacherStep: number): void {
    const w = this.calibrationWindow;
    if (this.calCount === w) {
      this.calHead = (this.calHead + 1) % w;
      this.calCount--;
    }
    const at = (this.calHead + this.calCount) % w;
    this.calScore[at] = score;
    this.calStep[at] = teacherStep;
    this.calCount++;
  }

  private insert(x: Float32Array, teacherStep: number, payload?: P): void {
    this.seen++;
    let slot: number;
    if (this.count < this.capacity) {
      slot = this.count++;
    } else if (this.policy === 'fifo') {
      slot = oldestSlot(this.count, (i) => this.bankSeq[i]!);
    } else {
      slot = reservoirSlot(this.rng, this.seen, this.capacity);
      if (slot < 0) return;
    }
    this.bank.set(x, slot * this.dim);
    this.bankStep[slot] = teacherStep;
    this.bankSeq[slot] = this.seq++;
    this.bankPayload[slot] = payload;
  }
}
