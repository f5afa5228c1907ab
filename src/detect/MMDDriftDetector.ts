/**
 * Drift per stream: a reference window of embeddings vs a sliding window of the most recent ones, compared
 * with the MMD permutation test in mmd.ts (unbiased MMD^2, RBF kernel, median-heuristic bandwidth).
 *
 * Life cycle:
 *   'reference'  the first `refSize` embeddings fill the reference;
 *   'monitoring' the next ones slide through the recent window; once it is full, a test runs every
 *                `testEvery` updates; p < alpha raises a drift event;
 *   after an event the detector re-baselines: both windows are emptied and the reference refills from
 *   post-drift data (the recent window that fired may still hold pre-drift frames, so it is not reused),
 *   then the recent window refills before testing resumes. The same change is thus never reported twice;
 *   `cooldown` adds a minimum number of updates between two events on top of that.
 *
 * Live video needs more than a p-value. Consecutive frames are not exchangeable, so two 10 s windows of
 * the same camera are almost always "significantly" different (people walk through, the light changes):
 * measured on vtest (static camera, pedestrians) with 8x8 thumbnails and windows of 50 frames at 5 fps,
 * the first test after every (re)baseline gave p = 1/(1+nPerm), with or without block permutations. What separates a scene change from that is its size, so an event
 * also needs `statistic >= minStatistic` (default 0: Alibi's pure test), and `minSigma` keeps the median
 * heuristic from turning sensor noise of a static scene into a large statistic. Calibrate both on the
 * real teacher embeddings; for 8x8 thumbnails minSigma 0.2 / minStatistic 0.15 worked (see the test).
 */
import { Random } from '../util/Random';
import type { DriftEvent } from './DetectorEvent';
import { maxBlockStatistic, mmdPermutationTest, pairwiseSquaredDistances } from './mmd';

export interface MMDDriftOptions {
  /** Reference window size (default 100). */
  refSize?: number;
  /** Recent window size (default refSize). */
  recentSize?: number;
  /** Updates between two tests once both windows are full (default 10). */
  testEvery?: number;
  /** Drift when p < alpha (default 0.01). */
  alpha?: number;
  /** Permutations per test (default 100). */
  nPermutations?: number;
  /** Effect-size floor: an event needs MMD^2 >= this as well as p < alpha (default 0). */
  minStatistic?: number;
  /** Bandwidth floor, see mmd.ts (default 0). */
  minSigma?: number;
  /** Permute blocks of this many consecutive samples (default 1, Alibi's i.i.d. permutation); see mmd.ts. */
  blockSize?: number;
  /** Minimum updates between two events, on top of re-baselining (default 0). */
  cooldown?: number;
  /**
   * Scene-relative effect size (default false). When on, an event also needs the statistic to reach `margin`
   * times the reference's own change over time: the largest MMD^2 between a contiguous block of the reference
   * (recentSize long, stepped by recentSize/2) and the rest of the reference. That is the statistic a window of
   * the same length reaches without any drift in this scene, so busy scenes (people walking) need a larger
   * change than static ones. It is computed with the kernel bandwidth of the test it is compared with: the
   * median heuristic widens the kernel when the recent window moves far away, which shrinks every MMD^2, and a
   * block statistic taken at the reference's own (narrower) bandwidth would then hide a real switch (measured:
   * tree -> vtest was missed that way). Needs refSize >= 2 * recentSize.
   */
  withinReference?: boolean;
  /** Factor over the reference's own block statistic (default 2). */
  margin?: number;
  /** The median heuristic's distances: 'pooled' (default) or 'cross' (reference-recent pairs only); see mmd.ts. */
  bandwidth?: 'pooled' | 'cross';
  seed?: number;
  streamId?: string;
}

export type MMDDriftState = 'reference' | 'monitoring';

export interface MMDDriftResult<P = unknown> {
  state: MMDDriftState;
  tested: boolean;
  drift: boolean;
  statistic?: number;
  pValue?: number;
  /** The reference's own block statistic (withinReference), the scale a drift must exceed by `margin`. */
  withinStatistic?: number;
  event?: DriftEvent;
  /**
   * With an event: the payloads on either side of the change, taken before the windows are emptied. `before` is
   * the newest reference payload (the old scene), `after` this update's (the new one).
   */
  payloads?: { before?: P; after?: P };
}

/**
 * P: an optional payload stored with each windowed embedding (the agent stores the frame), so that the windows
 * can be re-embedded when the teacher moves (windowPayloads + replaceEmbeddings) instead of comparing embeddings
 * of two different teachers.
 */
export class MMDDriftDetector<P = unknown> {
  readonly refSize: number;
  readonly recentSize: number;
  readonly testEvery: number;
  readonly alpha: number;
  readonly nPermutations: number;
  readonly cooldown: number;
  readonly blockSize: number;
  readonly minStatistic: number;
  readonly minSigma: number;
  readonly withinReference: boolean;
  readonly margin: number;
  readonly bandwidth: 'pooled' | 'cross';
  readonly streamId?: string;
  /** Pairwise squared distances of the reference, kept until it changes (every test and block statistic reuses them). */
  private refD2: Float64Array | undefined;

  private ref: Float32Array[] = [];
  private recent: Float32Array[] = [];
  private refPayload: (P | undefined)[] = [];
  private recentPayload: (P | undefined)[] = [];
  private sinceFull = 0;
  private updates = 0;
  private lastEventIndex = -Infinity;
  private readonly rng: Random;

  constructor(opts: MMDDriftOptions = {}) {
    this.refSize = opts.refSize ?? 100;
    this.recentSize = opts.recentSize ?? this.refSize;
    this.testEvery = opts.testEvery ?? 10;
    this.alpha = opts.alpha ?? 0.01;
    this.nPermutations = opts.nPermutations ?? 100;
    this.cooldown = opts.cooldown ?? 0;
    this.blockSize = opts.blockSize ?? 1;
    this.minStatistic = opts.minStatistic ?? 0;
    this.minSigma = opts.minSigma ?? 0;
    this.streamId = opts.streamId;
    this.withinReference = opts.withinReference ?? false;
    this.margin = opts.margin ?? 2;
    this.bandwidth = opts.bandwidth ?? 'pooled';
    if (this.refSize < 2 || this.recentSize < 2) throw new Error('MMDDriftDetector: windows need >= 2 samples');
    if (this.withinReference && this.refSize < 2 * this.recentSize) {
      throw new Error(`MMDDriftDetector: withinReference needs refSize (${this.refSize}) >= 2 * recentSize (${this.recentSize})`);
    }
    if (this.alpha <= 1 / (1 + this.nPermutations)) {
      // The smallest attainable p-value is 1/(1+nPermutations): such an alpha could never fire.
      throw new Error(`MMDDriftDetector: alpha ${this.alpha} needs more than ${Math.ceil(1 / this.alpha)} permutations`);
    }
    this.rng = new Random(opts.seed ?? 0xd71f7);
  }

  get state(): MMDDriftState {
    return this.ref.length < this.refSize ? 'reference' : 'monitoring';
  }

  update(embedding: ArrayLike<number>, opts: { t?: number; payload?: P } = {}): MMDDriftResult<P> {
    const index = this.updates++;
    const x = Float32Array.from(embedding);
    if (this.ref.length < this.refSize) {
      this.ref.push(x);
      this.refPayload.push(opts.payload);
      return { state: 'reference', tested: false, drift: false };
    }
    this.recent.push(x);
    this.recentPayload.push(opts.payload);
    if (this.recent.length > this.recentSize) {
      this.recent.shift();
      this.recentPayload.shift();
    }
    if (this.recent.length < this.recentSize) return { state: 'monitoring', tested: false, drift: false };
    if (this.sinceFull++ % this.testEvery !== 0) return { state: 'monitoring', tested: false, drift: false };

    const { statistic, pValue, sigma } = mmdPermutationTest(this.ref, this.recent, {
      xDistances: this.referenceDistances(),
      nPermutations: this.nPermutations,
      blockSize: this.blockSize,
      minSigma: this.minSigma,
      rng: this.rng,
      bandwidth: this.bandwidth,
    });
    const within = this.withinReference ? this.withinStatistic(sigma) : undefined;
    const drift =
      pValue < this.alpha &&
      statistic >= this.minStatistic &&
      (within === undefined || statistic >= this.margin * within) &&
      index - this.lastEventIndex > this.cooldown;
    const result: MMDDriftResult<P> = { state: 'monitoring', tested: true, drift, statistic, pValue, withinStatistic: within };
    if (drift) {
      result.payloads = { before: this.refPayload[this.refPayload.length - 1], after: opts.payload };
      result.event = {
        type: 'drift',
        method: 'mmd',
        streamId: this.streamId,
        t: opts.t ?? index,
        statistic,
        pValue,
        threshold: this.alpha,
        refSize: this.ref.length,
        recentSize: this.recent.length,
        withinStatistic: within,
        index,
      };
      this.lastEventIndex = index;
      this.rebaseline();
    }
    return result;
  }

  /** The reference's pairwise squared distances, computed once per reference. */
  private referenceDistances(): Float64Array {
    return (this.refD2 ??= pairwiseSquaredDistances(this.ref));
  }

  /** Largest MMD^2 of a recentSize block of the reference against the rest of it, with bandwidth sigma. */
  private withinStatistic(sigma: number): number {
    const m = this.recentSize;
    return Math.max(0, maxBlockStatistic(this.referenceDistances(), this.ref.length, m, Math.max(1, Math.floor(m / 2)), sigma));
  }

  /** Empties both windows: the next refSize embeddings become the reference. */
  rebaseline(): void {
    this.refD2 = undefined;
    this.ref = [];
    this.recent = [];
    this.refPayload = [];
    this.recentPayload = [];
    this.sinceFull = 0;
  }

  /** The payloads stored with the current windows (undefined where none was given). */
  windowPayloads(): { ref: (P | undefined)[]; recent: (P | undefined)[] } {
    return { ref: this.refPayload.slice(), recent: this.recentPayload.slice() };
  }

  /** Swap in new embeddings for the current windows (same sizes), e.g. the same frames under a newer teacher. */
  replaceEmbeddings(ref: ArrayLike<number>[], recent: ArrayLike<number>[]): void {
    if (ref.length !== this.ref.length || recent.length !== this.recent.length) {
      throw new Error(`replaceEmbeddings: windows hold ${this.ref.length}+${this.recent.length} embeddings, got ${ref.length}+${recent.length}`);
    }
    this.ref = ref.map((e) => Float32Array.from(e));
    this.recent = recent.map((e) => Float32Array.from(e));
    this.refD2 = undefined; // a new embedding space: measure the reference's distances again
  }

  /** Forgets everything, including the cooldown. */
  reset(): void {
    this.rebaseline();
    this.updates = 0;
    this.lastEventIndex = -Infinity;
  }
}
